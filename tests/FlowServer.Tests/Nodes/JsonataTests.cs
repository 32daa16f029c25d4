using FlowServer.Nodes.Sdk;
using FlowServer.Testing;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Nodes;

/// <summary>JSONata (the npm package run by Jint) wherever Node-RED's nodes take it.</summary>
public sealed class JsonataTests
{
    [Fact]
    public void Expressions_evaluate_against_the_message_with_jsonata_semantics()
    {
        var message = FlowMessage.WithPayload(new List<object?> { 1.0, 2.0, 3.5 }, "plant/line1");
        Assert.Equal(6.5, JsonataExpression.Compile("$sum(payload)").Evaluate(message, null));
        Assert.Equal("PLANT/LINE1 has 3", JsonataExpression.Compile("$uppercase(topic) & ' has ' & $count(payload)").Evaluate(message, null));
        Assert.Equal(new List<object?> { 2.0, 4.0, 7.0 }, JsonataExpression.Compile("payload.($ * 2)").Evaluate(message, null));
        Assert.Equal(new Dictionary<string, object?> { ["n"] = 3.0, ["max"] = 3.5 }, JsonataExpression.Compile("{'n': $count(payload), 'max': $max(payload)}").Evaluate(message, null));
        Assert.Null(JsonataExpression.Compile("missing.field").Evaluate(message, null));
        Assert.Equal(10.0, JsonataExpression.Compile("$A + $N").Evaluate(message, null, new Dictionary<string, object?> { ["A"] = 7.0, ["N"] = 3.0 }));
    }

    [Fact]
    public void An_expression_that_names_msg_is_evaluated_against_msg_as_in_Node_RED()
    {
        var message = FlowMessage.WithPayload(new Dictionary<string, object?> { ["v"] = 4.0, ["msg"] = "inner" }, "plant/line1");
        Assert.Equal(8.0, JsonataExpression.Compile("msg.payload.v * 2").Evaluate(message, null));
        Assert.Equal("plant/line1", JsonataExpression.Compile("$string(msg.topic)").Evaluate(message, null));
        // `msg` inside a longer name, a path step or a string does not switch to {msg: …}.
        Assert.Equal("inner", JsonataExpression.Compile("payload.msg").Evaluate(message, null));
        Assert.Equal("msg!", JsonataExpression.Compile("'msg' & '!'").Evaluate(message, null));
        Assert.Equal(5.0, JsonataExpression.Compile("payload.v + 1").Evaluate(message, null));
        // As Node-RED: $env of a variable that is not set is "".
        Assert.Equal("[]", JsonataExpression.Compile("'[' & $env('FLOWSERVER_TEST_UNSET_VARIABLE') & ']'").Evaluate(message, null));
    }

    [Fact]
    public async Task Context_functions_take_a_store_name_and_moment_is_refused_at_deploy()
    {
        await using var flow = await StartAsync(Flow(
            new
            {
                id = "ch", type = "change", wires = new[] { new[] { "out" } },
                rules = new object[]
                {
                    new { t = "set", p = "factor", pt = "flow", to = "3", tot = "num" },
                    new { t = "set", p = "limit", pt = "global", to = "10", tot = "num" },
                    new { t = "set", p = "payload", pt = "msg", to = "msg.payload * $flowContext('factor', 'memory') + $globalContext('limit', 'memory')", tot = "jsonata" },
                },
            },
            new { id = "out", type = "test-capture" }));
        await flow.SendAsync("ch", 2.0);
        Assert.Equal(16.0, (await flow.NextAsync("out")).Payload);
        flow.AssertNoErrors();

        var errors = Validate(Flow(new { id = "m", type = "change", name = "stamp", rules = new[] { new { t = "set", p = "payload", pt = "msg", to = "$moment().format('YYYY')", tot = "jsonata" } } }));
        var error = Assert.Single(errors);
        Assert.Equal(("m", "rules"), (error.NodeId, error.Field));
        Assert.Contains("$moment", error.Message);
    }

    [Fact]
    public void A_bad_expression_is_refused_at_deploy_naming_node_and_field()
    {
        var errors = Validate(Flow(
            new { id = "ch", type = "change", rules = new[] { new { t = "set", p = "payload", pt = "msg", to = "$sum(payload", tot = "jsonata" } } },
            new { id = "sw", type = "switch", property = "payload", propertyType = "msg", rules = new[] { new { t = "jsonata_exp", v = "payload >", vt = "jsonata" } }, outputs = 1 }));
        Assert.Contains(errors, e => e.NodeId == "ch" && e.Field == "rules" && e.Message.Contains("JSONata"));
        Assert.Contains(errors, e => e.NodeId == "sw" && e.Field == "rules" && e.Message.Contains("JSONata"));
    }

