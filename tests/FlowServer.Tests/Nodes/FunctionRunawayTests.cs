using System.Diagnostics;
using FlowServer.Nodes.Function;
using FlowServer.Testing;
using FlowServer.Testing.Fixtures;
using FlowServer.Tests.Mqtt;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Nodes;

/// <summary>
/// A runaway script in a function fed by mqtt in runs on the mqtt in's thread (inline); the
/// default time limit bounds how long it holds that sender, and the rest of the server runs on.
/// </summary>
[Collection(RunsAlone.Name)]
public sealed class FunctionRunawayTests
{
    [Fact]
    public async Task A_runaway_loop_fed_inline_by_mqtt_in_holds_its_sender_no_longer_than_the_default_limit_and_other_flows_keep_running()
    {
        await using var mosquitto = await MosquittoFixture.StartNewAsync();
        await using var flow = await StartAsync(Flow(
            MqttNodeTests.Broker(mosquitto.Port, id: "b1"),
            MqttNodeTests.Broker(mosquitto.Port, id: "b2"),
            new { id = "in", type = "mqtt in", topic = "line/runaway", qos = "1", datatype = "utf8", broker = "b1", wires = new[] { new[] { "fn" } } },
            new { id = "fn", type = "function", name = "Runaway", func = "if (msg.payload === 'loop') { while (true) {} } return msg;", outputs = 1, timeout = 0, wires = new[] { new[] { "out" } } },
            new { id = "out", type = "test-capture" },
            new { id = "other-in", type = "mqtt in", topic = "line/other", qos = "1", datatype = "utf8", broker = "b2", wires = new[] { new[] { "other" } } },
            new { id = "other", type = "test-capture" },
            new { id = "tick", type = "inject", repeat = 0.1, wires = new[] { new[] { "ticks" } } },
            new { id = "ticks", type = "test-capture" }));
        await MqttNodeTests.WaitForStatusAsync(flow, "in", "connected");
        await MqttNodeTests.WaitForStatusAsync(flow, "other-in", "connected");
        await using var publisher = await MqttTestClient.ConnectAsync(mosquitto.Port);

        var watch = Stopwatch.StartNew();
        await publisher.PublishAsync("line/runaway", "loop");
        await publisher.PublishAsync("line/runaway", "after");
        await Task.Delay(500); // the loop is running now
        var ticksBefore = flow.Capture("ticks").Pending;
        // No fixed pauses here: on a loaded 2-core run they once pushed these checks past the
        // loop's end (the "after" message was already out), so each step only takes as long as it must.
        for (var i = 0; i < 5; i++) await publisher.PublishAsync("line/other", $"m{i}");
        // While the script loops: another flow's mqtt in delivers, the inject keeps ticking.
        Assert.Equal(["m0", "m1", "m2", "m3", "m4"], (await flow.Capture("other").TakeAsync(5, TimeSpan.FromSeconds(3))).Select(m => m.Payload));
        var tickWait = Stopwatch.StartNew();
        while (flow.Capture("ticks").Pending - ticksBefore < 5 && tickWait.Elapsed < TimeSpan.FromSeconds(3)) await Task.Delay(20);
        var outDuringLoop = flow.Capture("out").Pending;
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(FunctionOptions.DefaultTimeoutSeconds), $"the test was too slow to check during the loop ({watch.Elapsed.TotalSeconds:0.0} s)");
        Assert.True(flow.Capture("ticks").Pending - ticksBefore >= 5, "the inject stopped ticking while the script looped");
        Assert.Equal(0, outDuringLoop);

        // The loop ends at the default limit; the message after it (held until then) goes through.
        var error = await flow.WaitForErrorAsync("timed out", TimeSpan.FromSeconds(15));
        Assert.Contains($"after {FunctionOptions.DefaultTimeoutSeconds * 1000:0} ms", error);
        Assert.Equal("after", (await flow.NextAsync("out", TimeSpan.FromSeconds(5))).Payload);
        var held = watch.Elapsed;
        Assert.True(held < TimeSpan.FromSeconds(FunctionOptions.DefaultTimeoutSeconds + 3), $"the sender was held {held.TotalSeconds:0.0} s");
        Assert.True(held >= TimeSpan.FromSeconds(FunctionOptions.DefaultTimeoutSeconds - 0.5), $"the loop stopped after only {held.TotalSeconds:0.0} s");
    }

    [Fact]
    public async Task Runaway_scripts_on_more_threads_than_the_pool_runs_at_once_do_not_stall_timers_or_each_others_time_limit()
    {
        // Every looping script holds a pool thread, and with the CPU saturated by the loops the pool
        // hardly adds threads on its own (16 such loops here ran two at a time, 18.6 s in all), so
        // queued work waited for whole time limits. Loops past 50 ms get the pool more threads:
        // the inject ticks on, and every loop runs (and ends at its limit) at the same time.
        const double limit = 2;
        var loops = Math.Min(4 * Environment.ProcessorCount, 16);
        var nodes = new List<object>
        {
            new { id = "tick", type = "inject", repeat = 0.1, wires = new[] { new[] { "ticks" } } },
            new { id = "ticks", type = "test-capture" },
            new { id = "caught", type = "catch", scope = (string[]?)null, wires = new[] { new[] { "errors" } } },
            new { id = "errors", type = "test-capture" },
        };
        for (var i = 0; i < loops; i++)
        {
            nodes.Add(new { id = $"start{i}", type = "inject", once = true, onceDelay = 0.2, wires = new[] { new[] { $"loop{i}" } } });
            nodes.Add(new { id = $"loop{i}", type = "function", func = "while (true) {}", outputs = 1, timeout = limit, wires = Array.Empty<string[]>() });
        }
        var watch = Stopwatch.StartNew();
        // Started off xunit's synchronization context, so the nodes run on the thread pool as in the server.
        await using var flow = await Task.Run(() => StartAsync(Flow([.. nodes])));
        await Task.Delay(TimeSpan.FromSeconds(0.6)); // the loops run now
        var ticksBefore = flow.Capture("ticks").Pending;
        await Task.Delay(TimeSpan.FromSeconds(1));
        var ticked = flow.Capture("ticks").Pending - ticksBefore;
        Assert.True(ticked >= 5, $"the inject ticked {ticked} times in 1 s while {loops} scripts looped");

        var errors = await flow.Capture("errors").TakeAsync(loops, TimeSpan.FromSeconds(limit + 10));
        var ended = watch.Elapsed;
        Assert.All(errors, e => Assert.Contains("timed out", (string?)Assert.IsType<Dictionary<string, object?>>(e.Properties["error"])["message"]));
        Assert.True(ended < TimeSpan.FromSeconds(limit + 3), $"{loops} scripts with a {limit} s limit took {ended.TotalSeconds:0.0} s to end");
    }
}
