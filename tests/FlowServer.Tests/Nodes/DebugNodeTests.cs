using FlowServer.Nodes.Sdk;
using FlowServer.Testing;
using Microsoft.Extensions.Logging;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Nodes;

public sealed class DebugNodeTests
{
    static object Debug(string id, bool active = true, bool tosidebar = true, bool console = false, bool tostatus = false, string complete = "payload", string targetType = "msg") =>
        new { id, type = "debug", name = id, active, tosidebar, console, tostatus, complete, targetType };

    static List<Dictionary<string, object?>> DebugEntries(FlowTestHarness flow, string nodeId) =>
        flow.Events.Where(e => e.Topic == "debug").Select(e => e.Data).OfType<Dictionary<string, object?>>()
            .Where(d => d.GetValueOrDefault("id") as string == nodeId).ToList();

    static async Task<List<Dictionary<string, object?>>> WaitForEntriesAsync(FlowTestHarness flow, string nodeId, int count)
    {
        var until = DateTime.UtcNow.AddSeconds(5);
        while (DateTime.UtcNow < until)
        {
            var entries = DebugEntries(flow, nodeId);
            if (entries.Count >= count) return entries;
            await Task.Delay(20);
        }
        throw new TimeoutException($"debug node {nodeId} published {DebugEntries(flow, nodeId).Count} of {count} entries");
    }

    [Fact]
    public async Task Shows_the_chosen_property_or_the_whole_message_in_the_sidebar()
    {
        await using var flow = await StartAsync(Flow(
            Debug("payload-only"),
            Debug("nested", complete: "payload.v"),
            Debug("whole", complete: "true", targetType: "full")));
        foreach (var id in new[] { "payload-only", "nested", "whole" })
            await flow.SendAsync(id, new Dictionary<string, object?> { ["v"] = 7.0 }, "line/1");

        var payloadOnly = Assert.Single(await WaitForEntriesAsync(flow, "payload-only", 1));
        Assert.Equal(("payload", "line/1"), (payloadOnly["property"], payloadOnly["topic"]));
        Assert.Equal("{\"v\":7}", payloadOnly["msg"]);
        var nested = Assert.Single(await WaitForEntriesAsync(flow, "nested", 1));
        Assert.Equal(("payload.v", "7"), (nested["property"], nested["msg"]));
        var whole = Assert.Single(await WaitForEntriesAsync(flow, "whole", 1));
        Assert.Equal("msg", whole["property"]);
        Assert.Contains("\"topic\":\"line/1\"", (string)whole["msg"]!);
        Assert.Contains("\"_msgid\"", (string)whole["msg"]!);
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task An_inactive_node_shows_nothing_and_tosidebar_false_keeps_it_out_of_the_sidebar()
    {
        await using var flow = await StartAsync(Flow(
            Debug("off", active: false, tostatus: true),
            Debug("status-only", tosidebar: false, tostatus: true),
            Debug("on")));
        await flow.SendAsync("off", "hidden");
        await flow.SendAsync("status-only", "on the node");
        await flow.SendAsync("on", "shown");
        await WaitForEntriesAsync(flow, "on", 1);
        await Task.Delay(100);

        Assert.Empty(DebugEntries(flow, "off"));
        Assert.Empty(DebugEntries(flow, "status-only"));
        Assert.Null(flow.Runtime.Find("off")!.Status.Text);
        Assert.Equal("on the node", flow.Runtime.Find("status-only")!.Status.Text);
    }

    [Fact]
    public async Task Tostatus_shows_the_value_shortened_on_the_node()
    {
        await using var flow = await StartAsync(Flow(Debug("d", tostatus: true)));
        await flow.SendAsync("d", new string('x', 40));
        await WaitForEntriesAsync(flow, "d", 1);
        var status = flow.Runtime.Find("d")!.Status;
        Assert.Equal(new string('x', 32) + "…", status.Text);
        Assert.Equal(("grey", "dot"), (status.Fill, status.Shape));
    }

    [Fact]
    public async Task Console_writes_the_value_to_the_server_log()
    {
        var logs = new ListLoggerProvider();
        using var loggers = LoggerFactory.Create(builder => builder.AddProvider(logs));
        await using var flow = await StartAsync(Flow(Debug("d", tosidebar: false, console: true, complete: "payload.v")), loggers: loggers);
        await flow.SendAsync("d", new Dictionary<string, object?> { ["v"] = "logged value" });
        var until = DateTime.UtcNow.AddSeconds(5);
        while (!logs.Entries.Any(l => l.Text.Contains("logged value", StringComparison.Ordinal)) && DateTime.UtcNow < until) await Task.Delay(20);
        Assert.Contains(logs.Entries, l => l.Text.Contains("logged value", StringComparison.Ordinal) && l.Text.Contains("[debug:d]", StringComparison.Ordinal));
        Assert.Empty(DebugEntries(flow, "d"));
    }
}
