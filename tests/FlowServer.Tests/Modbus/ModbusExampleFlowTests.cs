using System.Text.Json.Nodes;
using FlowServer.Nodes.Modbus.Protocol;
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

    [Fact]
    public async Task A_node_red_contrib_modbus_export_imports_unchanged_and_reads_and_writes_a_pymodbus_device()
    {
        await using var device = await PymodbusFixture.StartAsync();
        var flow = JsonNode.Parse(await File.ReadAllTextAsync(Repository.ExampleFlow("modbus-contrib-export.json")))!.AsArray();
        var byName = flow.Select(n => n!.AsObject()).Where(n => n.ContainsKey("name")).ToDictionary(n => (string)n["name"]!, n => n);
        byName["Pump station PLC"]["tcpPort"] = device.Port.ToString(); // the only change: where the device is
        // Listen in beside the debug nodes.
        byName["Read setpoints"]["wires"]![0]!.AsArray().Add("setpoints");
        byName["Read pump coils"]["wires"]![0]!.AsArray().Add("coils");
        foreach (var write in new[] { "Write setpoint", "Write setpoints", "Write pump 2", "Write pumps 4..7" })
            byName[write]["wires"]![0]!.AsArray().Add("written");
        var tab = (string)flow[0]!["id"]!;
        foreach (var capture in new[] { "setpoints", "coils", "written" })
            flow.Add(new JsonObject { ["id"] = capture, ["type"] = "test-capture", ["z"] = tab });
        Assert.Empty(FlowTestHarness.Validate(flow.ToJsonString()));
        await using var harness = await FlowTestHarness.StartAsync(flow.ToJsonString());
        var wait = TimeSpan.FromSeconds(20);

        Assert.Equal(new List<object?> { 10.0, 11.0, 12.0, 13.0, 14.0 }, (await harness.NextAsync("setpoints", wait)).Payload);
        Assert.Equal(new List<object?> { true, false, false, true, false, false, true, false }, (await harness.NextAsync("coils", wait)).Payload);

        foreach (var inject in new[] { "Setpoint 1234", "Setpoints 700, 800, 900", "Pump 2 on", "Pumps 4..7" })
        {
            await harness.TriggerAsync((string)byName[inject]["id"]!);
            await harness.NextAsync("written", wait);
        }
        await using var check = new ModbusTcpClient(new() { Port = device.Port, Timeout = TimeSpan.FromSeconds(5) });
        Assert.Equal(new ushort[] { 1234, 700, 800, 900, 14 }, await check.ReadHoldingRegistersAsync(10, 5));
        Assert.Equal(new[] { true, false, true, true, true, false, true, true }, await check.ReadCoilsAsync(0, 8)); // 2 on; 4..7 written; 3 as it was

        // The polls (every second, as exported) see the new values.
        object? latest = null;
        var until = DateTime.UtcNow + wait;
        while (DateTime.UtcNow < until && !FlowServer.Nodes.Sdk.MessageValue.DeepEquals(latest, new List<object?> { 1234.0, 700.0, 800.0, 900.0, 14.0 }))
            latest = (await harness.NextAsync("setpoints", wait)).Payload;
        Assert.Equal(new List<object?> { 1234.0, 700.0, 800.0, 900.0, 14.0 }, latest);
        harness.AssertNoErrors();
    }
}
