using System.Diagnostics;
using FlowServer.Nodes.Sdk;
using FlowServer.Testing;
using Microsoft.Extensions.Logging;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Nodes;

/// <summary>
/// The function node's asynchronous side and its API beyond send/return: awaiting timers,
/// promise callbacks, node.done() with complete nodes, logging, context stores, limits.
/// </summary>
[Collection(RunsAlone.Name)] // its memory bomb allocates 512 MB as fast as it can
public sealed class FunctionAsyncTests
{
    static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    static Task<FlowTestHarness> StartAsync(string func, double timeout = 0, int outputs = 1, ILoggerFactory? loggers = null) => FlowTestHarness.StartAsync(Flow(
        new { id = "fn", type = "function", name = "Async", func, outputs, timeout, wires = Enumerable.Range(0, outputs).Select(i => new[] { $"out{i}" }).ToArray() },
        new { id = "out0", type = "test-capture" },
        new { id = "out1", type = "test-capture" },
        new { id = "cmp", type = "complete", scope = new[] { "fn" }, uncaught = false, wires = new[] { new[] { "completed" } } },
        new { id = "completed", type = "test-capture" },
        new { id = "catcher", type = "catch", scope = new[] { "fn" }, uncaught = false, wires = new[] { new[] { "caught" } } },
        new { id = "caught", type = "test-capture" }), loggers: loggers);

    [Fact]
    public async Task Awaiting_a_timer_promise_resumes_the_run_and_messages_stay_in_order()
    {
        await using var flow = await StartAsync("""
            await new Promise(resolve => setTimeout(resolve, msg.payload === 'slow' ? 150 : 10));
            msg.payload = msg.payload + ' after wait';
            return msg;
            """);
        var watch = Stopwatch.StartNew();
        var slow = FlowMessage.WithPayload("slow");
        await flow.SendAsync("fn", slow);
        await flow.SendAsync("fn", "fast");

        var first = await flow.NextAsync("out0", Patience);
        Assert.Equal("slow after wait", first.Payload);
        Assert.Equal(slow.MessageId, first.MessageId);
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(140), $"resumed after {watch.ElapsedMilliseconds} ms");
        Assert.Equal("fast after wait", (await flow.NextAsync("out0", Patience)).Payload);
        // The complete node fires once each run has finished, in order.
        Assert.Equal(["slow", "fast"], (await flow.Capture("completed").TakeAsync(2, Patience)).Select(m => m.Payload));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Node_send_works_from_a_promise_callback_without_await()
    {
        await using var flow = await StartAsync("""
            Promise.resolve(msg.payload).then(v => node.send({ payload: 'then ' + v }));
            new Promise(resolve => setTimeout(() => resolve(msg.payload), 20)).then(v => node.send({ payload: 'timer then ' + v }));
            return null;
            """);
        var input = FlowMessage.WithPayload("x");
        await flow.SendAsync("fn", input);
        var soon = await flow.NextAsync("out0", Patience);
        Assert.Equal("then x", soon.Payload);
        Assert.Equal(input.MessageId, soon.MessageId);
        var later = await flow.NextAsync("out0", Patience);
        Assert.Equal("timer then x", later.Payload);
        Assert.Equal(input.MessageId, later.MessageId);
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task When_the_code_calls_node_done_the_complete_node_waits_for_it()
    {
        await using var flow = await StartAsync("""
            setTimeout(() => { msg.payload = 'sent later'; node.send(msg); node.done(); }, 200);
            return null;
            """);
        var watch = Stopwatch.StartNew();
        await flow.SendAsync("fn", "go");
        var completed = await flow.NextAsync("completed", Patience);
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(190), $"complete fired after {watch.ElapsedMilliseconds} ms, before node.done()");
        Assert.Equal(1, flow.Capture("out0").Pending); // the message sent before node.done() went out first
        Assert.Equal("sent later", (await flow.NextAsync("out0")).Payload);
        Assert.Equal("go", completed.Payload); // the message as it came in
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Node_done_in_a_comment_does_not_count_and_node_done_with_an_error_fails_the_message()
    {
        await using (var commented = await StartAsync("// node.done() is called by the runtime\nreturn msg;"))
        {
            await commented.SendAsync("fn", "plain");
            Assert.Equal("plain", (await commented.NextAsync("completed", Patience)).Payload);
            commented.AssertNoErrors();
        }

        await using var failing = await StartAsync("if (msg.payload === 'bad') { node.done('bad input'); return; } node.send(msg); node.done();");
        await failing.SendAsync("fn", "bad");
        await failing.SendAsync("fn", "good");
        Assert.Equal("bad", (await failing.NextAsync("caught", Patience)).Payload);
        Assert.Contains("bad input", await failing.WaitForErrorAsync("bad input"));
        Assert.Equal("good", (await failing.NextAsync("completed", Patience)).Payload);
        Assert.True(await failing.Capture("completed").StaysEmptyAsync(TimeSpan.FromMilliseconds(200)));
    }

    [Fact]
    public async Task A_run_that_never_calls_node_done_fails_at_its_time_limit_and_the_next_message_runs()
    {
        await using var flow = await StartAsync("if (msg.payload === 'forget') return msg; node.done(); return msg;", timeout: 0.3);
        await flow.SendAsync("fn", "forget");
        await flow.SendAsync("fn", "next");
        Assert.Contains("node.done() was not called", await flow.WaitForErrorAsync("did not finish within 300 ms"));
        Assert.Equal("forget", (await flow.NextAsync("caught", Patience)).Payload);
        Assert.Equal("next", (await flow.NextAsync("completed", Patience)).Payload);
    }

    [Fact]
    public async Task A_rejected_await_goes_to_catch_with_the_message()
    {
        await using var flow = await StartAsync("""
            await new Promise(resolve => setTimeout(resolve, 20));
            throw new Error('failed after waiting');
            """);
        await flow.SendAsync("fn", "m");
        Assert.Equal("m", (await flow.NextAsync("caught", Patience)).Payload);
        Assert.Contains("failed after waiting", await flow.WaitForErrorAsync("failed after waiting"));
        Assert.True(await flow.Capture("completed").StaysEmptyAsync(TimeSpan.FromMilliseconds(100)));
    }

    [Fact]
    public async Task A_memory_bomb_is_a_node_error_and_the_next_message_runs()
    {
        await using var flow = await StartAsync("if (msg.payload === 'bomb') { const hoard = []; while (true) hoard.push(new Array(100000).fill(msg.payload)); } return msg;", timeout: 30);
        var watch = Stopwatch.StartNew();
        await flow.SendAsync("fn", "bomb");
        await flow.SendAsync("fn", "next");
        var error = await flow.WaitForErrorAsync("MB", TimeSpan.FromSeconds(30));
        Assert.Contains("more than 512 MB", error);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(25), "the memory limit, not the time limit, stopped the script");
        Assert.Equal("next", (await flow.NextAsync("out0", Patience)).Payload);
    }

