using FlowServer.Nodes.Sdk;
using FlowServer.Testing;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Nodes;

public sealed class SwitchNodeTests
{
    static Task<FlowTestHarness> StartSwitchAsync(object[] rules, bool checkall = true, string property = "payload", string propertyType = "msg")
    {
        var nodes = new List<object>
        {
            new { id = "sw", type = "switch", name = "Router", property, propertyType, rules, checkall = checkall ? "true" : "false", outputs = rules.Length,
                  wires = Enumerable.Range(0, rules.Length).Select(i => new[] { $"out{i}" }).ToArray() },
        };
        for (var i = 0; i < rules.Length; i++) nodes.Add(new { id = $"out{i}", type = "test-capture" });
        return StartAsync(Flow(nodes.ToArray()));
    }

    /// <summary>
    /// Sends each payload and asserts the outputs it comes out of: waits for the expected number
    /// of messages per output (so a slow runtime cannot make it pass or fail), then checks that
    /// nothing more arrives and every payload went exactly where expected.
    /// </summary>
    static async Task AssertRoutesAsync(FlowTestHarness flow, int outputs, params (object? Payload, int[] Ports)[] cases)
    {
        for (var i = 0; i < cases.Length; i++)
        {
            var message = FlowMessage.WithPayload(cases[i].Payload);
            message["case"] = (double)i;
            await flow.SendAsync("sw", message);
        }
        var actual = cases.Select(_ => new List<int>()).ToList();
        for (var port = 0; port < outputs; port++)
        {
            var expected = cases.Count(c => c.Ports.Contains(port));
            foreach (var message in await flow.Capture($"out{port}").TakeAsync(expected))
                actual[(int)(double)message["case"]!].Add(port);
        }
        for (var port = 0; port < outputs; port++)
            Assert.True(await flow.Capture($"out{port}").StaysEmptyAsync(TimeSpan.FromMilliseconds(port == 0 ? 100 : 10)), $"output {port} got more messages than expected");
        for (var i = 0; i < cases.Length; i++)
            Assert.True(cases[i].Ports.SequenceEqual(actual[i]), $"payload {cases[i].Payload ?? "null"} went to [{string.Join(",", actual[i])}], expected [{string.Join(",", cases[i].Ports)}]");
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Comparisons_follow_javascript_loose_semantics()
    {
        await using var flow = await StartSwitchAsync([
            new { t = "eq", v = "5", vt = "num" },
            new { t = "neq", v = "5", vt = "str" },
            new { t = "lt", v = "10", vt = "num" },
            new { t = "gte", v = "b", vt = "str" },
        ]);

        await AssertRoutesAsync(flow, 4,
            (5.0, [0, 2]),
            ("5", [0, 2]),      // "5" == 5 and "5" < 10
            (12.0, [1]),        // 12 != "5", not < 10, 12 >= "b" compares NaN: false
            ("c", [1, 3]),      // "c" >= "b" as text
            ("a", [1]),
            (null, [1, 2]));    // null != "5", null < 10 (null is 0)
    }

    [Fact]
    public async Task Else_matches_only_when_no_earlier_rule_matched()
    {
        await using var flow = await StartSwitchAsync([
            new { t = "gt", v = "100", vt = "num" },
            new { t = "else" },
        ]);
        await AssertRoutesAsync(flow, 2, (150.0, [0]), (50.0, [1]));
    }

    [Fact]
    public async Task Checkall_false_stops_at_the_first_match_and_true_sends_clones_to_all()
    {
        object[] rules = [new { t = "gt", v = "1", vt = "num" }, new { t = "gt", v = "2", vt = "num" }, new { t = "else" }];

        await using (var first = await StartSwitchAsync(rules, checkall: false))
            await AssertRoutesAsync(first, 3, (5.0, [0]), (1.5, [0]), (0.0, [2]));

        await using var all = await StartSwitchAsync(rules, checkall: true);
        var message = FlowMessage.WithPayload(5.0);
        await all.SendAsync("sw", message);
        var a = await all.NextAsync("out0");
        var b = await all.NextAsync("out1");
        Assert.Same(message, a);
        Assert.NotSame(a, b);
        Assert.Equal(a.MessageId, b.MessageId);
        Assert.True(await all.Capture("out2").StaysEmptyAsync(TimeSpan.FromMilliseconds(100)));
    }

    [Fact]
    public async Task Between_is_inclusive_in_either_order()
    {
        await using var flow = await StartSwitchAsync([new { t = "btwn", v = "10", vt = "num", v2 = "1", v2t = "num" }, new { t = "else" }]);
        await AssertRoutesAsync(flow, 2, (1.0, [0]), (10.0, [0]), (5.5, [0]), (0.0, [1]), ("7", [0]), (11.0, [1]));
    }

    [Fact]
    public async Task Regex_and_contains_test_the_text_and_regex_can_ignore_case()
    {
        await using var flow = await StartSwitchAsync([
            new { t = "regex", v = "^temp-\\d+$", vt = "str", @case = true },
            new { t = "regex", v = "^temp", vt = "str", @case = false },
            new { t = "cont", v = "mp", vt = "str" },
        ]);
        await AssertRoutesAsync(flow, 3,
            ("TEMP-12", [0]),   // "mp" is case-sensitive
            ("temp-3", [0, 1, 2]),
            ("lamp", [2]),
            ("cold", []));
    }

    [Fact]
    public async Task Istype_and_null_empty_checks()
    {
        await using var flow = await StartSwitchAsync([
            new { t = "istype", v = "string", vt = "string" },
            new { t = "istype", v = "number", vt = "number" },
            new { t = "istype", v = "array", vt = "array" },
            new { t = "istype", v = "buffer", vt = "buffer" },
            new { t = "istype", v = "object", vt = "object" },
            new { t = "istype", v = "json", vt = "json" },
            new { t = "null" },
            new { t = "empty" },
            new { t = "true" },
        ]);
        await AssertRoutesAsync(flow, 9,
            ("x", [0]),
            (1.0, [1]),
            (new List<object?>(), [2, 7]),
            (new byte[] { 1 }, [3]),
            (new Dictionary<string, object?> { ["a"] = 1.0 }, [4]),
            ("{\"a\":1}", [0, 5]),
            (null, [6]),
            ("", [0, 7]),
            (true, [8]));
    }

    [Fact]
    public async Task A_rule_can_compare_with_another_msg_property_and_test_a_flow_property()
    {
        await using var flow = await StartSwitchAsync([new { t = "gt", v = "limit", vt = "msg" }, new { t = "else" }]);
        var message = FlowMessage.WithPayload(20.0);
        message["limit"] = 10.0;
        await flow.SendAsync("sw", message);
        Assert.Same(message, await flow.NextAsync("out0"));

        await using var byFlow = await StartSwitchAsync([new { t = "eq", v = "on", vt = "str" }, new { t = "else" }], property: "mode", propertyType: "flow");
        byFlow.Runtime.Find("sw")!.FlowContext.Set("mode", "on");
        await byFlow.SendAsync("sw", "anything");
        await byFlow.NextAsync("out0");
    }

    [Fact]
    public async Task Head_and_index_use_the_message_sequence_position()
    {
        await using var flow = await StartSwitchAsync([new { t = "head", v = "2", vt = "num" }, new { t = "index", v = "2", vt = "num", v2 = "3", v2t = "num" }]);
        for (var i = 0; i < 4; i++)
        {
            var message = FlowMessage.WithPayload((double)i);
            message["parts"] = new Dictionary<string, object?> { ["index"] = (double)i, ["count"] = 4.0 };
            await flow.SendAsync("sw", message);
        }
        Assert.Equal([0.0, 1.0], (await flow.Capture("out0").TakeAsync(2)).Select(m => m.Payload));
        Assert.Equal([2.0, 3.0], (await flow.Capture("out1").TakeAsync(2)).Select(m => m.Payload));
    }

    [Fact]
    public async Task Tail_uses_the_sequence_count()
    {
        await using var flow = await StartSwitchAsync([new { t = "tail", v = "2", vt = "num" }, new { t = "else" }]);
        for (var i = 0; i < 4; i++)
        {
            var message = FlowMessage.WithPayload((double)i);
            message["parts"] = new Dictionary<string, object?> { ["index"] = (double)i, ["count"] = 4.0 };
            await flow.SendAsync("sw", message);
        }
        Assert.Equal([2.0, 3.0], (await flow.Capture("out0").TakeAsync(2)).Select(m => m.Payload));
        Assert.Equal([0.0, 1.0], (await flow.Capture("out1").TakeAsync(2)).Select(m => m.Payload));
    }

    static Dictionary<string, object?> V(object? value) => new() { ["v"] = value };

    [Fact]
    public async Task Lte_false_nnull_nempty_istype_hask_on_arrays_and_prev_follow_Node_RED()
    {
        await using var flow = await StartSwitchAsync([
            new { t = "lte", v = "3", vt = "num" },
            new { t = "false" },
            new { t = "nnull" },
            new { t = "nempty" },
            new { t = "istype", v = "boolean", vt = "boolean" },
            new { t = "istype", v = "null", vt = "null" },
            new { t = "istype", v = "undefined", vt = "undefined" },
            new { t = "hask", v = "1", vt = "str" },
            new { t = "gt", v = "", vt = "prev" },
        ], property: "payload.v");
        // The same cases run against Node-RED in the differential case switch-more.
        await AssertRoutesAsync(flow, 9,
            (V(3.0), [0, 2, 8]),                            // prev starts as null: 3 > null
            (V(false), [0, 1, 2, 4]),                       // false <= 3 (0 <= 3)
            (V(null), [0, 5]),                              // null <= 3; nnull excludes null
            (new Dictionary<string, object?>(), [6]),       // undefined: no comparison holds
            (V(new List<object?> { 1.0, 2.0 }), [2, 3, 7]), // an array has own property "1"; x > undefined is false
            (V("ab"), [2, 3, 7, 8]),                        // so has a string; "ab" > "1,2" as text
            (V(new List<object?>()), [0, 2]),               // [] is "" is 0
            (V(5.0), [2, 8]),
            (V(new Dictionary<string, object?> { ["1"] = true }), [2, 3, 7]));
    }

    [Fact]
    public async Task The_tested_property_may_be_an_env_variable()
    {
        var json = """
            [{"id":"tab1","type":"tab","env":[{"name":"MODE","value":"night","type":"str"}]},
             {"id":"sw","type":"switch","z":"tab1","property":"MODE","propertyType":"env","rules":[{"t":"eq","v":"night","vt":"str"},{"t":"else"}],"checkall":"true","outputs":2,"wires":[["out0"],["out1"]]},
             {"id":"out0","type":"test-capture","z":"tab1"},{"id":"out1","type":"test-capture","z":"tab1"}]
            """;
        await using var flow = await StartAsync(json);
        await flow.SendAsync("sw", "any");
        Assert.Equal("any", (await flow.NextAsync("out0")).Payload);
        Assert.True(await flow.Capture("out1").StaysEmptyAsync(TimeSpan.FromMilliseconds(100)));
    }

    [Fact]
    public void Invalid_rules_and_jsonata_are_refused_at_deploy_naming_node_and_field()
    {
        var errors = Validate(Flow(new
        {
            id = "sw", type = "switch", name = "Bad", property = "payload", propertyType = "msg", outputs = 3,
            rules = new object[]
            {
                new { t = "regex", v = "([", vt = "str" },
                new { t = "jsonata_exp", v = "payload >", vt = "jsonata" },
                new { t = "eq", v = "abc", vt = "num" },
            },
        }));
        Assert.All(errors, e => Assert.Equal("sw", e.NodeId));
        Assert.Contains(errors, e => e.Text.StartsWith("switch 'Bad' (sw): rules[0].v invalid regular expression", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Message.StartsWith("rules[1].v invalid JSONata expression", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Message.StartsWith("rules[2].v 'abc' is not a number", StringComparison.Ordinal));

        var jsonata = Validate(Flow(new { id = "sw2", type = "switch", property = "$sum(payload", propertyType = "jsonata", rules = new[] { new { t = "else" } } }));
        Assert.Contains(jsonata, e => e is { NodeId: "sw2", Field: "property" } && e.Message.Contains("JSONata"));

        var tooFew = Validate(Flow(new { id = "sw3", type = "switch", rules = new[] { new { t = "true" }, new { t = "else" } } }));
        Assert.Contains(tooFew, e => e is { NodeId: "sw3", Field: "outputs" });
    }

    [Fact]
    public void Default_options_are_valid()
    {
        Assert.Empty(Validate(Flow(new { id = "sw", type = "switch" })));
        Assert.True(Catalog.TryGet("switch", out var info));
        Assert.All(info.Descriptor.Properties, p => Assert.False(string.IsNullOrEmpty(p.Help)));
    }
}
