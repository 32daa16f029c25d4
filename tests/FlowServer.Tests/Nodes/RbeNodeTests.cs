using FlowServer.Nodes.Sdk;
using FlowServer.Testing;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Nodes;

public sealed class RbeNodeTests
{
    static Task<FlowTestHarness> StartFilterAsync(string func, string gap = "", string start = "", string inout = "out", bool septopics = true) =>
        StartAsync(Flow(
            new { id = "f", type = "rbe", name = "Filter", func, gap, start, inout, septopics, property = "payload", topi = "topic", wires = new[] { new[] { "out" } } },
            new { id = "out", type = "test-capture" }));

    /// <summary>Sends the values in order and returns the payloads that came out (expecting exactly <paramref name="expected"/>).</summary>
    static async Task<List<object?>> PassedAsync(FlowTestHarness flow, int expected, params object?[] values)
    {
        foreach (var value in values) await flow.SendAsync("f", value is FlowMessage m ? m : FlowMessage.WithPayload(value));
        var passed = (await flow.Capture("out").TakeAsync(expected)).Select(m => m.Payload).ToList();
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(150)), "more messages passed than expected");
        return passed;
    }

    [Fact]
    public async Task Rbe_passes_only_changes_per_topic()
    {
        await using var flow = await StartFilterAsync("rbe");
        await flow.SendAsync("f", 1.0, "a");
        await flow.SendAsync("f", 1.0, "a");
        await flow.SendAsync("f", 1.0, "b"); // another topic has its own memory
        await flow.SendAsync("f", 2.0, "a");
        await flow.SendAsync("f", "2", "a"); // a string differs from a number, as with !==
        var out1 = await flow.Capture("out").TakeAsync(4);
        Assert.Equal(new object?[] { "a", "b", "a", "a" }, out1.Select(m => (object?)m.Topic));
        Assert.Equal(new object?[] { 1.0, 1.0, 2.0, "2" }, out1.Select(m => m.Payload));
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(100)));
    }

    [Fact]
    public async Task Rbe_compares_objects_deeply()
    {
        await using var flow = await StartFilterAsync("rbe");
        var passed = await PassedAsync(flow, 2,
            new Dictionary<string, object?> { ["a"] = 1.0 },
            new Dictionary<string, object?> { ["a"] = 1.0 },
            new Dictionary<string, object?> { ["a"] = 2.0 });
        Assert.Equal(2, passed.Count);
    }

    [Fact]
    public async Task Rbei_ignores_the_first_value()
    {
        await using var flow = await StartFilterAsync("rbei");
        Assert.Equal(new object?[] { 2.0, 3.0 }, await PassedAsync(flow, 2, 1.0, 1.0, 2.0, 2.0, 3.0));
    }

    [Fact]
    public async Task Without_separate_topics_all_topics_share_one_value()
    {
        await using var flow = await StartFilterAsync("rbe", septopics: false);
        await flow.SendAsync("f", 1.0, "a");
        await flow.SendAsync("f", 1.0, "b");
        await flow.SendAsync("f", 2.0, "b");
        var out1 = await flow.Capture("out").TakeAsync(2);
        Assert.Equal(new object?[] { 1.0, 2.0 }, out1.Select(m => m.Payload));
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(100)));
    }

    [Fact]
    public async Task Reset_forgets_the_stored_value_and_the_reset_message_is_then_compared()
    {
        await using var flow = await StartFilterAsync("rbe");
        var reset = FlowMessage.WithPayload(1.0);
        reset["reset"] = true;
        Assert.Equal(new object?[] { 1.0, 1.0 }, await PassedAsync(flow, 2, 1.0, 1.0, reset, 1.0));
    }

    [Fact]
    public async Task Deadband_passes_the_first_value_and_then_only_moves_larger_than_the_gap()
    {
        await using var flow = await StartFilterAsync("deadband", gap: "10");
        Assert.Equal(new object?[] { 100.0, 111.0, 90.0 }, await PassedAsync(flow, 3, 100.0, 105.0, 110.0, 111.0, 101.0, 90.0));
    }

    [Fact]
    public async Task DeadbandEq_also_passes_a_move_equal_to_the_gap()
    {
        await using var flow = await StartFilterAsync("deadbandEq", gap: "10");
        Assert.Equal(new object?[] { 100.0, 110.0 }, await PassedAsync(flow, 2, 100.0, 105.0, 110.0, 115.0));
    }

    [Fact]
    public async Task Percentage_gap_is_relative_to_the_previous_output()
    {
        // Node-RED's own example: after 100 a 10% band needs 110, then 121.
        await using var flow = await StartFilterAsync("deadbandEq", gap: "10%");
        Assert.Equal(new object?[] { 100.0, 110.0, 121.0 }, await PassedAsync(flow, 3, 100.0, 109.0, 110.0, 120.0, 121.0));
    }

    [Fact]
    public async Task Narrowband_blocks_outliers_and_uses_the_start_value()
    {
        await using var flow = await StartFilterAsync("narrowband", gap: "5", start: "20");
        Assert.Equal(new object?[] { 22.0, 25.0, 28.0 }, await PassedAsync(flow, 3, 22.0, 100.0, 25.0, 28.0, 40.0));
    }

    [Fact]
    public async Task NarrowbandEq_blocks_a_move_equal_to_the_gap()
    {
        await using var flow = await StartFilterAsync("narrowbandEq", gap: "5");
        Assert.Equal(new object?[] { 10.0, 14.0 }, await PassedAsync(flow, 2, 10.0, 15.0, 14.0, 20.0));
    }

    [Fact]
    public async Task Compared_to_last_input_two_outliers_in_a_row_make_a_new_level()
    {
        await using var flow = await StartFilterAsync("narrowband", gap: "5", inout: "in");
        Assert.Equal(new object?[] { 10.0, 50.0, 52.0 }, await PassedAsync(flow, 3, 10.0, 50.0, 50.0, 52.0));
    }

    [Fact]
    public async Task Band_modes_read_numeric_strings_and_drop_non_numbers()
    {
        await using var flow = await StartFilterAsync("deadband", gap: "1");
        Assert.Equal(new object?[] { "5 volts", "9" }, await PassedAsync(flow, 2, "5 volts", "abc", true, "9"));
        flow.AssertNoErrors();
    }

    [Fact]
    public void A_bad_gap_or_start_is_refused()
    {
        var errors = Validate(Flow(
            new { id = "a", type = "rbe", func = "deadband", gap = "ten", wires = new[] { Array.Empty<string>() } },
            new { id = "b", type = "rbe", func = "narrowband", gap = "1", start = "x", wires = new[] { Array.Empty<string>() } },
            new { id = "c", type = "rbe", func = "sometimes", wires = new[] { Array.Empty<string>() } }));
        Assert.Contains(errors, e => e is { NodeId: "a", Field: "gap" });
        Assert.Contains(errors, e => e is { NodeId: "b", Field: "start" });
        Assert.Contains(errors, e => e is { NodeId: "c", Field: "func" });
    }
}
