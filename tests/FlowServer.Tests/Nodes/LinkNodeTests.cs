using FlowServer.Nodes.Sdk;
using FlowServer.Testing;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Nodes;

public sealed class LinkNodeTests
{
    // Two tabs: callers on "a", called flows on "b", as Node-RED exports them.
    const string TwoTabs = """
        {"id":"a","type":"tab","label":"Callers"},
        {"id":"b","type":"tab","label":"Services"},
        {"id":"catcher","type":"catch","z":"a","scope":null,"wires":[["caught"]]},
        {"id":"caught","type":"test-capture","z":"a"}
        """;

    [Fact]
    public async Task Link_out_sends_to_link_in_nodes_on_other_tabs_with_copies_for_the_second()
    {
        await using var flow = await StartAsync($$"""
            [{{TwoTabs}},
             {"id":"lo","type":"link out","z":"a","mode":"link","links":["li1","li2"],"wires":[]},
             {"id":"li1","type":"link in","z":"b","links":["lo"],"wires":[["out1"]]},
             {"id":"li2","type":"link in","z":"a","links":["lo"],"wires":[["out2"]]},
             {"id":"out1","type":"test-capture","z":"b"},
             {"id":"out2","type":"test-capture","z":"a"}]
            """);
        var message = FlowMessage.WithPayload(new Dictionary<string, object?> { ["v"] = 1.0 }, "t");
        await flow.SendAsync("lo", message);
        var one = await flow.NextAsync("out1");
        var two = await flow.NextAsync("out2");
        Assert.Same(message, one);
        Assert.NotSame(one.Payload, two.Payload);
        Assert.Equal("t", two.Topic);
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Link_call_gets_the_response_of_the_called_flow_and_removes_its_return_address()
    {
        await using var flow = await StartAsync($$"""
            [{{TwoTabs}},
             {"id":"call","type":"link call","z":"a","links":["svc"],"linkType":"static","timeout":"5","wires":[["out"]]},
             {"id":"out","type":"test-capture","z":"a"},
             {"id":"svc","type":"link in","z":"b","name":"service","links":[],"wires":[["work"]]},
             {"id":"work","type":"test-mark","z":"b","mark":"served","wires":[["ret"]]},
             {"id":"ret","type":"link out","z":"b","mode":"return","links":[],"wires":[]}]
            """);
        for (var i = 0; i < 3; i++) await flow.SendAsync("call", (double)i);
        var responses = await flow.Capture("out").TakeAsync(3);
        Assert.Equal(new object?[] { 0.0, 1.0, 2.0 }, responses.Select(m => m.Payload));
        Assert.All(responses, m => Assert.Equal(new List<object?> { "served" }, m["marks"]));
        Assert.All(responses, m => Assert.False(m.Properties.ContainsKey("_linkSource")));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Nested_calls_return_to_the_right_caller()
    {
        await using var flow = await StartAsync($$"""
            [{{TwoTabs}},
             {"id":"outer","type":"link call","z":"a","links":["in1"],"linkType":"static","timeout":5,"wires":[["out"]]},
             {"id":"out","type":"test-capture","z":"a"},
             {"id":"in1","type":"link in","z":"b","wires":[["inner"]]},
             {"id":"inner","type":"link call","z":"b","links":["in2"],"linkType":"static","timeout":5,"wires":[["m1"]]},
             {"id":"m1","type":"test-mark","z":"b","mark":"after-inner","wires":[["ret1"]]},
             {"id":"ret1","type":"link out","z":"b","mode":"return","wires":[]},
             {"id":"in2","type":"link in","z":"b","wires":[["m2"]]},
             {"id":"m2","type":"test-mark","z":"b","mark":"deepest","wires":[["ret2"]]},
             {"id":"ret2","type":"link out","z":"b","mode":"return","wires":[]}]
            """);
        await flow.SendAsync("outer", "x");
        var response = await flow.NextAsync("out");
        Assert.Equal(new List<object?> { "deepest", "after-inner" }, response["marks"]);
        Assert.False(response.Properties.ContainsKey("_linkSource"));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Dynamic_link_call_finds_its_target_by_name_or_id_and_reports_unknown_targets()
    {
        await using var flow = await StartAsync($$"""
            [{{TwoTabs}},
             {"id":"call","type":"link call","z":"a","links":[],"linkType":"dynamic","timeout":5,"wires":[["out"]]},
             {"id":"out","type":"test-capture","z":"a"},
             {"id":"svcA","type":"link in","z":"b","name":"alpha","wires":[["ma"]]},
             {"id":"ma","type":"test-mark","z":"b","mark":"A","wires":[["ret"]]},
             {"id":"svcB","type":"link in","z":"b","name":"beta","wires":[["mb"]]},
             {"id":"mb","type":"test-mark","z":"b","mark":"B","wires":[["ret"]]},
             {"id":"ret","type":"link out","z":"b","mode":"return","wires":[]}]
            """);
        var byName = FlowMessage.WithPayload(1.0);
        byName["target"] = "beta";
        await flow.SendAsync("call", byName);
        Assert.Equal(new List<object?> { "B" }, (await flow.NextAsync("out"))["marks"]);

        var byId = FlowMessage.WithPayload(2.0);
        byId["target"] = "svcA";
        await flow.SendAsync("call", byId);
        Assert.Equal(new List<object?> { "A" }, (await flow.NextAsync("out"))["marks"]);

        var unknown = FlowMessage.WithPayload(3.0);
        unknown["target"] = "gamma";
        await flow.SendAsync("call", unknown);
        var caught = await flow.NextAsync("caught");
        Assert.Contains("'gamma' not found", (string)((Dictionary<string, object?>)caught["error"]!)["message"]!);
        Assert.Equal(3.0, caught.Payload);
    }

    [Fact]
    public async Task A_call_without_a_response_times_out_with_an_error_carrying_the_original_message()
    {
        await using var flow = await StartAsync($$"""
            [{{TwoTabs}},
             {"id":"call","type":"link call","z":"a","links":["sink"],"linkType":"static","timeout":"0.2","wires":[["out"]]},
             {"id":"out","type":"test-capture","z":"a"},
             {"id":"sink","type":"link in","z":"b","wires":[[]]}]
            """);
        var started = DateTime.UtcNow;
        await flow.SendAsync("call", "lost", "t/timeout");
        var caught = await flow.NextAsync("caught");
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromMilliseconds(180), "timed out too early");
        var error = (Dictionary<string, object?>)caught["error"]!;
        Assert.Contains("timeout", (string)error["message"]!);
        Assert.Equal("call", ((Dictionary<string, object?>)error["source"]!)["id"]);
        Assert.Equal("lost", caught.Payload);
        Assert.False(caught.Properties.ContainsKey("_linkSource"));
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(100)));
    }

    [Fact]
    public async Task Return_mode_without_a_caller_is_an_error()
    {
        await using var flow = await StartAsync($$"""
            [{{TwoTabs}},
             {"id":"ret","type":"link out","z":"a","mode":"return","wires":[]}]
            """);
        await flow.SendAsync("ret", "orphan");
        var caught = await flow.NextAsync("caught");
        Assert.Contains("missing return", (string)((Dictionary<string, object?>)caught["error"]!)["message"]!);
    }

    [Fact]
    public void A_static_call_needs_a_target_and_modes_are_checked()
    {
        var errors = Validate(Flow(
            new { id = "c", type = "link call", links = Array.Empty<string>(), linkType = "static", wires = new[] { Array.Empty<string>() } },
            new { id = "o", type = "link out", mode = "broadcast", links = Array.Empty<string>() }));
        Assert.Contains(errors, e => e is { NodeId: "c", Field: "links" });
        Assert.Contains(errors, e => e is { NodeId: "o", Field: "mode" });
    }
}
