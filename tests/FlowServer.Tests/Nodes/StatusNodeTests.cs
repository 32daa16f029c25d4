using FlowServer.Testing;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Nodes;

public sealed class StatusNodeTests
{
    // Debug nodes with "tostatus" set their status to the payload: a convenient status source.
    const string Flows = """
        [{"id":"a","type":"tab","label":"A"},
         {"id":"b","type":"tab","label":"B"},
         {"id":"d1","type":"debug","z":"a","name":"First","active":true,"tosidebar":false,"tostatus":true,"complete":"payload","targetType":"msg","wires":[]},
         {"id":"d2","type":"debug","z":"a","active":true,"tosidebar":false,"tostatus":true,"complete":"payload","targetType":"msg","wires":[]},
         {"id":"dB","type":"debug","z":"b","active":true,"tosidebar":false,"tostatus":true,"complete":"payload","targetType":"msg","wires":[]},
         {"id":"all","type":"status","z":"a","scope":null,"wires":[["allOut"]]},
         {"id":"only1","type":"status","z":"a","scope":["d1"],"wires":[["only1Out"]]},
         {"id":"allOut","type":"test-capture","z":"a"},
         {"id":"only1Out","type":"test-capture","z":"a"}]
        """;

    [Fact]
    public async Task Reports_status_changes_of_its_tab_with_their_source()
    {
        await using var flow = await StartAsync(Flows);
        await flow.SendAsync("d1", "running");
        var message = await flow.NextAsync("allOut");
        var status = Assert.IsType<Dictionary<string, object?>>(message["status"]);
        Assert.Equal("running", status["text"]);
        Assert.Equal("grey", status["fill"]);
        Assert.Equal("dot", status["shape"]);
        var source = Assert.IsType<Dictionary<string, object?>>(status["source"]);
        Assert.Equal(("d1", "debug", "First"), ((string)source["id"]!, (string)source["type"]!, (string)source["name"]!));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task A_scoped_status_node_sees_only_its_nodes_and_no_node_sees_other_tabs()
    {
        await using var flow = await StartAsync(Flows);
        await flow.SendAsync("dB", "other tab");
        await flow.SendAsync("d2", "second");
        await flow.SendAsync("d1", "first");

        var all = await flow.Capture("allOut").TakeAsync(2);
        // d1 and d2 run independently: their order is not fixed.
        Assert.Equal(new[] { "first", "second" }, all.Select(m => (string)((Dictionary<string, object?>)m["status"]!)["text"]!).Order());
        var scoped = await flow.NextAsync("only1Out");
        Assert.Equal("first", ((Dictionary<string, object?>)scoped["status"]!)["text"]);
        Assert.True(await flow.Capture("only1Out").StaysEmptyAsync(TimeSpan.FromMilliseconds(150)));
        Assert.True(await flow.Capture("allOut").StaysEmptyAsync(TimeSpan.FromMilliseconds(50)));
    }

    [Fact]
    public void The_group_scope_is_refused_with_the_field_named()
    {
        var errors = Validate(Flow(new { id = "s", type = "status", scope = "group", wires = new[] { Array.Empty<string>() } }));
        Assert.Contains(errors, e => e is { NodeId: "s", Field: "scope" });
    }
}
