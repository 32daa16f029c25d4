using System.Diagnostics;
using FlowServer.Nodes.Sdk;
using FlowServer.Testing;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Nodes;

public sealed class TriggerNodeTests
{
    static Task<FlowTestHarness> StartTriggerAsync(object options, int outputs = 1)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(options))!.AsObject();
        node["id"] = "tr";
        node["type"] = "trigger";
        node["name"] = "Trig";
        node["outputs"] = outputs;
        node["wires"] = outputs == 2
            ? System.Text.Json.Nodes.JsonNode.Parse("""[["out"],["out2"]]""")
            : System.Text.Json.Nodes.JsonNode.Parse("""[["out"]]""");
        return StartAsync(Flow(node, new { id = "out", type = "test-capture" }, new { id = "out2", type = "test-capture" }));
    }

    static FlowMessage Message(object? payload, string? topic = null, params (string Key, object? Value)[] extra)
    {
        var message = FlowMessage.WithPayload(payload, topic);
        foreach (var (key, value) in extra) message[key] = value;
        return message;
    }

    [Fact]
    public async Task Sends_op1_at_once_then_op2_after_the_delay_ignoring_messages_meanwhile()
    {
        // Node-RED's defaults: op1 "1" and op2 "0" of the legacy "val" type, which are strings.
        await using var flow = await StartTriggerAsync(new { op1 = "1", op1type = "val", op2 = "0", op2type = "val", duration = "150", units = "ms", extend = false, reset = "", bytopic = "all", topic = "topic" });
        var clock = Stopwatch.StartNew();
        await flow.SendAsync("tr", Message("go", "t1", ("extra", 7.0)));
        var first = await flow.NextAsync("out");
        await flow.SendAsync("tr", "ignored");
        var second = await flow.NextAsync("out");
        var elapsed = clock.Elapsed;

        Assert.Equal("1", first.Payload);
        Assert.Equal("t1", first.Topic);
        Assert.Equal("0", second.Payload);
        Assert.Equal("t1", second.Topic);  // the second message is a copy of the first
        Assert.Equal(7.0, second["extra"]);
        Assert.True(elapsed >= TimeSpan.FromMilliseconds(140), $"second message after {elapsed.TotalMilliseconds} ms");
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(250)));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task After_the_second_message_the_next_message_triggers_again()
    {
        await using var flow = await StartTriggerAsync(new { op1 = "on", op1type = "str", op2 = "off", op2type = "str", duration = "50", units = "ms" });
        await flow.SendAsync("tr", "a");
        Assert.Equal(new object?[] { "on", "off" }, (await flow.Capture("out").TakeAsync(2)).Select(m => m.Payload));
        await flow.SendAsync("tr", "b");
        Assert.Equal(new object?[] { "on", "off" }, (await flow.Capture("out").TakeAsync(2)).Select(m => m.Payload));
    }

    [Fact]
    public async Task Extend_restarts_the_delay_with_each_message()
    {
        // Messages 100 ms apart against a 1 s delay: each one extends. (The delay is long against
        // the spacing so that a loaded machine, whose 100 ms pauses can take much longer, does not
        // let the delay run out between two messages: at 500 ms it once did, in a full run.)
        await using var flow = await StartTriggerAsync(new { op1 = "1", op1type = "num", op2 = "0", op2type = "num", duration = "1000", units = "ms", extend = true });
        var clock = Stopwatch.StartNew();
        await flow.SendAsync("tr", "a");
        await Task.Delay(100);
        await flow.SendAsync("tr", "b");
        await Task.Delay(100);
        var lastSent = clock.Elapsed;
        await flow.SendAsync("tr", "c");
        var messages = await flow.Capture("out").TakeAsync(2);
        var elapsed = clock.Elapsed;
        Assert.Equal(new object?[] { 1.0, 0.0 }, messages.Select(m => m.Payload));
        // 20 ms of slack: .NET timers run on a coarse clock (CLOCK_MONOTONIC_COARSE, ~4 ms steps)
        // and may fire a few ms early against the Stopwatch; without the extension the second
        // message would come ~200 ms early.
        Assert.True(elapsed >= lastSent + TimeSpan.FromMilliseconds(980), $"second message after {elapsed.TotalMilliseconds} ms, before the delay extended by the message at {lastSent.TotalMilliseconds} ms had run out");
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public async Task Msg_reset_and_the_reset_payload_cancel_the_second_message()
    {
        await using var flow = await StartTriggerAsync(new { op1 = "1", op1type = "str", op2 = "0", op2type = "str", duration = "150", units = "ms", reset = "stop" });
        await flow.SendAsync("tr", "a");
        await flow.NextAsync("out");
        await flow.SendAsync("tr", Message("x", null, ("reset", true)));
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(300)));

        await flow.SendAsync("tr", "b");
        Assert.Equal("1", (await flow.NextAsync("out")).Payload);
        await flow.SendAsync("tr", "stop");
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public async Task By_topic_each_topic_has_its_own_trigger()
    {
        await using var flow = await StartTriggerAsync(new { op1 = "pay", op1type = "pay", op2 = "done", op2type = "str", duration = "100", units = "ms", bytopic = "topic", topic = "topic" });
        await flow.SendAsync("tr", Message("a1", "a"));
        await flow.SendAsync("tr", Message("b1", "b"));
        await flow.SendAsync("tr", Message("a2", "a")); // ignored: topic a is pending
        var messages = await flow.Capture("out").TakeAsync(4);
        Assert.Equal(new object?[] { "a1", "b1" }, messages.Take(2).Select(m => m.Payload));
        Assert.Equal(new[] { "a", "b" }, messages.Skip(2).Select(m => m.Topic!).Order());
        Assert.All(messages.Skip(2), m => Assert.Equal("done", m.Payload));
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(200)));
    }

    [Fact]
    public async Task Duration_zero_waits_for_a_reset_without_a_second_message()
    {
        await using var flow = await StartTriggerAsync(new { op1 = "1", op1type = "str", op2 = "0", op2type = "str", duration = "0", units = "ms" });
        await flow.SendAsync("tr", "a");
        await flow.NextAsync("out");
        await flow.SendAsync("tr", "blocked");
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(200)));
        await flow.SendAsync("tr", Message(null, null, ("reset", true)));
        await flow.SendAsync("tr", "again");
        Assert.Equal("1", (await flow.NextAsync("out")).Payload);
    }

    [Fact]
    public async Task A_negative_duration_repeats_the_first_message_until_reset()
    {
        await using var flow = await StartTriggerAsync(new { op1 = "tick", op1type = "str", op2 = "0", op2type = "nul", duration = "-60", units = "ms" });
        await flow.SendAsync("tr", "go");
        var ticks = await flow.Capture("out").TakeAsync(4);
        Assert.All(ticks, m => Assert.Equal("tick", m.Payload));
        await flow.SendAsync("tr", Message(null, null, ("reset", true)));
        await Task.Delay(100); // a tick may already be on its way
        while (flow.Capture("out").Pending > 0) await flow.NextAsync("out");
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(250)));
    }

    [Fact]
    public async Task With_two_outputs_the_second_message_leaves_on_the_second_output()
    {
        await using var flow = await StartTriggerAsync(new { op1 = "1", op1type = "str", op2 = "0", op2type = "str", duration = "50", units = "ms" }, outputs: 2);
        await flow.SendAsync("tr", "x");
        Assert.Equal("1", (await flow.NextAsync("out")).Payload);
        Assert.Equal("0", (await flow.NextAsync("out2")).Payload);
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(100)));
    }

    [Fact]
    public async Task Op2_pay_sends_the_first_payload_and_payl_the_latest_message()
    {
        await using (var flow = await StartTriggerAsync(new { op1 = "", op1type = "nul", op2 = "", op2type = "pay", duration = "80", units = "ms" }))
        {
            await flow.SendAsync("tr", "first");
            await flow.SendAsync("tr", "later");
            var only = await flow.NextAsync("out");
            Assert.Equal("first", only.Payload);
            Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(150)));
        }
        await using (var flow = await StartTriggerAsync(new { op1 = "", op1type = "nul", op2 = "", op2type = "payl", duration = "100", units = "ms" }))
        {
            await flow.SendAsync("tr", Message("first", "t1"));
            await flow.SendAsync("tr", Message("latest", "t2"));
            var only = await flow.NextAsync("out");
            Assert.Equal(("latest", "t2"), (only.Payload, only.Topic));
        }
    }

    [Fact]
    public async Task Mustache_values_json_and_override_delay()
    {
        await using var flow = await StartTriggerAsync(new { op1 = "{{payload}} started", op1type = "str", op2 = """{"state":"done"}""", op2type = "json", duration = "5", units = "s", overrideDelay = true });
        var clock = Stopwatch.StartNew();
        await flow.SendAsync("tr", Message("job", null, ("delay", 120.0)));
        Assert.Equal("job started", (await flow.NextAsync("out")).Payload);
        var second = await flow.NextAsync("out", TimeSpan.FromSeconds(3));
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(110), "msg.delay was not honoured");
        Assert.Equal("done", ((Dictionary<string, object?>)second.Payload!)["state"]);
    }

    [Fact]
    public void Bad_units_types_and_values_are_refused()
    {
        var errors = Validate(Flow(
            new { id = "a", type = "trigger", units = "weeks", wires = new[] { Array.Empty<string>() } },
            new { id = "b", type = "trigger", op1 = "$now()", op1type = "jsonata", wires = new[] { Array.Empty<string>() } },
            new { id = "c", type = "trigger", op2 = "{bad", op2type = "json", wires = new[] { Array.Empty<string>() } },
            new { id = "d", type = "trigger", op1type = "payl", wires = new[] { Array.Empty<string>() } }));
        Assert.Contains(errors, e => e is { NodeId: "a", Field: "units" });
        Assert.Contains(errors, e => e is { NodeId: "b", Field: "op1" or "op1type" });
        Assert.Contains(errors, e => e is { NodeId: "c", Field: "op2" });
        Assert.Contains(errors, e => e is { NodeId: "d", Field: "op1type" });
    }
}
