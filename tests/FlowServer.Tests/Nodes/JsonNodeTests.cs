using FlowServer.Nodes.Sdk;
using FlowServer.Testing;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Nodes;

public sealed class JsonNodeTests
{
    static Task<FlowTestHarness> StartJsonAsync(string action = "", bool pretty = false, string property = "payload") => StartAsync(Flow(
        new { id = "js", type = "json", name = "Parser", property, action, pretty, wires = new[] { new[] { "out" } } },
        new { id = "out", type = "test-capture" },
        new { id = "c", type = "catch", scope = (string[]?)null, uncaught = false, wires = new[] { new[] { "caught" } } },
        new { id = "caught", type = "test-capture" }));

    [Fact]
    public async Task Converts_both_ways_by_default()
    {
        await using var flow = await StartJsonAsync();
        await flow.SendAsync("js", """{"a":[1,true,null],"b":"x"}""");
        await flow.SendAsync("js", new Dictionary<string, object?> { ["n"] = 1.5, ["s"] = "é" });
        var parsed = await flow.NextAsync("out");
        var text = await flow.NextAsync("out");

        Assert.True(MessageValue.DeepEquals(new Dictionary<string, object?> { ["a"] = new List<object?> { 1.0, true, null }, ["b"] = "x" }, parsed.Payload));
        Assert.Equal("""{"n":1.5,"s":"é"}""", text.Payload);
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Parses_a_buffer_and_a_string_that_holds_a_scalar()
    {
        await using var flow = await StartJsonAsync();
        await flow.SendAsync("js", System.Text.Encoding.UTF8.GetBytes("[1,2]"));
        await flow.SendAsync("js", "42");
        Assert.Equal(new List<object?> { 1.0, 2.0 }, (await flow.NextAsync("out")).Payload);
        Assert.Equal(42.0, (await flow.NextAsync("out")).Payload);
    }

    [Fact]
    public async Task Str_action_keeps_strings_and_pretty_prints_with_four_spaces()
    {
        await using var flow = await StartJsonAsync(action: "str", pretty: true);
        await flow.SendAsync("js", "not json, kept");
        await flow.SendAsync("js", new Dictionary<string, object?> { ["a"] = new List<object?> { 1.0 } });
        Assert.Equal("not json, kept", (await flow.NextAsync("out")).Payload);
        Assert.Equal("{\n    \"a\": [\n        1\n    ]\n}", (await flow.NextAsync("out")).Payload);
    }

    [Fact]
    public async Task Obj_action_keeps_objects()
    {
        await using var flow = await StartJsonAsync(action: "obj");
        var value = new Dictionary<string, object?> { ["k"] = "v" };
        await flow.SendAsync("js", value);
        Assert.Same(value, (await flow.NextAsync("out")).Payload);
    }

    [Fact]
    public async Task Invalid_json_raises_an_error_with_the_message_for_catch()
    {
        await using var flow = await StartJsonAsync();
        await flow.SendAsync("js", "{oops", "bad");
        var caught = await flow.NextAsync("caught");
        var error = Assert.IsType<Dictionary<string, object?>>(caught["error"]);
        Assert.Contains("Invalid JSON", (string)error["message"]!);
        Assert.Equal("bad", caught.Topic);
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(200)));

        await flow.SendAsync("js", "[]"); // the node keeps working
        Assert.Equal(new List<object?>(), (await flow.NextAsync("out")).Payload);
    }

    [Fact]
    public async Task Numbers_are_dropped_and_missing_property_passes_through()
    {
        await using var flow = await StartJsonAsync(property: "data");
        var number = new FlowMessage();
        number["data"] = 5.0;
        await flow.SendAsync("js", number);
        var missing = FlowMessage.WithPayload("untouched");
        await flow.SendAsync("js", missing);
        var received = await flow.NextAsync("out");
        Assert.Same(missing, received);
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(200)));
        flow.AssertNoErrors();
    }

    [Fact]
    public void Unknown_action_is_rejected_naming_the_field()
    {
        var error = Assert.Single(Validate(Flow(new { id = "js", type = "json", action = "yaml", wires = new[] { new[] { "out" } } }, new { id = "out", type = "test-capture" })));
        Assert.Equal(("js", "action"), (error.NodeId, error.Field));
    }
}
