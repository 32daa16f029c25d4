using FlowServer.Nodes.Sdk;
using FlowServer.Testing;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Nodes;

public sealed class TemplateNodeTests
{
    static Task<FlowTestHarness> StartTemplateAsync(string template, string output = "str", string syntax = "mustache", string field = "payload", string fieldType = "msg") =>
        StartAsync(Flow(
            new { id = "t", type = "template", name = "Tpl", field, fieldType, format = "handlebars", syntax, template, output, wires = new[] { new[] { "out" } } },
            new { id = "out", type = "test-capture" },
            new { id = "c", type = "catch", scope = (string[]?)null, wires = new[] { new[] { "caught" } } },
            new { id = "caught", type = "test-capture" }));

    static async Task<object?> RenderAsync(FlowTestHarness flow, FlowMessage message)
    {
        await flow.SendAsync("t", message);
        return (await flow.NextAsync("out")).Payload;
    }

    static Dictionary<string, object?> Map(params (string Key, object? Value)[] entries) => entries.ToDictionary(e => e.Key, e => e.Value);

    [Fact]
    public async Task Fills_tags_from_the_message()
    {
        await using var flow = await StartTemplateAsync("Hello {{payload.name}} on {{topic}}!");
        Assert.Equal("Hello World on greet!", await RenderAsync(flow, FlowMessage.WithPayload(Map(("name", "World")), "greet")));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Double_braces_escape_html_like_mustache_js_and_triple_braces_do_not()
    {
        await using var flow = await StartTemplateAsync("{{payload}}|{{{payload}}}");
        Assert.Equal("&lt;a href&#x3D;&#39;x&#x2F;y&#39;&gt; &amp; &quot;|<a href='x/y'> & \"", await RenderAsync(flow, FlowMessage.WithPayload("<a href='x/y'> & \"")));
    }

    [Fact]
    public async Task Values_print_as_javascript_prints_them()
    {
        await using var flow = await StartTemplateAsync("{{payload.n}} {{payload.f}} {{payload.b}} [{{payload.o}}] [{{payload.a}}] [{{payload.none}}] [{{payload.nul}}]");
        var payload = Map(("n", 3.0), ("f", 1.5), ("b", true), ("o", Map(("x", 1.0))), ("a", new List<object?> { 1.0, "two", null }), ("nul", null));
        Assert.Equal("3 1.5 true [[object Object]] [1,two,] [] []", await RenderAsync(flow, FlowMessage.WithPayload(payload)));
    }

    [Fact]
    public async Task Sections_iterate_lists_and_inverted_sections_render_for_empty_ones()
    {
        await using var flow = await StartTemplateAsync("{{#payload.items}}<{{name}}:{{payload.unit}}>{{/payload.items}}{{^payload.empty}}none{{/payload.empty}}{{#payload.zero}}hidden{{/payload.zero}}");
        var payload = Map(("items", new List<object?> { Map(("name", "a")), Map(("name", "b")) }), ("unit", "kg"), ("empty", new List<object?>()), ("zero", 0.0));
        // Inside a section, names not found on the item are looked up outward (payload.unit).
        Assert.Equal("<a:kg><b:kg>none", await RenderAsync(flow, FlowMessage.WithPayload(payload)));
    }

    [Fact]
    public async Task Flow_global_and_env_tags_read_context_and_environment()
    {
        var json = """
            [{"id":"tab1","type":"tab","label":"T","env":[{"name":"SITE","value":"plant-a","type":"str"}]},
             {"id":"save","type":"template","z":"tab1","field":"line","fieldType":"flow","syntax":"plain","template":"L3","output":"str","wires":[["t"]]},
             {"id":"t","type":"template","z":"tab1","field":"payload","fieldType":"msg","syntax":"mustache","template":"{{flow.line}}/{{global.plant.name}}/{{env.SITE}}/{{payload}}","output":"str","wires":[["out"]]},
             {"id":"out","type":"test-capture","z":"tab1"}]
            """;
        await using var flow = await StartAsync(json);
        flow.Runtime.GlobalContext.Set("plant", Map(("name", "Berlin")));
        await flow.SendAsync("save", "p");
        Assert.Equal("L3/Berlin/plant-a/p", (await flow.NextAsync("out")).Payload);
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Json_output_is_parsed_and_inserted_strings_are_escaped_for_json()
    {
        await using var flow = await StartTemplateAsync("""{"value": {{payload.v}}, "note": "{{{payload.note}}}"}""", output: "json");
        var result = await RenderAsync(flow, FlowMessage.WithPayload(Map(("v", 42.0), ("note", "line1\nline2 \\ done"))));
        var parsed = Assert.IsType<Dictionary<string, object?>>(result);
        Assert.Equal(42.0, parsed["value"]);
        Assert.Equal("line1\nline2 \\ done", parsed["note"]);
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Json_output_that_does_not_parse_is_an_error_with_the_message()
    {
        await using var flow = await StartTemplateAsync("{ not json {{payload}} }", output: "json");
        await flow.SendAsync("t", "x", "tp");
        var caught = await flow.NextAsync("caught");
        var error = (Dictionary<string, object?>)caught["error"]!;
        Assert.Contains("not valid JSON", (string)error["message"]!);
        Assert.Equal("tp", caught.Topic);
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(100)));
    }

    [Fact]
    public async Task Plain_syntax_leaves_tags_alone()
    {
        await using var flow = await StartTemplateAsync("{{payload}} stays", syntax: "plain");
        Assert.Equal("{{payload}} stays", await RenderAsync(flow, FlowMessage.WithPayload("x")));
    }

    [Fact]
    public async Task An_empty_template_takes_msg_template_and_the_result_can_go_to_another_property()
    {
        await using var flow = await StartTemplateAsync("", field: "result.text");
        var message = FlowMessage.WithPayload("P");
        message["template"] = "got {{payload}}";
        await flow.SendAsync("t", message);
        var output = await flow.NextAsync("out");
        Assert.Equal("got P", ((Dictionary<string, object?>)output["result"]!)["text"]);
        Assert.Equal("P", output.Payload);
    }

    [Fact]
    public async Task Yaml_output_parses_the_rendered_text_with_typed_scalars()
    {
        await using var flow = await StartTemplateAsync("line: {{payload.line}}\nspeed: {{payload.speed}}\nrunning: true\nnote: ~\ntags:\n  - a\n  - '7'\n", output: "yaml");
        var value = await RenderAsync(flow, FlowMessage.WithPayload(Map(("line", "L3"), ("speed", 12.5))));
        Assert.Equal(Map(("line", "L3"), ("speed", 12.5), ("running", true), ("note", null), ("tags", new List<object?> { "a", "7" })), value);
    }

    [Fact]
    public void Unknown_field_types_are_refused()
    {
        var errors = Validate(Flow(
            new { id = "b", type = "template", template = "x", field = "p", fieldType = "jsonata", wires = new[] { Array.Empty<string>() } }));
        Assert.Contains(errors, e => e is { NodeId: "b", Field: "fieldType" });
    }
}
