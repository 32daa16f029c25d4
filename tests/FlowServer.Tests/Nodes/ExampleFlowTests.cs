using System.Text.Json.Nodes;
using FlowServer.Testing;
using Xunit;

namespace FlowServer.Tests.Nodes;

/// <summary>The core-node example flows run and produce what their descriptions promise.</summary>
public sealed class ExampleFlowTests
{
    // Loads an example and wires a capture node beside every debug node (same sources).
    static async Task<FlowTestHarness> StartExampleAsync(string file)
    {
        var flow = JsonNode.Parse(await File.ReadAllTextAsync(Repository.ExampleFlow(file)))!.AsArray();
        var debugs = flow.Where(n => (string?)n!["type"] == "debug").Select(n => (string)n!["id"]!).ToHashSet();
        foreach (var node in flow.ToList())
            foreach (var port in node!["wires"]?.AsArray() ?? [])
                foreach (var target in port!.AsArray().Select(t => (string)t!).Where(debugs.Contains).ToList())
                    port.AsArray().Add("cap-" + target);
        foreach (var id in debugs) flow.Add(new JsonObject { ["id"] = "cap-" + id, ["type"] = "test-capture", ["z"] = (string?)flow.First(n => (string?)n!["id"] == id)!["z"] });
        Assert.Empty(FlowTestHarness.Validate(flow.ToJsonString()));
        return await FlowTestHarness.StartAsync(flow.ToJsonString());
    }

    [Fact]
    public async Task Line_alarms_words_new_alarms_once_and_joins_the_normal_readings()
    {
        await using var flow = await StartExampleAsync("line-alarms.json");
        await flow.TriggerAsync("la-readings");
        var alarms = await flow.Capture("cap-la-alarms").TakeAsync(2);
        Assert.Equal(["ALARM temperature at 82 (limit 80)", "ALARM speed at 1500 (limit 1400)"], alarms.Select(m => (string)m.Payload!));
        var normal = (List<object?>)(await flow.NextAsync("cap-la-normal")).Payload!;
        Assert.Equal(["pressure", "level"], normal.Select(r => (string)((Dictionary<string, object?>)r!)["tag"]!));

        // The same readings again: the filter passes no alarm twice, the normal batch comes again.
        await flow.TriggerAsync("la-readings");
        await flow.NextAsync("cap-la-normal");
        Assert.True(await flow.Capture("cap-la-alarms").StaysEmptyAsync(TimeSpan.FromMilliseconds(300)));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Line_alarms_ranks_the_csv_shift_report()
    {
        await using var flow = await StartExampleAsync("line-alarms.json");
        await flow.TriggerAsync("la-report");
        var shift = await flow.Capture("cap-la-shift").TakeAsync(2);
        Assert.Contains("L3 made 130", shift.Select(m => m.Payload as string));
        var table = shift.Select(m => (string)m.Payload!).Single(p => p.StartsWith('['));
        Assert.Equal("""[{"line":"L3","count":130},{"line":"L1","count":120},{"line":"L2","count":95}]""", table);
        flow.AssertNoErrors();
    }
}
