using System.Text.Json.Nodes;
using FlowServer.Testing;
using Xunit;

namespace FlowServer.Tests.Nodes;

/// <summary>The core-node example flows run and produce what their descriptions promise.</summary>
public sealed class ExampleFlowTests
{
    // Loads an example and wires a capture node beside every debug node (same sources).
    static async Task<FlowTestHarness> StartExampleAsync(string file, Action<JsonArray>? adapt = null)
    {
        var flow = JsonNode.Parse(await File.ReadAllTextAsync(Repository.ExampleFlow(file)))!.AsArray();
        adapt?.Invoke(flow);
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

    [Fact]
    public async Task Packing_line_scales_batches_and_links_the_speeds_back_into_one_array()
    {
        await using var flow = await StartExampleAsync("packing-line.json");
        await flow.TriggerAsync("pl-raw");
        var speeds = await flow.NextAsync("cap-pl-speeds", TimeSpan.FromSeconds(10));
        // 0..1023 counts to 0..100 %, clamped and rounded: 256 is 25 %, 2000 is over range.
        Assert.Equal(new List<object?> { 0.0, 25.0, 50.0, 100.0, 100.0 }, speeds.Payload);
        Assert.Equal("line2/speed", speeds.Topic);
        Assert.True(await flow.Capture("cap-pl-speeds").StaysEmptyAsync(TimeSpan.FromMilliseconds(200)));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Packing_line_checks_a_jam_by_link_call_then_settles_and_raises_a_self_clearing_alarm()
    {
        await using var flow = await StartExampleAsync("packing-line.json");
        var watch = System.Diagnostics.Stopwatch.StartNew();
        await flow.TriggerAsync("pl-jam");

        var checkedEvent = await flow.NextAsync("cap-pl-checked", TimeSpan.FromSeconds(10));
        Assert.Equal(new Dictionary<string, object?> { ["event"] = "jam", ["state"] = "stopped" }, checkedEvent.Payload);
        Assert.Equal("line2/conveyor", checkedEvent.Topic);

        var status = Assert.IsType<Dictionary<string, object?>>((await flow.NextAsync("cap-pl-status-log", TimeSpan.FromSeconds(10)))["status"]);
        Assert.Equal(("red", "stopped"), (status["fill"], status["text"]));
        Assert.Equal("pl-check", ((Dictionary<string, object?>)status["source"]!)["id"]);
        var finished = await flow.NextAsync("cap-pl-done-log", TimeSpan.FromSeconds(10));
        Assert.Equal((checkedEvent.MessageId, "line2/conveyor"), (finished.MessageId, finished.Topic));

        var alarm = await flow.NextAsync("cap-pl-alarm-log", TimeSpan.FromSeconds(10));
        var alarmAt = watch.Elapsed;
        Assert.Equal("ALARM", alarm.Payload);
        Assert.True(alarmAt >= TimeSpan.FromMilliseconds(90), $"the alarm came after {alarmAt.TotalMilliseconds:0} ms, before the 100 ms delay");
        var cleared = await flow.NextAsync("cap-pl-alarm-log", TimeSpan.FromSeconds(10));
        Assert.Equal("cleared", cleared.Payload);
        Assert.True(watch.Elapsed - alarmAt >= TimeSpan.FromMilliseconds(280), $"cleared {(watch.Elapsed - alarmAt).TotalMilliseconds:0} ms after the alarm");
        Assert.Equal(0, flow.Runtime.Find("pl-check")!.Errors);
        flow.AssertNoErrors();
    }

    // The getting-started flow without a broker: mqtt in becomes a junction the test feeds,
    // mqtt out a capture node, and the broker config goes.
    static void WithoutBroker(JsonArray flow)
    {
        foreach (var node in flow.ToList())
        {
            switch ((string?)node!["type"])
            {
                case "mqtt-broker":
                    flow.Remove(node);
                    break;
                case "mqtt in":
                    flow[flow.IndexOf(node)] = new JsonObject { ["id"] = (string)node["id"]!, ["type"] = "junction", ["z"] = (string?)node["z"], ["wires"] = node["wires"]!.DeepClone() };
                    break;
                case "mqtt out":
                    flow[flow.IndexOf(node)] = new JsonObject { ["id"] = (string)node["id"]!, ["type"] = "test-capture", ["z"] = (string?)node["z"] };
                    break;
            }
        }
    }

    [Fact]
    public async Task Getting_started_adds_fahrenheit_and_the_site_renames_the_topic_and_routes_hot_readings_to_the_alert()
    {
        await using var flow = await StartExampleAsync("getting-started.json", WithoutBroker);

        // The simulated sensor (inject once after 1 s) publishes a reading into the UNS.
        var simulated = await flow.NextAsync("gs-publish", TimeSpan.FromSeconds(10));
        Assert.Equal("acme/plant1/area1/line1/cell1/temperature", simulated.Topic);
        var reading = Assert.IsType<Dictionary<string, object?>>(simulated.Payload);
        Assert.InRange(Assert.IsType<double>(reading["value"]), 18, 28);
        Assert.Equal("C", reading["unit"]);

        // The subscribing chain: function, change, switch.
        await flow.SendAsync("gs-subscribe", FlowMessage(new() { ["value"] = 26.5, ["unit"] = "C" }, "acme/plant1/area1/line1/cell7/temperature"));
        await flow.SendAsync("gs-subscribe", FlowMessage(new() { ["value"] = 20.0, ["unit"] = "C" }, "acme/plant1/area1/line1/cell8/temperature"));
        var normalised = await flow.Capture("gs-out").TakeAsync(2, TimeSpan.FromSeconds(10));
        Assert.Equal(["acme/plant1/area1/line1/cell7/normalised", "acme/plant1/area1/line1/cell8/normalised"], normalised.Select(m => m.Topic));
        Assert.Equal(new Dictionary<string, object?> { ["value"] = 26.5, ["unit"] = "C", ["fahrenheit"] = 79.7, ["site"] = "plant1" }, normalised[0].Payload);
        Assert.Equal(68.0, ((Dictionary<string, object?>)normalised[1].Payload!)["fahrenheit"]);

        // Only the hot reading is marked and reaches the alerts debug node.
        var alert = await flow.NextAsync("cap-gs-debug", TimeSpan.FromSeconds(10));
        Assert.Equal(true, ((Dictionary<string, object?>)alert.Payload!)["alert"]);
        Assert.Equal(26.5, ((Dictionary<string, object?>)alert.Payload!)["value"]);
        Assert.True(await flow.Capture("cap-gs-debug").StaysEmptyAsync(TimeSpan.FromMilliseconds(300)));
        Assert.Empty(flow.Errors);
    }

    static FlowServer.Nodes.Sdk.FlowMessage FlowMessage(Dictionary<string, object?> payload, string topic) => FlowServer.Nodes.Sdk.FlowMessage.WithPayload(payload, topic);
}
