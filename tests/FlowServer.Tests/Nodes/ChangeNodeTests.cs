using FlowServer.Nodes.Sdk;
using FlowServer.Testing;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Nodes;

public sealed class ChangeNodeTests
{
    static Task<FlowTestHarness> StartChangeAsync(params object[] rules) => StartAsync(Flow(
        new { id = "ch", type = "change", name = "Changer", rules, wires = new[] { new[] { "out" } } },
        new { id = "out", type = "test-capture" }));

    static async Task<FlowMessage> RunAsync(FlowTestHarness flow, FlowMessage message)
    {
        await flow.SendAsync("ch", message);
        var output = await flow.NextAsync("out");
        flow.AssertNoErrors();
        return output;
    }

    [Fact]
    public async Task Set_writes_typed_values_into_nested_properties()
    {
        await using var flow = await StartChangeAsync(
            new { t = "set", p = "payload.text", pt = "msg", to = "hello", tot = "str" },
            new { t = "set", p = "payload.n", pt = "msg", to = "42.5", tot = "num" },
            new { t = "set", p = "payload.flag", pt = "msg", to = "true", tot = "bool" },
            new { t = "set", p = "payload.obj", pt = "msg", to = """{"a":[1,2],"b":null}""", tot = "json" },
            new { t = "set", p = "payload.bytes", pt = "msg", to = "[1,2,255]", tot = "bin" },
            new { t = "set", p = "copy", pt = "msg", to = "payload.obj", tot = "msg" },
            new { t = "set", p = "items[1]", pt = "msg", to = "second", tot = "str" });

        var output = await RunAsync(flow, FlowMessage.WithPayload(new Dictionary<string, object?>()));

        var payload = Assert.IsType<Dictionary<string, object?>>(output.Payload);
        Assert.Equal("hello", payload["text"]);
        Assert.Equal(42.5, payload["n"]);
        Assert.Equal(true, payload["flag"]);
        Assert.Equal(new Dictionary<string, object?> { ["a"] = new List<object?> { 1.0, 2.0 }, ["b"] = null }, payload["obj"]);
        Assert.Equal(new byte[] { 1, 2, 255 }, payload["bytes"]);
        Assert.Equal(payload["obj"], output["copy"]);
        Assert.NotSame(payload["obj"], output["copy"]);
        Assert.Equal(new List<object?> { null, "second" }, output["items"]);
    }

    [Fact]
    public async Task Set_flow_and_global_and_read_them_back_in_a_later_rule()
    {
        await using var flow = await StartChangeAsync(
            new { t = "set", p = "count", pt = "flow", to = "payload", tot = "msg" },
            new { t = "set", p = "user.name", pt = "global", to = "Ada", tot = "str" },
            new { t = "set", p = "fromFlow", pt = "msg", to = "count", tot = "flow" },
            new { t = "set", p = "fromGlobal", pt = "msg", to = "user.name", tot = "global" });

        var output = await RunAsync(flow, FlowMessage.WithPayload(3.0));

        Assert.Equal(3.0, output["fromFlow"]);
        Assert.Equal("Ada", output["fromGlobal"]);
        Assert.Equal(3.0, flow.Runtime.Find("ch")!.FlowContext.Get("count"));
    }

    [Fact]
    public async Task Set_from_a_missing_property_deletes_the_target()
    {
        await using var flow = await StartChangeAsync(new { t = "set", p = "topic", pt = "msg", to = "nothing.here", tot = "msg" });
        var output = await RunAsync(flow, FlowMessage.WithPayload(1.0, "t"));
        Assert.False(output.Properties.ContainsKey("topic"));
    }

    [Fact]
    public async Task Change_replaces_every_substring_and_regex_match_with_groups()
    {
        await using var flow = await StartChangeAsync(
            new { t = "change", p = "payload", pt = "msg", from = "a.b", fromt = "str", to = "X", tot = "str" },
            new { t = "change", p = "topic", pt = "msg", from = @"(\w+)/(\d+)", fromt = "re", to = "$2-$1", tot = "str" });

        var output = await RunAsync(flow, FlowMessage.WithPayload("a.b aXb a.b", "line/7"));

        Assert.Equal("X aXb X", output.Payload); // the dot is literal in a str search
        Assert.Equal("7-line", output.Topic);
    }

