using FlowServer.Nodes.Sdk;
using FlowServer.Testing;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Nodes;

public sealed class SortNodeTests
{
    static readonly string[][] ToOut = [["out"]];

    static object Sort(string targetType = "msg", string order = "ascending", bool asNum = false, string seqKey = "payload", string seqKeyType = "msg", string msgKeyType = "elem") =>
        new { id = "so", type = "sort", name = "", order, as_num = asNum, target = "payload", targetType, msgKey = "payload", msgKeyType, seqKey, seqKeyType, wires = ToOut };

    static Task<FlowTestHarness> StartSortAsync(object sort) => StartAsync(Flow(sort, new { id = "out", type = "test-capture" }));

    [Fact]
    public async Task Sorts_a_payload_array_like_javascript()
    {
        await using var flow = await StartSortAsync(Sort());
        await flow.SendAsync("so", new List<object?> { "b", "B", "a", "10", "9" });
        var sorted = await flow.NextAsync("out");
        Assert.Equal(new List<object?> { "10", "9", "B", "a", "b" }, sorted.Payload);
    }

    [Fact]
    public async Task Sorts_as_numbers_descending()
    {
        await using var flow = await StartSortAsync(Sort(order: "descending", asNum: true));
        await flow.SendAsync("so", new List<object?> { "10", "9", 100.0, "-1" });
        var sorted = await flow.NextAsync("out");
        Assert.Equal(new List<object?> { 100.0, "10", "9", "-1" }, sorted.Payload);
    }

    [Fact]
    public async Task Non_array_payload_is_dropped()
    {
        await using var flow = await StartSortAsync(Sort());
        await flow.SendAsync("so", "not an array");
        await flow.SendAsync("so", new List<object?>());
        var next = await flow.NextAsync("out");
        Assert.Equal(new List<object?>(), next.Payload);
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(200)));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Sorts_a_split_sequence_by_a_message_property_and_renumbers_it()
    {
        await using var flow = await StartAsync(Flow(
            new { id = "s", type = "split", splt = "\\n", spltType = "str", arraySplt = 1, arraySpltType = "len", stream = false, addname = "", wires = new[] { new[] { "so" } } },
            Sort(targetType: "seq", seqKey: "payload.age", asNum: true),
            new { id = "out", type = "test-capture" }));

        await flow.SendAsync("s", new List<object?>
        {
            new Dictionary<string, object?> { ["name"] = "ann", ["age"] = 30.0 },
            new Dictionary<string, object?> { ["name"] = "bob", ["age"] = 4.0 },
            new Dictionary<string, object?> { ["name"] = "cy", ["age"] = 12.0 },
        });
        var received = await flow.Capture("out").TakeAsync(3);

        Assert.Equal(["bob", "cy", "ann"], received.Select(m => (string)((Dictionary<string, object?>)m.Payload!)["name"]!));
        Assert.Equal([0.0, 1.0, 2.0], received.Select(m => (double)((Dictionary<string, object?>)m["parts"]!)["index"]!));
    }

    [Fact]
    public async Task Sequence_mode_waits_for_the_whole_sequence_and_drops_messages_without_parts()
    {
        await using var flow = await StartSortAsync(Sort(targetType: "seq", order: "descending"));
        await flow.SendAsync("so", "no parts");
        for (var i = 0; i < 2; i++)
        {
            var message = FlowMessage.WithPayload($"v{i}");
            message["parts"] = new Dictionary<string, object?> { ["id"] = "g", ["index"] = (double)i, ["count"] = 3.0 };
            await flow.SendAsync("so", message);
        }
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(200)));

        var last = FlowMessage.WithPayload("v2");
        last["parts"] = new Dictionary<string, object?> { ["id"] = "g", ["index"] = 2.0, ["count"] = 3.0 };
        await flow.SendAsync("so", last);
        var received = await flow.Capture("out").TakeAsync(3);
        Assert.Equal(["v2", "v1", "v0"], received.Select(m => (string)m.Payload!));
    }

    [Fact]
    public async Task Sorts_array_elements_by_a_jsonata_key()
    {
        var sort = new { id = "so", type = "sort", order = "ascending", as_num = false, target = "payload", targetType = "msg", msgKey = "temp", msgKeyType = "jsonata", wires = ToOut };
        await using var flow = await StartSortAsync(sort);
        await flow.SendAsync("so", new List<object?>
        {
            new Dictionary<string, object?> { ["tag"] = "a", ["temp"] = 30.0 },
            new Dictionary<string, object?> { ["tag"] = "b", ["temp"] = 4.0 },
            new Dictionary<string, object?> { ["tag"] = "c", ["temp"] = 12.0 },
        });
        var sorted = (List<object?>)(await flow.NextAsync("out")).Payload!;
        Assert.Equal(["b", "c", "a"], sorted.Select(e => (string)((Dictionary<string, object?>)e!)["tag"]!));
    }

    [Fact]
    public async Task Sorts_a_sequence_by_a_jsonata_key_on_each_message()
    {
        await using var flow = await StartSortAsync(Sort(targetType: "seq", seqKey: "$length(payload)", seqKeyType: "jsonata", order: "descending"));
        var words = new[] { "bb", "a", "cccc", "ddd" };
        for (var i = 0; i < words.Length; i++)
        {
            var message = FlowMessage.WithPayload(words[i]);
            message["parts"] = new Dictionary<string, object?> { ["id"] = "w", ["index"] = (double)i, ["count"] = (double)words.Length };
            await flow.SendAsync("so", message);
        }
        var received = await flow.Capture("out").TakeAsync(4);
        Assert.Equal(["cccc", "ddd", "bb", "a"], received.Select(m => (string)m.Payload!));
        flow.AssertNoErrors();
    }

    [Fact]
    public void An_invalid_jsonata_key_is_refused_naming_the_field()
    {
        var sort = new { id = "so", type = "sort", target = "payload", targetType = "msg", msgKey = "temp +", msgKeyType = "jsonata", wires = ToOut };
        var error = Assert.Single(Validate(Flow(sort, new { id = "out", type = "test-capture" })));
        Assert.Equal(("so", "msgKey"), (error.NodeId, error.Field));
        Assert.Contains("JSONata", error.Message);
    }
}
