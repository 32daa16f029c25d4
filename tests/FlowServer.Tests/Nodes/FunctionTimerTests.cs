using FlowServer.Nodes.Sdk;
using FlowServer.Testing;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Nodes;

/// <summary>setTimeout/setInterval in the function node, as Node-RED offers them.</summary>
public sealed class FunctionTimerTests
{
    static Task<FlowTestHarness> StartAsync(string func) => FlowTestHarness.StartAsync(Flow(
        new { id = "fn", type = "function", name = "Timers", func, outputs = 1, wires = new[] { new[] { "out" } } },
        new { id = "out", type = "test-capture" },
        new { id = "catcher", type = "catch", wires = new[] { new[] { "caught" } } },
        new { id = "caught", type = "test-capture" }));

    [Fact]
    public async Task SetTimeout_sends_later_with_its_arguments_and_clearTimeout_cancels()
    {
        await using var flow = await StartAsync("""
            const keep = setTimeout(function (m, suffix) { m.payload = m.payload + suffix; node.send(m); }, 50, msg, '-later');
            const drop = setTimeout(function () { node.send({ payload: 'never' }); }, 50);
            clearTimeout(drop);
            return null;
            """);
        var started = DateTime.UtcNow;
        await flow.SendAsync("fn", "reading");
        var output = await flow.NextAsync("out");
        Assert.Equal("reading-later", output.Payload);
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromMilliseconds(40));
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(300)));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task SetInterval_repeats_until_cleared_and_keeps_state_across_runs()
    {
        await using var flow = await StartAsync("""
            let n = 0;
            const timer = setInterval(function () {
                n++;
                node.send({ payload: n });
                if (n === 3) clearInterval(timer);
            }, 20);
            return null;
            """);
        await flow.SendAsync("fn", "go");
        var ticks = await flow.Capture("out").TakeAsync(3);
        Assert.Equal([1.0, 2.0, 3.0], ticks.Select(m => m.Payload));
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(200)));
    }

    [Fact]
    public async Task A_throwing_callback_reports_an_error_and_a_redeploy_clears_the_old_timers()
    {
        const string ticking = """
            setTimeout(function () { throw new Error('late failure'); }, 10);
            setInterval(function () { node.send({ payload: 'tick' }); }, 30);
            return null;
            """;
        await using var flow = await StartAsync(ticking);
        await flow.SendAsync("fn", "go");
        var error = await flow.WaitForErrorAsync("late failure");
        Assert.Contains("late failure", error);
        var capture = flow.Capture("out");
        Assert.Equal("tick", (await capture.NextAsync()).Payload);

        // Redeploy only the function node: the old instance stops, the capture node keeps running.
        await flow.DeployAsync(Flow(
            new { id = "fn", type = "function", name = "Timers", func = "return msg;", outputs = 1, wires = new[] { new[] { "out" } } },
            new { id = "out", type = "test-capture" },
            new { id = "catcher", type = "catch", wires = new[] { new[] { "caught" } } },
            new { id = "caught", type = "test-capture" }), FlowServer.Runtime.DeploymentType.Nodes);
        Assert.Same(capture, flow.Capture("out"));
        while (capture.Pending > 0) await capture.NextAsync(); // ticks sent before the stop
        Assert.True(await capture.StaysEmptyAsync(TimeSpan.FromMilliseconds(300)), "the old interval still ticks after the redeploy");
    }
}
