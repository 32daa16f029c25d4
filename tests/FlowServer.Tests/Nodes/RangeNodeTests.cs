using FlowServer.Nodes.Sdk;
using FlowServer.Testing;
using Microsoft.Extensions.Logging;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Nodes;

public sealed class RangeNodeTests
{
    static Task<FlowTestHarness> StartRangeAsync(string action, bool round = false, string property = "payload", string minin = "0", string maxin = "10") =>
        StartAsync(Flow(
            new { id = "r", type = "range", name = "Scaler", minin, maxin, minout = "0", maxout = "100", action, round, property, wires = new[] { new[] { "out" } } },
            new { id = "out", type = "test-capture" },
            new { id = "c", type = "catch", scope = (string[]?)null, wires = new[] { new[] { "caught" } } },
            new { id = "caught", type = "test-capture" }));

    async Task<object?> MapAsync(FlowTestHarness flow, object? payload)
    {
        await flow.SendAsync("r", payload);
        return (await flow.NextAsync("out")).Payload;
    }

    [Fact]
    public async Task Scale_maps_linearly_and_extrapolates_outside_the_input_range()
    {
        await using var flow = await StartRangeAsync("scale");
        Assert.Equal(50.0, await MapAsync(flow, 5.0));
        Assert.Equal(150.0, await MapAsync(flow, 15.0));
        Assert.Equal(-50.0, await MapAsync(flow, -5.0));
        Assert.Equal(25.0, await MapAsync(flow, "2.5")); // numeric strings are converted, as Number() does
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Clamp_limits_to_the_input_range_first()
    {
        await using var flow = await StartRangeAsync("clamp");
        Assert.Equal(100.0, await MapAsync(flow, 15.0));
        Assert.Equal(0.0, await MapAsync(flow, -3.0));
        Assert.Equal(70.0, await MapAsync(flow, 7.0));
    }

    [Fact]
    public async Task Roll_wraps_within_the_input_range_also_for_negative_values()
    {
        await using var flow = await StartRangeAsync("roll");
        Assert.Equal(20.0, await MapAsync(flow, 12.0));
        Assert.Equal(0.0, await MapAsync(flow, 10.0));
        Assert.Equal(80.0, await MapAsync(flow, -2.0));
    }

    [Fact]
    public async Task Drop_discards_values_outside_the_input_range()
    {
        await using var flow = await StartRangeAsync("drop");
        await flow.SendAsync("r", 11.0);
        await flow.SendAsync("r", -1.0);
        await flow.SendAsync("r", 10.0);
        Assert.Equal(100.0, (await flow.NextAsync("out")).Payload);
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(100)));
    }

    [Fact]
    public async Task Round_rounds_halves_up_like_javascript()
    {
        await using var flow = await StartAsync(Flow(
            new { id = "r", type = "range", minin = "0", maxin = "4", minout = "0", maxout = "10", action = "scale", round = true, wires = new[] { new[] { "out" } } },
            new { id = "out", type = "test-capture" }));
        await flow.SendAsync("r", 1.0);  // 2.5 → 3
        await flow.SendAsync("r", -1.0); // -2.5 → -2
        await flow.SendAsync("r", 1.3);  // 3.25 → 3
        var results = await flow.Capture("out").TakeAsync(3);
        Assert.Equal(new object?[] { 3.0, -2.0, 3.0 }, results.Select(m => m.Payload));
    }

    [Fact]
    public async Task Works_on_a_nested_property_and_passes_messages_without_it()
    {
        await using var flow = await StartRangeAsync("scale", property: "payload.level");
        await flow.SendAsync("r", new Dictionary<string, object?> { ["level"] = 3.0, ["keep"] = "x" });
        var scaled = await flow.NextAsync("out");
        var payload = Assert.IsType<Dictionary<string, object?>>(scaled.Payload);
        Assert.Equal(30.0, payload["level"]);
        Assert.Equal("x", payload["keep"]);

        await flow.SendAsync("r", new Dictionary<string, object?> { ["other"] = 1.0 });
        var passed = await flow.NextAsync("out");
        Assert.False(((Dictionary<string, object?>)passed.Payload!).ContainsKey("level"));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task A_value_that_is_not_a_number_is_logged_and_not_sent_as_Node_RED_does()
    {
        var logs = new ListLoggerProvider();
        using var loggers = LoggerFactory.Create(builder => builder.AddProvider(logs));
        await using var flow = await StartAsync(Flow(
            new { id = "r", type = "range", name = "Scaler", minin = "0", maxin = "10", minout = "0", maxout = "100", action = "scale", round = false, property = "payload", wires = new[] { new[] { "out" } } },
            new { id = "out", type = "test-capture" },
            new { id = "c", type = "catch", scope = (string[]?)null, wires = new[] { new[] { "caught" } } },
            new { id = "caught", type = "test-capture" }), loggers: loggers);
        await flow.SendAsync("r", "abc", "t1");
        await flow.SendAsync("r", "5");
        Assert.Equal(50.0, (await flow.NextAsync("out")).Payload);
        Assert.Contains(logs.Entries, e => e.Text.Contains("not a number", StringComparison.Ordinal) && e.Text.Contains("abc", StringComparison.Ordinal));
        Assert.True(await flow.Capture("caught").StaysEmptyAsync(TimeSpan.FromMilliseconds(100)));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task A_reversed_input_range_swaps_both_ranges_and_round_narrows_the_output_range()
    {
        await using var flow = await StartAsync(Flow(
            new { id = "r", type = "range", minin = "10", maxin = "0", minout = "0.4", maxout = "99.6", action = "clamp", round = true, property = "payload", wires = new[] { new[] { "out" } } },
            new { id = "out", type = "test-capture" }));
        // Swapped: 0..10 maps to 99.6..0.4; rounding then takes minout up and maxout down, as
        // Node-RED does after the swap: 0..10 maps to 100..0.
        Assert.Equal(100.0, await MapAsync(flow, 0.0));
        Assert.Equal(0.0, await MapAsync(flow, 12.0));   // clamped to 10
        Assert.Equal(50.0, await MapAsync(flow, 5.0));
        Assert.Equal(75.0, await MapAsync(flow, 2.5));
    }

    [Fact]
    public void Missing_bounds_unknown_action_and_an_empty_input_range_are_refused()
    {
        var errors = Validate(Flow(
            new { id = "a", type = "range", maxin = "10", minout = "0", maxout = "1", wires = new[] { Array.Empty<string>() } },
            new { id = "b", type = "range", minin = "0", maxin = "10", minout = "0", maxout = "1", action = "squash", wires = new[] { Array.Empty<string>() } },
            new { id = "c", type = "range", minin = "5", maxin = "5", minout = "0", maxout = "1", wires = new[] { Array.Empty<string>() } }));
        Assert.Contains(errors, e => e is { NodeId: "a", Field: "minin" } && e.Message.Contains("required"));
        Assert.Contains(errors, e => e is { NodeId: "b", Field: "action" });
        Assert.Contains(errors, e => e is { NodeId: "c", Field: "maxin" });
    }
}
