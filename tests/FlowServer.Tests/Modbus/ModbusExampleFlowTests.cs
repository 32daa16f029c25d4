using System.Text.Json.Nodes;
using FlowServer.Testing;
using FlowServer.Testing.Fixtures;
using Xunit;

namespace FlowServer.Tests.Modbus;

public sealed class ModbusExampleFlowTests
{
    [Fact]
    public async Task The_simulated_line_example_produces_decoded_values()
    {
        var flow = JsonNode.Parse(await File.ReadAllTextAsync(Repository.ExampleFlow("modbus-simulated-line.json")))!.AsArray();
        var port = FreePort.Next().ToString();
        foreach (var node in flow.Select(n => n!.AsObject()))
        {
            if (node.ContainsKey("serverPort")) node["serverPort"] = port;
            if (node.ContainsKey("tcpPort")) node["tcpPort"] = port;
            if ((string?)node["id"] == "line-decode") node["wires"] = new JsonArray(new JsonArray("line-debug", "capture"));
        }
        flow.Add(new JsonObject { ["id"] = "capture", ["type"] = "test-capture", ["z"] = "line-tab" });
        Assert.Empty(FlowTestHarness.Validate(flow.ToJsonString()));

        await using var harness = await FlowTestHarness.StartAsync(flow.ToJsonString());
        // The seed inject and the first poll race on a busy machine: wait for a seeded reading.
        Dictionary<string, object?> values;
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        do values = (Dictionary<string, object?>)(await harness.NextAsync("capture", until - DateTime.UtcNow)).Payload!;
        while (!Equals(values["temperature"], 21.5) && DateTime.UtcNow < until);

        Assert.Equal(21.5, values["temperature"]);
        Assert.Equal(101.325, (double)values["pressure"]!, 9);
        Assert.Equal(-1500.0, values["speed"]);
        Assert.Equal(true, values["running"]);
        Assert.Equal(false, values["alarm"]);
        Assert.Equal("LINE", values["line"]);
        harness.AssertNoErrors();
    }
}