    [Fact]
    public async Task Node_warn_log_and_name_context_store_names_and_clone_message()
    {
        var logs = new ListLoggerProvider();
        using var loggers = LoggerFactory.Create(builder => builder.AddProvider(logs));
        await using var flow = await StartAsync("""
            node.warn('careful ' + msg.payload);
            node.log('noted ' + msg.payload);
            context.set('k', 1, 'file');
            flow.set('f', 2, 'memory');
            global.set(['g1', 'g2'], [3, 4], 'memory');
            const copy = RED.util.cloneMessage(msg);
            copy.payload.deep.value = 'changed';
            copy.topic = 'copy';
            msg.payload.seen = [node.name, context.get('k', 'file'), flow.get('f', 'memory'), global.get(['g1', 'g2'], 'memory'), context.keys('file')];
            return [msg, copy];
            """, outputs: 2, loggers: loggers);
        var input = FlowMessage.WithPayload(new Dictionary<string, object?> { ["deep"] = new Dictionary<string, object?> { ["value"] = "original" } }, "t");
        await flow.SendAsync("fn", input);

        var original = await flow.NextAsync("out0", Patience);
        var copy = await flow.NextAsync("out1", Patience);
        var payload = Assert.IsType<Dictionary<string, object?>>(original.Payload);
        Assert.Equal("original", ((Dictionary<string, object?>)payload["deep"]!)["value"]);
        Assert.Equal("t", original.Topic);
        Assert.Equal("changed", ((Dictionary<string, object?>)((Dictionary<string, object?>)copy.Payload!)["deep"]!)["value"]);
        Assert.Equal("copy", copy.Topic);
        Assert.Equal(new List<object?> { "Async", 1.0, 2.0, new List<object?> { 3.0, 4.0 }, new List<object?> { "k" } }, payload["seen"]);

        // node.warn goes to the debug stream as a warning, node.log only to the server log.
        var warning = await WaitForAsync(() => flow.Events.Select(e => e.Data).OfType<Dictionary<string, object?>>()
            .FirstOrDefault(d => d.GetValueOrDefault("level") as string == "warn" && d.GetValueOrDefault("id") as string == "fn"));
        Assert.Contains("careful", (string)warning["msg"]!);
        Assert.Contains(logs.Entries, e => e.Level == LogLevel.Warning && e.Text.Contains("careful", StringComparison.Ordinal));
        Assert.Contains(logs.Entries, e => e.Level == LogLevel.Information && e.Text.Contains("noted", StringComparison.Ordinal) && e.Text.Contains("Async", StringComparison.Ordinal));
        Assert.DoesNotContain(flow.Events.Select(e => e.Data).OfType<Dictionary<string, object?>>(), d => (d.GetValueOrDefault("msg") as string)?.Contains("noted") == true);
        flow.AssertNoErrors();
    }

    static async Task<T> WaitForAsync<T>(Func<T?> probe) where T : class
    {
        var until = DateTime.UtcNow + Patience;
        while (DateTime.UtcNow < until)
        {
            if (probe() is { } found) return found;
            await Task.Delay(20);
        }
        throw new TimeoutException("the expected event did not come");
    }
}
