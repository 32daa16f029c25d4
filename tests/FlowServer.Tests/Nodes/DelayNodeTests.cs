using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using FlowServer.Nodes.Sdk;
using FlowServer.Testing;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Nodes;

public sealed class DelayNodeTests
{
    static Task<FlowTestHarness> StartDelayAsync(object options, int outputs = 1)
    {
        var node = JsonNode.Parse(JsonSerializer.Serialize(options))!.AsObject();
        node["id"] = "d";
        node["type"] = "delay";
        node["name"] = "Hold";
        node["outputs"] = outputs;
        node["wires"] = JsonNode.Parse(outputs == 2 ? """[["out"],["out2"]]""" : """[["out"]]""");
        return StartAsync(Flow(node, new { id = "out", type = "test-capture" }, new { id = "out2", type = "test-capture" }));
    }

    static FlowMessage Message(object? payload, string? topic = null, params (string Key, object? Value)[] extra)
    {
        var message = FlowMessage.WithPayload(payload, topic);
        foreach (var (key, value) in extra) message[key] = value;
        return message;
    }

    static FlowMessage Control(string property, object? value)
    {
        var message = new FlowMessage();
        message[property] = value;
        return message;
    }

    [Fact]
    public async Task Fixed_delay_holds_every_message_and_keeps_their_order()
    {
        await using var flow = await StartDelayAsync(new { pauseType = "delay", timeout = "120", timeoutUnits = "milliseconds" });
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < 20; i++) await flow.SendAsync("d", (double)i);
        var first = await flow.NextAsync("out");
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(110), $"released after {clock.Elapsed.TotalMilliseconds} ms");
        var rest = await flow.Capture("out").TakeAsync(19);
        Assert.Equal(Enumerable.Range(0, 20).Select(i => (object?)(double)i), rest.Prepend(first).Select(m => m.Payload));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Delayv_uses_msg_delay_and_falls_back_to_the_fixed_delay()
    {
        await using var flow = await StartDelayAsync(new { pauseType = "delayv", timeout = "0.15", timeoutUnits = "seconds" });
        var clock = Stopwatch.StartNew();
        await flow.SendAsync("d", Message("slow", null, ("delay", 300.0)));
        await flow.SendAsync("d", Message("fast", null, ("delay", 30.0)));
        await flow.SendAsync("d", Message("default"));
        var messages = await flow.Capture("out").TakeAsync(3);
        Assert.Equal(new object?[] { "fast", "default", "slow" }, messages.Select(m => m.Payload));
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(290));
    }

    [Fact]
    public async Task Random_delay_stays_within_its_bounds()
    {
        await using var flow = await StartDelayAsync(new { pauseType = "random", randomFirst = "80", randomLast = "150", randomUnits = "milliseconds" });
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < 5; i++) await flow.SendAsync("d", (double)i);
        var first = await flow.NextAsync("out");
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(75), $"released after {clock.Elapsed.TotalMilliseconds} ms");
        var all = (await flow.Capture("out").TakeAsync(4)).Prepend(first).Select(m => (double)m.Payload!).Order();
        Assert.Equal(new[] { 0.0, 1, 2, 3, 4 }, all);
    }

    [Fact]
    public async Task Reset_drops_held_messages_and_is_not_passed_on()
    {
        await using var flow = await StartDelayAsync(new { pauseType = "delay", timeout = "150", timeoutUnits = "milliseconds" });
        for (var i = 0; i < 3; i++) await flow.SendAsync("d", (double)i);
        await flow.SendAsync("d", Control("reset", true));
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(350)));
        await flow.SendAsync("d", "after");
        Assert.Equal("after", (await flow.NextAsync("out")).Payload);
    }

    [Fact]
    public async Task Flush_releases_all_or_the_given_number_of_held_messages_at_once()
    {
        await using var flow = await StartDelayAsync(new { pauseType = "delay", timeout = "10", timeoutUnits = "seconds" });
        for (var i = 0; i < 4; i++) await flow.SendAsync("d", (double)i);
        await flow.SendAsync("d", Control("flush", 1.0));
        Assert.Equal(0.0, (await flow.NextAsync("out", TimeSpan.FromSeconds(2))).Payload);
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(100)));
        await flow.SendAsync("d", Control("flush", true));
        var rest = await flow.Capture("out").TakeAsync(3, TimeSpan.FromSeconds(2));
        Assert.Equal(new object?[] { 1.0, 2.0, 3.0 }, rest.Select(m => m.Payload));
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(100)));
    }

    [Fact]
    public async Task Rate_limit_sends_the_first_at_once_and_queues_the_rest_in_order()
    {
        // 10 per second: one every 100 ms.
        await using var flow = await StartDelayAsync(new { pauseType = "rate", rate = "10", nbRateUnits = "1", rateUnits = "second", drop = false });
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < 5; i++) await flow.SendAsync("d", (double)i);
        var first = await flow.NextAsync("out");
        var firstAt = clock.Elapsed;
        var rest = await flow.Capture("out").TakeAsync(4);
        Assert.Equal(new object?[] { 0.0, 1.0, 2.0, 3.0, 4.0 }, rest.Prepend(first).Select(m => m.Payload));
        Assert.True(firstAt < TimeSpan.FromMilliseconds(90), $"first message held for {firstAt.TotalMilliseconds} ms");
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(380), $"five messages in {clock.Elapsed.TotalMilliseconds} ms");
    }

    [Fact]
    public async Task Rate_limit_per_minute_units_and_reset_clear_the_queue()
    {
        // 2 per 1 minute: only the first passes within the test's time.
        await using var flow = await StartDelayAsync(new { pauseType = "rate", rate = "2", nbRateUnits = "1", rateUnits = "minute", drop = false });
        for (var i = 0; i < 3; i++) await flow.SendAsync("d", (double)i);
        Assert.Equal(0.0, (await flow.NextAsync("out")).Payload);
        await flow.SendAsync("d", Control("reset", true));
        await flow.SendAsync("d", "after reset");
        Assert.Equal("after reset", (await flow.NextAsync("out")).Payload); // the reset ended the interval
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(200)));
    }

    [Fact]
    public async Task Rate_limit_with_drop_discards_or_diverts_intermediate_messages()
    {
        await using (var flow = await StartDelayAsync(new { pauseType = "rate", rate = "1", nbRateUnits = "1", rateUnits = "second", drop = true }))
        {
            for (var i = 0; i < 5; i++) await flow.SendAsync("d", (double)i);
            Assert.Equal(0.0, (await flow.NextAsync("out")).Payload);
            Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(200)));
        }
        await using (var flow = await StartDelayAsync(new { pauseType = "rate", rate = "1", nbRateUnits = "1", rateUnits = "second", drop = true }, outputs: 2))
        {
            for (var i = 0; i < 5; i++) await flow.SendAsync("d", (double)i);
            Assert.Equal(0.0, (await flow.NextAsync("out")).Payload);
            var diverted = await flow.Capture("out2").TakeAsync(4);
            Assert.Equal(new object?[] { 1.0, 2.0, 3.0, 4.0 }, diverted.Select(m => m.Payload));
        }
    }

    [Fact]
    public async Task Msg_rate_overrides_the_interval_when_allowed()
    {
        await using var flow = await StartDelayAsync(new { pauseType = "rate", rate = "1", nbRateUnits = "1", rateUnits = "hour", drop = false, allowrate = true });
        await flow.SendAsync("d", Message(0.0, null, ("rate", 50.0)));
        await flow.SendAsync("d", Message(1.0));
        await flow.SendAsync("d", Message(2.0));
        var messages = await flow.Capture("out").TakeAsync(3, TimeSpan.FromSeconds(3));
        Assert.Equal(new object?[] { 0.0, 1.0, 2.0 }, messages.Select(m => m.Payload));
    }

    [Fact]
    public async Task Queue_mode_keeps_the_newest_message_per_topic_and_sends_one_topic_per_interval()
    {
        await using var flow = await StartDelayAsync(new { pauseType = "queue", rate = "5", nbRateUnits = "1", rateUnits = "second" });
        await flow.SendAsync("d", Message("a1", "a"));
        await flow.SendAsync("d", Message("b1", "b"));
        await flow.SendAsync("d", Message("a2", "a"));
        await flow.SendAsync("d", Message("n1"));
        var clock = Stopwatch.StartNew();
        var messages = await flow.Capture("out").TakeAsync(3);
        Assert.Equal(new object?[] { "a2", "b1", "n1" }, messages.Select(m => m.Payload));
        Assert.Equal("_none_", messages[2].Topic);
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(300), $"three topics in {clock.Elapsed.TotalMilliseconds} ms: more than one per interval");
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public async Task Timed_mode_sends_the_newest_message_of_every_topic_each_interval()
    {
        await using var flow = await StartDelayAsync(new { pauseType = "timed", rate = "1", nbRateUnits = "0.3", rateUnits = "second" });
        await flow.SendAsync("d", Message("a1", "a"));
        await flow.SendAsync("d", Message("b1", "b"));
        await flow.SendAsync("d", Message("a2", "a"));
        var first = await flow.NextAsync("out");
        var clock = Stopwatch.StartNew();
        var second = await flow.NextAsync("out");
        Assert.Equal(("a2", "b1"), (first.Payload, second.Payload));
        Assert.True(clock.Elapsed < TimeSpan.FromMilliseconds(250), "the topics of one interval should leave together");
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(400)));
    }

    [Fact]
    public async Task Queue_and_timed_modes_send_a_replaced_message_on_the_second_output()
    {
        foreach (var mode in new[] { "queue", "timed" })
        {
            await using var flow = await StartDelayAsync(new { pauseType = mode, rate = "1", nbRateUnits = "0.3", rateUnits = "second" }, outputs: 2);
            await flow.SendAsync("d", Message("a1", "a"));
            await flow.SendAsync("d", Message("b1", "b"));
            await flow.SendAsync("d", Message("a2", "a"));
            Assert.Equal("a1", (await flow.NextAsync("out2")).Payload);
            Assert.Equal(new object?[] { "a2", "b1" }, (await flow.Capture("out").TakeAsync(2)).Select(m => m.Payload));
            Assert.True(await flow.Capture("out2").StaysEmptyAsync(TimeSpan.FromMilliseconds(100)), mode);
        }
    }

    [Fact]
    public async Task Reset_in_drop_mode_lets_the_next_message_through_at_once()
    {
        await using var flow = await StartDelayAsync(new { pauseType = "rate", rate = "1", nbRateUnits = "1", rateUnits = "minute", drop = true });
        await flow.SendAsync("d", "first");
        await flow.SendAsync("d", "dropped");
        Assert.Equal("first", (await flow.NextAsync("out")).Payload);
        await flow.SendAsync("d", Control("reset", true));
        await flow.SendAsync("d", "after reset");
        Assert.Equal("after reset", (await flow.NextAsync("out")).Payload);
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(200)));
    }

    [Fact]
    public async Task ToFront_puts_a_message_at_the_head_of_the_rate_queue()
    {
        await using var flow = await StartDelayAsync(new { pauseType = "rate", rate = "10", nbRateUnits = "1", rateUnits = "second", drop = false });
        await flow.SendAsync("d", "first");
        await flow.SendAsync("d", "queued 1");
        await flow.SendAsync("d", "queued 2");
        await flow.SendAsync("d", Message("urgent", null, ("toFront", true)));
        var order = (await flow.Capture("out").TakeAsync(4)).Select(m => m.Payload);
        Assert.Equal(new object?[] { "first", "urgent", "queued 1", "queued 2" }, order);
    }

    [Fact]
    public void Unknown_modes_units_and_a_zero_rate_are_refused()
    {
        var errors = Validate(Flow(
            new { id = "a", type = "delay", pauseType = "burst", wires = new[] { Array.Empty<string>() } },
            new { id = "b", type = "delay", pauseType = "rate", rate = "0", wires = new[] { Array.Empty<string>() } },
            new { id = "c", type = "delay", pauseType = "delay", timeoutUnits = "fortnights", wires = new[] { Array.Empty<string>() } },
            new { id = "e", type = "delay", pauseType = "random", randomFirst = "5", randomLast = "1", wires = new[] { Array.Empty<string>() } }));
        Assert.Contains(errors, e => e is { NodeId: "a", Field: "pauseType" });
        Assert.Contains(errors, e => e is { NodeId: "b", Field: "rate" });
        Assert.Contains(errors, e => e is { NodeId: "c", Field: "timeoutUnits" });
        Assert.Contains(errors, e => e is { NodeId: "e", Field: "randomLast" });
    }
}