    [Fact]
    public async Task Change_of_an_exact_match_replaces_the_value_with_its_type()
    {
        await using var flow = await StartChangeAsync(
            new { t = "change", p = "payload.state", pt = "msg", from = "on", fromt = "str", to = "true", tot = "bool" },
            new { t = "change", p = "payload.code", pt = "msg", from = "5", fromt = "num", to = "five", tot = "str" },
            new { t = "change", p = "payload.other", pt = "msg", from = "5", fromt = "num", to = "five", tot = "str" },
            new { t = "change", p = "payload.flag", pt = "msg", from = "false", fromt = "bool", to = "0", tot = "num" });

        var output = await RunAsync(flow, FlowMessage.WithPayload(new Dictionary<string, object?>
        {
            ["state"] = "on", ["code"] = 5.0, ["other"] = 6.0, ["flag"] = false,
        }));

        var payload = (Dictionary<string, object?>)output.Payload!;
        Assert.Equal(true, payload["state"]);
        Assert.Equal("five", payload["code"]);
        Assert.Equal(6.0, payload["other"]);
        Assert.Equal(0.0, payload["flag"]);
    }

    [Fact]
    public async Task Change_can_take_the_search_value_from_a_property()
    {
        await using var flow = await StartChangeAsync(new { t = "change", p = "payload", pt = "msg", from = "needle", fromt = "msg", to = "*", tot = "str" });
        var message = FlowMessage.WithPayload("find the pin, the pin!");
        message["needle"] = "pin";
        Assert.Equal("find the *, the *!", (await RunAsync(flow, message)).Payload);
    }

    [Fact]
    public async Task Delete_and_move_remove_and_relocate_properties()
    {
        await using var flow = await StartChangeAsync(
            new { t = "delete", p = "payload.secret", pt = "msg" },
            new { t = "move", p = "payload.value", pt = "msg", to = "result.value", tot = "msg" },
            new { t = "move", p = "topic", pt = "msg", to = "lastTopic", tot = "flow" });

        var output = await RunAsync(flow, FlowMessage.WithPayload(new Dictionary<string, object?> { ["secret"] = "x", ["value"] = 9.0, ["keep"] = 1.0 }, "a/b"));

        Assert.Equal(new Dictionary<string, object?> { ["keep"] = 1.0 }, output.Payload);
        Assert.Equal(new Dictionary<string, object?> { ["value"] = 9.0 }, output["result"]);
        Assert.False(output.Properties.ContainsKey("topic"));
        Assert.Equal("a/b", flow.Runtime.Find("ch")!.FlowContext.Get("lastTopic"));
    }

    [Fact]
    public async Task Setting_through_a_scalar_is_an_error_routed_to_catch()
    {
        await using var flow = await StartAsync(Flow(
            new { id = "ch", type = "change", rules = new[] { new { t = "set", p = "payload.inner", pt = "msg", to = "x", tot = "str" } }, wires = new[] { new[] { "out" } } },
            new { id = "out", type = "test-capture" },
            new { id = "c", type = "catch", wires = new[] { new[] { "caught" } } },
            new { id = "caught", type = "test-capture" }));
        await flow.SendAsync("ch", "a string");
        var caught = await flow.NextAsync("caught");
        Assert.Contains("payload.inner", (string)((Dictionary<string, object?>)caught["error"]!)["message"]!);
    }