    [Fact]
    public async Task Change_sets_a_property_to_an_expression_with_flow_context()
    {
        await using var flow = await StartAsync(Flow(
            new
            {
                id = "ch", type = "change", wires = new[] { new[] { "out" } },
                rules = new object[]
                {
                    new { t = "set", p = "factor", pt = "flow", to = "3", tot = "num" },
                    new { t = "set", p = "payload", pt = "msg", to = "{'total': $sum(payload.values) * $flowContext('factor'), 'line': $split(topic, '/')[1]}", tot = "jsonata" },
                },
            },
            new { id = "out", type = "test-capture" }));
        await flow.SendAsync("ch", new Dictionary<string, object?> { ["values"] = new List<object?> { 1.0, 2.0 } }, "plant/line4");
        var output = await flow.NextAsync("out");
        Assert.Equal(new Dictionary<string, object?> { ["total"] = 9.0, ["line"] = "line4" }, output.Payload);
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Switch_routes_by_a_jsonata_rule_and_by_a_jsonata_property()
    {
        await using var flow = await StartAsync(Flow(
            new
            {
                id = "sw", type = "switch", property = "payload", propertyType = "msg", checkall = "true", outputs = 2,
                rules = new object[] { new { t = "jsonata_exp", v = "$count(payload) > 2", vt = "jsonata" }, new { t = "else" } },
                wires = new[] { new[] { "many" }, new[] { "few" } },
            },
            new
            {
                id = "sw2", type = "switch", property = "$sum(payload)", propertyType = "jsonata", outputs = 1,
                rules = new object[] { new { t = "gt", v = "10", vt = "num" } },
                wires = new[] { new[] { "big" } },
            },
            new { id = "many", type = "test-capture" },
            new { id = "few", type = "test-capture" },
            new { id = "big", type = "test-capture" }));

        await flow.SendAsync("sw", new List<object?> { 1.0, 2.0, 3.0 });
        await flow.SendAsync("sw", new List<object?> { 1.0 });
        Assert.Equal(new List<object?> { 1.0, 2.0, 3.0 }, (await flow.NextAsync("many")).Payload);
        Assert.Equal(new List<object?> { 1.0 }, (await flow.NextAsync("few")).Payload);

        await flow.SendAsync("sw2", new List<object?> { 4.0, 5.0 });
        await flow.SendAsync("sw2", new List<object?> { 6.0, 7.0 });
        Assert.Equal(new List<object?> { 6.0, 7.0 }, (await flow.NextAsync("big")).Payload);
        Assert.True(await flow.Capture("big").StaysEmptyAsync(TimeSpan.FromMilliseconds(200)));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Inject_payload_can_be_an_expression()
    {
        await using var flow = await StartAsync(Flow(
            new { id = "in", type = "inject", props = new[] { new { p = "payload" } }, payload = "[1..4].($ * $)", payloadType = "jsonata", wires = new[] { new[] { "out" } } },
            new { id = "out", type = "test-capture" }));
        await flow.TriggerAsync("in");
        Assert.Equal(new List<object?> { 1.0, 4.0, 9.0, 16.0 }, (await flow.NextAsync("out")).Payload);
    }

    [Fact]
    public async Task A_runaway_expression_fails_on_its_node_within_the_limit_and_the_next_message_runs()
    {
        await using var flow = await StartAsync(Flow(
            new
            {
                id = "ch", type = "change", wires = new[] { new[] { "out" } },
                rules = new[] { new { t = "set", p = "payload", pt = "msg", to = "payload = 'loop' ? $count([1..10000000].($string($))) : payload * 2", tot = "jsonata" } },
            },
            new { id = "out", type = "test-capture" }));
        var started = DateTime.UtcNow;
        await flow.SendAsync("ch", "loop");
        var error = await flow.WaitForErrorAsync("JSONata", TimeSpan.FromSeconds(20));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(15), $"the expression ran {(DateTime.UtcNow - started).TotalSeconds:0.0} s");
        Assert.Contains("ch", error);
        await flow.SendAsync("ch", 21.0);
        Assert.Equal(42.0, (await flow.NextAsync("out")).Payload);
    }
}
