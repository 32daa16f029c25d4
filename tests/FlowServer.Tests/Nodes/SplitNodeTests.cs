using FlowServer.Nodes.Sdk;
using FlowServer.Testing;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Nodes;

public sealed class SplitNodeTests
{
    static readonly string[][] ToOut = [["out"]];

    static Task<FlowTestHarness> StartSplitAsync(object split) => StartAsync(Flow(split, new { id = "out", type = "test-capture" }));

    static object Split(string splt = "\\n", string spltType = "str", int arraySplt = 1, bool stream = false, string addname = "") =>
        new { id = "s", type = "split", name = "", splt, spltType, arraySplt, arraySpltType = "len", stream, addname, wires = ToOut };

    static Dictionary<string, object?> Parts(FlowMessage message) => Assert.IsType<Dictionary<string, object?>>(message["parts"]);

    [Fact]
    public async Task Splits_a_string_at_newlines_with_parts()
    {
        await using var flow = await StartSplitAsync(Split());
        await flow.SendAsync("s", "a\nb\nc", "t");
        var received = await flow.Capture("out").TakeAsync(3);

        Assert.Equal(["a", "b", "c"], received.Select(m => (string)m.Payload!));
        Assert.All(received, m => Assert.Equal("t", m.Topic));
        var ids = received.Select(m => Parts(m)["id"]).Distinct().ToList();
        Assert.Single(ids);
        for (var i = 0; i < 3; i++)
        {
            var parts = Parts(received[i]);
            Assert.Equal((double)i, parts["index"]);
            Assert.Equal(3.0, parts["count"]);
            Assert.Equal("string", parts["type"]);
            Assert.Equal("\n", parts["ch"]);
        }
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Splits_a_string_by_a_custom_separator_and_keeps_empty_pieces()
    {
        await using var flow = await StartSplitAsync(Split(splt: ","));
        await flow.SendAsync("s", "1,,3,");
        var received = await flow.Capture("out").TakeAsync(4);
        Assert.Equal(["1", "", "3", ""], received.Select(m => (string)m.Payload!));
    }

    [Fact]
    public async Task Splits_a_string_into_fixed_length_chunks()
    {
        await using var flow = await StartSplitAsync(Split(splt: "3", spltType: "len"));
        await flow.SendAsync("s", "abcdefgh");
        var received = await flow.Capture("out").TakeAsync(3);
        Assert.Equal(["abc", "def", "gh"], received.Select(m => (string)m.Payload!));
        Assert.Equal(3.0, Parts(received[0])["len"]);
        Assert.Equal("", Parts(received[0])["ch"]);
        Assert.Equal(3.0, Parts(received[2])["count"]);
    }

    [Fact]
    public async Task Splits_an_array_into_elements_and_into_chunks()
    {
        await using var flow = await StartAsync(Flow(
            Split(),
            new { id = "s2", type = "split", splt = "\\n", spltType = "str", arraySplt = 2, arraySpltType = "len", stream = false, addname = "", wires = new[] { new[] { "out2" } } },
            new { id = "out", type = "test-capture" },
            new { id = "out2", type = "test-capture" }));

        await flow.SendAsync("s", new List<object?> { 1.0, "two", true });
        var singles = await flow.Capture("out").TakeAsync(3);
        Assert.Equal(new object?[] { 1.0, "two", true }, singles.Select(m => m.Payload));
        Assert.Equal("array", Parts(singles[0])["type"]);
        Assert.Equal(1.0, Parts(singles[0])["len"]);

        await flow.SendAsync("s2", new List<object?> { 1.0, 2.0, 3.0, 4.0, 5.0 });
        var chunks = await flow.Capture("out2").TakeAsync(3);
        Assert.Equal(new List<object?> { 1.0, 2.0 }, chunks[0].Payload);
        Assert.Equal(new List<object?> { 5.0 }, chunks[2].Payload);
        Assert.Equal(3.0, Parts(chunks[2])["count"]);
    }

    [Fact]
    public async Task Splits_an_object_per_key_and_copies_the_key()
    {
        await using var flow = await StartSplitAsync(Split(addname: "topic"));
        await flow.SendAsync("s", new Dictionary<string, object?> { ["a"] = 1.0, ["b"] = 2.0 });
        var received = await flow.Capture("out").TakeAsync(2);

        Assert.Equal([("a", 1.0), ("b", 2.0)], received.Select(m => (m.Topic!, (double)m.Payload!)));
        Assert.Equal("a", Parts(received[0])["key"]);
        Assert.Equal("object", Parts(received[0])["type"]);
        Assert.Equal(2.0, Parts(received[1])["count"]);
    }

    [Fact]
    public async Task Splits_a_buffer_by_a_byte_separator()
    {
        await using var flow = await StartSplitAsync(Split(splt: "[0]", spltType: "bin"));
        await flow.SendAsync("s", new byte[] { 1, 2, 0, 3 });
        var received = await flow.Capture("out").TakeAsync(2);
        Assert.Equal(new byte[] { 1, 2 }, received[0].Payload);
        Assert.Equal(new byte[] { 3 }, received[1].Payload);
        Assert.Equal("buffer", Parts(received[0])["type"]);
        Assert.Equal(new List<object?> { 0.0 }, Parts(received[0])["ch"]);
    }

    [Fact]
    public async Task Splits_a_buffer_into_fixed_length_chunks()
    {
        await using var flow = await StartSplitAsync(Split(splt: "2", spltType: "len"));
        await flow.SendAsync("s", new byte[] { 1, 2, 3, 4, 5 });
        var received = await flow.Capture("out").TakeAsync(3);
        Assert.Equal(new byte[] { 5 }, received[2].Payload);
        Assert.Equal(3.0, Parts(received[2])["count"]);
    }

    [Fact]
    public async Task Stream_mode_holds_back_the_unterminated_tail()
    {
        await using var flow = await StartSplitAsync(Split(stream: true));
        await flow.SendAsync("s", "one\ntw");
        await flow.SendAsync("s", "o\nthree\n");
        var received = await flow.Capture("out").TakeAsync(3);

        Assert.Equal(["one", "two", "three"], received.Select(m => (string)m.Payload!));
        Assert.Equal([0.0, 1.0, 2.0], received.Select(m => (double)Parts(m)["index"]!));
        Assert.All(received, m => Assert.False(Parts(m).ContainsKey("count")));
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(200)));
    }

    [Fact]
    public async Task An_existing_parts_is_pushed_onto_a_stack()
    {
        await using var flow = await StartSplitAsync(Split());
        var message = FlowMessage.WithPayload("x\ny");
        message["parts"] = new Dictionary<string, object?> { ["id"] = "outer", ["index"] = 4.0, ["count"] = 5.0 };
        await flow.SendAsync("s", message);
        var received = await flow.Capture("out").TakeAsync(2);
        var outer = Assert.IsType<Dictionary<string, object?>>(Parts(received[1])["parts"]);
        Assert.Equal("outer", outer["id"]);
        Assert.NotEqual("outer", Parts(received[1])["id"]);
    }

    [Fact]
    public async Task Empty_arrays_objects_and_scalars_produce_nothing()
    {
        await using var flow = await StartSplitAsync(Split());
        await flow.SendAsync("s", new List<object?>());
        await flow.SendAsync("s", new Dictionary<string, object?>());
        await flow.SendAsync("s", 42.0);
        await flow.SendAsync("s", true);
        await flow.SendAsync("s", new FlowMessage { Topic = "no payload" });
        await flow.SendAsync("s", "last");

        var only = await flow.NextAsync("out");
        Assert.Equal("last", only.Payload);
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(200)));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Splits_another_property_when_configured()
    {
        await using var flow = await StartSplitAsync(new { id = "s", type = "split", splt = ",", spltType = "str", arraySplt = 1, arraySpltType = "len", stream = false, addname = "", property = "data.text", wires = ToOut });
        var message = new FlowMessage { Payload = "kept" };
        message["data"] = new Dictionary<string, object?> { ["text"] = "a,b" };
        await flow.SendAsync("s", message);
        var received = await flow.Capture("out").TakeAsync(2);
        Assert.Equal("b", ((Dictionary<string, object?>)received[1]["data"]!)["text"]);
        Assert.Equal("kept", received[1].Payload);
    }

    [Theory]
    [InlineData("len", "0", "splt")]
    [InlineData("len", "abc", "splt")]
    [InlineData("bin", "[1,", "splt")]
    public void Invalid_separator_is_rejected_naming_the_field(string spltType, string splt, string field)
    {
        var errors = Validate(Flow(new { id = "s", type = "split", name = "Cutter", splt, spltType, wires = ToOut }, new { id = "out", type = "test-capture" }));
        var error = Assert.Single(errors);
        Assert.Equal(("s", field), (error.NodeId, error.Field));
        Assert.Contains("Cutter", error.Text);
    }

    [Fact]
    public void Array_length_below_one_is_rejected()
    {
        var error = Assert.Single(Validate(Flow(new { id = "s", type = "split", arraySplt = 0, wires = ToOut }, new { id = "out", type = "test-capture" })));
        Assert.Equal("arraySplt", error.Field);
    }
}
