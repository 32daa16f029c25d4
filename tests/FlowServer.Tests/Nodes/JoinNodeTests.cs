using FlowServer.Nodes.Sdk;
using FlowServer.Testing;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Nodes;

public sealed class JoinNodeTests
{
    static readonly string[][] ToOut = [["out"]];
    static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    static object Manual(string build, string count = "", string timeout = "", string joiner = "\\n", string joinerType = "str",
        bool accumulate = false, string property = "payload", string propertyType = "msg", string key = "topic") =>
        new { id = "j", type = "join", name = "Joiner", mode = "custom", build, property, propertyType, key, joiner, joinerType, accumulate, timeout, count, reduceRight = false, reduceExp = "", reduceInit = "", reduceInitType = "", reduceFixup = "", wires = ToOut };

    static Task<FlowTestHarness> StartJoinAsync(object join) => StartAsync(Flow(join, new { id = "out", type = "test-capture" }));

    static FlowMessage Message(object? payload, string? topic = null, Action<FlowMessage>? with = null)
    {
        var message = FlowMessage.WithPayload(payload, topic);
        with?.Invoke(message);
        return message;
    }

    [Theory]
    [InlineData("a\nb\nc")]
    [InlineData("")]
    [InlineData("single")]
    public async Task Split_then_auto_join_restores_a_string(string text)
    {
        await using var flow = await StartAsync(Flow(
            new { id = "s", type = "split", splt = "\\n", spltType = "str", arraySplt = 1, arraySpltType = "len", stream = false, addname = "", wires = new[] { new[] { "j" } } },
            new { id = "j", type = "join", mode = "auto", build = "object", property = "payload", propertyType = "msg", key = "topic", joiner = "\\n", joinerType = "str", accumulate = "false", timeout = "", count = "", wires = ToOut },
            new { id = "out", type = "test-capture" }));

        await flow.SendAsync("s", text, "t1");
        var joined = await flow.NextAsync("out", Patience);
        Assert.Equal(text, joined.Payload);
        Assert.Equal("t1", joined.Topic);
        Assert.False(joined.Properties.ContainsKey("parts"));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Split_then_auto_join_restores_arrays_objects_and_buffers()
    {
        await using var flow = await StartAsync(Flow(
            new { id = "s", type = "split", splt = "2", spltType = "len", arraySplt = 2, arraySpltType = "len", stream = false, addname = "", wires = new[] { new[] { "j" } } },
            new { id = "j", type = "join", mode = "auto", wires = ToOut },
            new { id = "out", type = "test-capture" }));

        var array = new List<object?> { 1.0, 2.0, 3.0, 4.0, 5.0 };
        var map = new Dictionary<string, object?> { ["x"] = 1.0, ["y"] = new List<object?> { "z" } };
        var bytes = new byte[] { 1, 2, 3, 4, 5 };
        await flow.SendAsync("s", MessageValue.DeepClone(array));
        await flow.SendAsync("s", MessageValue.DeepClone(map));
        await flow.SendAsync("s", bytes.ToArray());
        var received = await flow.Capture("out").TakeAsync(3, Patience);

        Assert.True(MessageValue.DeepEquals(array, received[0].Payload));
        Assert.True(MessageValue.DeepEquals(map, received[1].Payload));
        Assert.Equal(bytes, received[2].Payload);
    }

    [Fact]
    public async Task Auto_join_puts_parts_in_index_order_and_restores_outer_parts()
    {
        await using var flow = await StartJoinAsync(new { id = "j", type = "join", mode = "auto", wires = ToOut });
        var outer = new Dictionary<string, object?> { ["id"] = "outer", ["index"] = 0.0, ["count"] = 1.0 };
        foreach (var index in new[] { 2, 0, 1 })
        {
            await flow.SendAsync("j", Message($"p{index}", with: m => m["parts"] = new Dictionary<string, object?>
            {
                ["id"] = "seq", ["index"] = (double)index, ["count"] = 3.0, ["type"] = "string", ["ch"] = "-", ["parts"] = MessageValue.DeepClone(outer),
            }));
        }
        var joined = await flow.NextAsync("out", Patience);
        Assert.Equal("p0-p1-p2", joined.Payload);
        Assert.True(MessageValue.DeepEquals(outer, joined["parts"]));
    }

    [Fact]
    public async Task Auto_mode_warns_and_drops_messages_without_parts()
    {
        await using var flow = await StartJoinAsync(new { id = "j", type = "join", mode = "auto", wires = ToOut });
        await flow.SendAsync("j", "lonely");
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(300)));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Manual_string_joins_after_count_with_the_joiner()
    {
        await using var flow = await StartJoinAsync(Manual("string", count: "3", joiner: ", "));
        foreach (var payload in new object?[] { "a", 2.0, true, "next" }) await flow.SendAsync("j", payload);
        var joined = await flow.NextAsync("out", Patience);
        Assert.Equal("a, 2, true", joined.Payload);
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(200)));
    }

    [Fact]
    public async Task Manual_array_completes_on_msg_complete_and_includes_that_message()
    {
        await using var flow = await StartJoinAsync(Manual("array"));
        await flow.SendAsync("j", 1.0);
        await flow.SendAsync("j", 2.0);
        await flow.SendAsync("j", Message(3.0, with: m => m["complete"] = true));
        var joined = await flow.NextAsync("out", Patience);
        Assert.Equal(new List<object?> { 1.0, 2.0, 3.0 }, joined.Payload);
        Assert.False(joined.Properties.ContainsKey("complete"));
    }

    [Fact]
    public async Task Manual_object_uses_topics_as_keys_and_accumulates()
    {
        await using var flow = await StartJoinAsync(Manual("object", count: "2", accumulate: true));
        await flow.SendAsync("j", 20.5, "temp");
        await flow.SendAsync("j", 60.0, "humidity");
        await flow.SendAsync("j", 21.0, "temp");
        var received = await flow.Capture("out").TakeAsync(2, Patience);

        Assert.True(MessageValue.DeepEquals(new Dictionary<string, object?> { ["temp"] = 20.5, ["humidity"] = 60.0 }, received[0].Payload));
        Assert.True(MessageValue.DeepEquals(new Dictionary<string, object?> { ["temp"] = 21.0, ["humidity"] = 60.0 }, received[1].Payload));
    }

    [Fact]
    public async Task Manual_object_without_accumulate_starts_over()
    {
        await using var flow = await StartJoinAsync(Manual("object", count: "2"));
        await flow.SendAsync("j", 1.0, "a");
        await flow.SendAsync("j", 2.0, "b");
        await flow.SendAsync("j", 3.0, "a");
        await flow.SendAsync("j", 4.0, "c");
        var received = await flow.Capture("out").TakeAsync(2, Patience);
        Assert.True(MessageValue.DeepEquals(new Dictionary<string, object?> { ["a"] = 3.0, ["c"] = 4.0 }, received[1].Payload));
    }

    [Fact]
    public async Task Merged_object_combines_properties()
    {
        // As in Node-RED, a merged object counts its keys, not the messages: wait for msg.complete.
        await using var flow = await StartJoinAsync(Manual("merged"));
        await flow.SendAsync("j", new Dictionary<string, object?> { ["a"] = 1.0, ["b"] = 1.0 });
        await flow.SendAsync("j", Message(new Dictionary<string, object?> { ["b"] = 2.0 }, with: m => m["complete"] = true));
        var joined = await flow.NextAsync("out", Patience);
        Assert.True(MessageValue.DeepEquals(new Dictionary<string, object?> { ["a"] = 1.0, ["b"] = 2.0 }, joined.Payload));
    }

    [Fact]
    public async Task Buffer_join_uses_a_binary_joiner_and_rejects_numbers()
    {
        await using var flow = await StartJoinAsync(Manual("buffer", count: "2", joiner: "[44]", joinerType: "bin"));
        await flow.SendAsync("j", 7.0);
        await flow.WaitForErrorAsync("Cannot join number to buffer");
        flow.ClearErrors();
        await flow.SendAsync("j", new byte[] { 1 });
        await flow.SendAsync("j", "A");
        var joined = await flow.NextAsync("out", Patience);
        Assert.Equal(new byte[] { 1, 44, 65 }, joined.Payload);
    }

    [Fact]
    public async Task Whole_messages_are_collected_with_property_type_full()
    {
        await using var flow = await StartJoinAsync(Manual("array", count: "2", propertyType: "full"));
        await flow.SendAsync("j", 1.0, "x");
        await flow.SendAsync("j", 2.0, "y");
        var joined = await flow.NextAsync("out", Patience);
        var items = Assert.IsType<List<object?>>(joined.Payload);
        Assert.Equal("x", ((Dictionary<string, object?>)items[0]!)["topic"]);
        Assert.Equal(2.0, ((Dictionary<string, object?>)items[1]!)["payload"]);
    }

    [Fact]
    public async Task Timeout_sends_what_has_arrived()
    {
        await using var flow = await StartJoinAsync(Manual("array", count: "10", timeout: "0.3"));
        await flow.SendAsync("j", "a");
        await flow.SendAsync("j", "b");
        var joined = await flow.NextAsync("out", Patience);
        Assert.Equal(new List<object?> { "a", "b" }, joined.Payload);
    }

    [Fact]
    public async Task Reset_drops_the_pending_parts()
    {
        await using var flow = await StartJoinAsync(Manual("array", count: "2"));
        await flow.SendAsync("j", "dropped");
        await flow.SendAsync("j", Message(null, with: m => m["reset"] = true));
        await flow.SendAsync("j", "a");
        await flow.SendAsync("j", "b");
        var joined = await flow.NextAsync("out", Patience);
        Assert.Equal(new List<object?> { "a", "b" }, joined.Payload);
    }

    [Fact]
    public async Task Manual_mode_uses_parts_count_when_count_is_empty()
    {
        await using var flow = await StartAsync(Flow(
            new { id = "s", type = "split", splt = "\\n", spltType = "str", arraySplt = 1, arraySpltType = "len", stream = false, addname = "", wires = new[] { new[] { "j" } } },
            Manual("array"),
            new { id = "out", type = "test-capture" }));
        await flow.SendAsync("s", new List<object?> { "x", "y", "z" });
        var joined = await flow.NextAsync("out", Patience);
        Assert.Equal(new List<object?> { "x", "y", "z" }, joined.Payload);
        Assert.False(joined.Properties.ContainsKey("parts"));
    }

    static object Reducer(string exp, string init, string initType, string fixup = "", bool right = false) =>
        new { id = "j", type = "join", name = "Reducer", mode = "reduce", build = "object", property = "payload", propertyType = "msg", key = "topic", joiner = "\\n", joinerType = "str", accumulate = false, timeout = "", count = "", reduceRight = right, reduceExp = exp, reduceInit = init, reduceInitType = initType, reduceFixup = fixup, wires = ToOut };

    static async Task SendSequenceAsync(FlowTestHarness flow, string id, params object[] payloads)
    {
        // Out of order on purpose: reduce follows parts.index, not arrival.
        foreach (var i in Enumerable.Range(0, payloads.Length).Reverse())
        {
            var message = FlowMessage.WithPayload(payloads[i], $"t{i}");
            message["parts"] = new Dictionary<string, object?> { ["id"] = id, ["index"] = (double)i, ["count"] = (double)payloads.Length, ["type"] = "array", ["len"] = 1.0 };
            await flow.SendAsync("j", message);
        }
    }

    static Dictionary<string, object?> MessageParts(FlowMessage message) => Assert.IsType<Dictionary<string, object?>>(message["parts"]);

    [Fact]
    public async Task Split_of_another_property_names_it_in_parts_and_auto_join_rebuilds_that_property()
    {
        await using var flow = await StartAsync(Flow(
            new { id = "s", type = "split", property = "data.text", splt = ",", spltType = "str", arraySplt = 1, arraySpltType = "len", stream = false, addname = "", wires = new[] { new[] { "j", "pieces" } } },
            new { id = "j", type = "join", mode = "auto", build = "object", property = "payload", propertyType = "msg", key = "topic", joiner = "\\n", joinerType = "str", accumulate = "false", timeout = "", count = "", wires = ToOut },
            new { id = "pieces", type = "test-capture" },
            new { id = "out", type = "test-capture" }));
        var message = FlowMessage.WithPayload("untouched", "t1");
        message["data"] = new Dictionary<string, object?> { ["text"] = "a,b,c" };
        await flow.SendAsync("s", message);

        var first = await flow.NextAsync("pieces", Patience);
        Assert.Equal("data.text", MessageParts(first)["property"]);
        Assert.Equal("a", ((Dictionary<string, object?>)first["data"]!)["text"]);
        var joined = await flow.NextAsync("out", Patience);
        Assert.Equal("a,b,c", ((Dictionary<string, object?>)joined["data"]!)["text"]);
        Assert.Equal("untouched", joined.Payload);
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Reduce_averages_a_sequence_with_a_fixup()
    {
        await using var flow = await StartAsync(Flow(Reducer("$A + payload", "0", "num", "$A / $N"), new { id = "out", type = "test-capture" }));
        await SendSequenceAsync(flow, "s1", 1.0, 2.0, 3.0, 6.0);
        var result = await flow.NextAsync("out", Patience);
        Assert.Equal(3.0, result.Payload);
        // As Node-RED: the last message of the sequence, with its other properties, carries the result.
        Assert.Equal("t3", result.Topic);
        Assert.Equal(3.0, MessageParts(result)["index"]);
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Reduce_in_reverse_order_with_index_and_a_string_initial_value()
    {
        await using var flow = await StartAsync(Flow(Reducer("$A & payload & $string($I)", ">", "str", right: true), new { id = "out", type = "test-capture" }));
        await SendSequenceAsync(flow, "s2", "a", "b", "c");
        var result = await flow.NextAsync("out", Patience);
        Assert.Equal(">c2b1a0", result.Payload);
        Assert.Equal("t0", result.Topic);
    }

    [Fact]
    public void Reduce_without_an_expression_or_with_a_bad_one_is_refused_naming_the_field()
    {
        var missing = Assert.Single(Validate(Flow(Reducer("", "0", "num"), new { id = "out", type = "test-capture" })));
        Assert.Equal(("j", "reduceExp"), (missing.NodeId, missing.Field));
        var bad = Validate(Flow(Reducer("$A +", "0", "num", fixup: "$A /"), new { id = "out", type = "test-capture" }));
        Assert.Contains(bad, e => e.Field == "reduceExp" && e.Message.Contains("JSONata"));
        Assert.Contains(bad, e => e.Field == "reduceFixup" && e.Message.Contains("JSONata"));
    }

    [Fact]
    public void Bad_binary_joiner_is_rejected()
    {
        var error = Assert.Single(Validate(Flow(Manual("buffer", joiner: "nope", joinerType: "bin"), new { id = "out", type = "test-capture" })));
        Assert.Equal("joiner", error.Field);
    }
}