    [Fact]
    public void Invalid_rules_are_refused_at_deploy_naming_node_and_rule()
    {
        var errors = Validate(Flow(new
        {
            id = "ch", type = "change", name = "Bad",
            rules = new object[]
            {
                new { t = "set", p = "", pt = "msg", to = "x", tot = "str" },
                new { t = "change", p = "payload", pt = "msg", from = "([", fromt = "re", to = "", tot = "str" },
                new { t = "set", p = "payload", pt = "msg", to = "$.x(", tot = "jsonata" },
                new { t = "set", p = "payload", pt = "msg", to = "{nope", tot = "json" },
                new { t = "move", p = "payload", pt = "msg", to = "x", tot = "str" },
                new { t = "rename", p = "payload" },
            },
        }));

        Assert.All(errors, e => Assert.Equal("ch", e.NodeId));
        Assert.Contains(errors, e => e.Text == "change 'Bad' (ch): rules[0].p is required");
        Assert.Contains(errors, e => e.Message.StartsWith("rules[1].from invalid regular expression", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Message.StartsWith("rules[2].to invalid JSONata expression", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Message.StartsWith("rules[3].to invalid JSON", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Message.StartsWith("rules[4].tot must be msg, flow or global", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Message.StartsWith("rules[5].t must be", StringComparison.Ordinal));
        Assert.Equal(6, errors.Count);
    }

    [Fact]
    public async Task Quoted_paths_env_date_and_deep_clone_values_and_store_prefixed_context_keys()
    {
        var json = """
            [{"id":"tab1","type":"tab","env":[{"name":"SITE","value":"plant7","type":"str"}]},
             {"id":"ch","type":"change","z":"tab1","rules":[
               {"t":"set","p":"payload[\"x y\"]","pt":"msg","to":"spaced","tot":"str"},
               {"t":"set","p":"site","pt":"msg","to":"SITE","tot":"env"},
               {"t":"set","p":"label","pt":"msg","to":"${SITE}/line","tot":"env"},
               {"t":"set","p":"stamp","pt":"msg","to":"","tot":"date"},
               {"t":"set","p":"copy","pt":"msg","to":"payload.inner","tot":"msg","dc":true},
               {"t":"set","p":"#:(file)::count","pt":"flow","to":"5","tot":"num"},
               {"t":"set","p":"count","pt":"msg","to":"#:(memory)::count","tot":"flow"}],"wires":[["out"]]},
             {"id":"out","type":"test-capture","z":"tab1"}]
            """;
        await using var flow = await StartAsync(json);
        var input = FlowMessage.WithPayload(new Dictionary<string, object?> { ["inner"] = new Dictionary<string, object?> { ["v"] = 1.0 } });
        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var output = await RunAsync(flow, input);

        var payload = Assert.IsType<Dictionary<string, object?>>(output.Payload);
        Assert.Equal("spaced", payload["x y"]);
        Assert.Equal(("plant7", "plant7/line"), (output["site"], output["label"]));
        Assert.InRange(Assert.IsType<double>(output["stamp"]), before, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        Assert.Equal(payload["inner"], output["copy"]);
        Assert.NotSame(payload["inner"], output["copy"]);
        Assert.Equal(5.0, flow.Runtime.Find("ch")!.FlowContext.Get("count"));
        Assert.Equal(5.0, output["count"]);
    }

    [Fact]
    public async Task Change_takes_its_search_value_from_flow_global_or_env()
    {
        var json = """
            [{"id":"tab1","type":"tab","env":[{"name":"OLD","value":"beta","type":"str"}]},
             {"id":"ch","type":"change","z":"tab1","rules":[
               {"t":"change","p":"payload","pt":"msg","from":"word","fromt":"flow","to":"A","tot":"str"},
               {"t":"change","p":"payload","pt":"msg","from":"word","fromt":"global","to":"G","tot":"str"},
               {"t":"change","p":"payload","pt":"msg","from":"OLD","fromt":"env","to":"E","tot":"str"}],"wires":[["out"]]},
             {"id":"out","type":"test-capture","z":"tab1"}]
            """;
        await using var flow = await StartAsync(json);
        var host = flow.Runtime.Find("ch")!;
        host.FlowContext.Set("word", "alpha");
        host.GlobalContext.Set("word", "gamma");
        Assert.Equal("A G E A", (await RunAsync(flow, FlowMessage.WithPayload("alpha gamma beta alpha"))).Payload);
    }

    [Fact]
    public void A_node_in_the_format_before_Node_RED_0_18_is_refused_naming_the_field()
    {
        var error = Assert.Single(Validate(Flow(new { id = "old", type = "change", name = "Legacy", action = "replace", property = "payload", from = "", to = "x", reg = false })));
        Assert.Equal(("old", "rules"), (error.NodeId, error.Field));
        Assert.Contains("before 0.18", error.Message);
        // A current node carries an empty action next to its rules.
        Assert.Empty(Validate(Flow(new { id = "new", type = "change", action = "", rules = new[] { new { t = "set", p = "payload", pt = "msg", to = "x", tot = "str" } } })));
    }

    [Fact]
    public void Default_options_are_valid()
    {
        Assert.Empty(Validate(Flow(new { id = "ch", type = "change" })));
        Assert.True(Catalog.TryGet("change", out var info));
        Assert.All(info.Descriptor.Properties, p => Assert.False(string.IsNullOrEmpty(p.Help)));
    }
}
