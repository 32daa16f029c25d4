using System.Buffers.Binary;
using System.Text.Json.Nodes;
using FlowServer.Nodes.Modbus;
using FlowServer.Nodes.Sdk;
using FlowServer.Testing;
using FlowServer.Testing.Fixtures;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Modbus;

/// <summary>The Modbus nodes in the real runtime, with flows shaped as node-red-contrib-modbus exports them.</summary>
public sealed class ModbusNodeTests
{
    static readonly TimeSpan Long = TimeSpan.FromSeconds(20);

    // As the package's editor exports a client: numbers as strings, serial fields present.
    static JsonObject Client(int port, int reconnect = 200, bool bufferCommands = true, int timeout = 2000) => new()
    {
        ["id"] = "client1", ["type"] = "modbus-client", ["name"] = "PLC", ["clienttype"] = "tcp",
        ["bufferCommands"] = bufferCommands, ["stateLogEnabled"] = false, ["queueLogEnabled"] = false,
        ["tcpHost"] = "127.0.0.1", ["tcpPort"] = port.ToString(), ["tcpType"] = "DEFAULT",
        ["serialPort"] = "/dev/ttyUSB", ["serialType"] = "RTU-BUFFERD", ["serialBaudrate"] = "9600",
        ["serialDatabits"] = "8", ["serialStopbits"] = "1", ["serialParity"] = "none", ["serialConnectionDelay"] = "100",
        ["unit_id"] = "1", ["commandDelay"] = "1", ["clientTimeout"] = timeout.ToString(), ["reconnectOnTimeout"] = true,
        ["reconnectTimeout"] = reconnect.ToString(), ["parallelUnitIdsAllowed"] = true,
    };

    static JsonObject Read(string dataType, int adr, int quantity, int rateMs, string[][] wires, string id = "read1", string unitid = "") => new()
    {
        ["id"] = id, ["type"] = "modbus-read", ["name"] = "Poll", ["topic"] = "line1",
        ["showStatusActivities"] = false, ["logIOActivities"] = false, ["showErrors"] = false,
        ["unitid"] = unitid, ["dataType"] = dataType, ["adr"] = adr.ToString(), ["quantity"] = quantity.ToString(),
        ["rate"] = rateMs.ToString(), ["rateUnit"] = "ms", ["delayOnStart"] = false, ["startDelayTime"] = "",
        ["server"] = "client1", ["useIOFile"] = false, ["ioFile"] = "", ["useIOForPayload"] = false, ["emptyMsgOnFail"] = false,
        ["x"] = 100, ["y"] = 100, ["wires"] = JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(wires)),
    };

    // As the package exports a modbus-write node.
    static JsonObject Write(string id, string dataType, int adr, int quantity, string capture) => new()
    {
        ["id"] = id, ["type"] = "modbus-write", ["name"] = "", ["showStatusActivities"] = false, ["showErrors"] = false,
        ["unitid"] = "", ["dataType"] = dataType, ["adr"] = adr.ToString(), ["quantity"] = quantity.ToString(), ["server"] = "client1",
        ["emptyMsgOnFail"] = false, ["keepMsgProperties"] = false, ["x"] = 300, ["y"] = 100,
        ["wires"] = new JsonArray(new JsonArray(capture), new JsonArray()),
    };

    static async Task<NodeStatus> WaitForStatusAsync(FlowTestHarness flow, string nodeId, Func<NodeStatus, bool> match)
    {
        var until = DateTime.UtcNow + Long;
        while (DateTime.UtcNow < until)
        {
            var hit = flow.Events.Where(e => e.Topic == "status/" + nodeId).Select(e => e.Data).OfType<NodeStatus>().FirstOrDefault(match);
            if (hit is not null) return hit;
            await Task.Delay(50);
        }
        throw new TimeoutException($"no matching status on {nodeId}; seen: {string.Join(" | ", flow.Events.Where(e => e.Topic == "status/" + nodeId).Select(e => e.Data))}");
    }

    [Fact]
    public async Task An_imported_client_read_write_flow_reads_and_writes_a_pymodbus_device()
    {
        await using var device = await PymodbusFixture.StartAsync();
        await using var flow = await StartAsync(Flow(
            Client(device.Port),
            Read("HoldingRegister", 10, 5, 100, [["values"], ["raw"]]),
            new JsonObject
            {
                ["id"] = "write1", ["type"] = "modbus-write", ["name"] = "Setpoints", ["showStatusActivities"] = false, ["showErrors"] = false,
                ["unitid"] = "", ["dataType"] = "MHoldingRegisters", ["adr"] = "10", ["quantity"] = "3", ["server"] = "client1",
                ["emptyMsgOnFail"] = false, ["keepMsgProperties"] = false, ["wires"] = new JsonArray(new JsonArray("written"), new JsonArray()),
            },
            new { id = "values", type = "test-capture" },
            new { id = "raw", type = "test-capture" },
            new { id = "written", type = "test-capture" }));

        var first = await flow.NextAsync("values", Long);
        var second = await flow.NextAsync("raw", Long);
        Assert.Equal(new List<object?> { 10.0, 11.0, 12.0, 13.0, 14.0 }, first.Payload);
        Assert.Equal("line1", first.Topic);
        var response = Assert.IsType<Dictionary<string, object?>>(first["responseBuffer"]);
        Assert.Equal(Convert.FromHexString("000A000B000C000D000E"), response["buffer"]);
        var raw = Assert.IsType<Dictionary<string, object?>>(second.Payload);
        Assert.Equal(first.Payload, raw["data"]);
        Assert.Equal(first.Payload, second["values"]);

        await flow.SendAsync("write1", new List<object?> { 700.0, 800.0, 900.0 });
        var written = await flow.NextAsync("written", Long);
        Assert.Equal(new List<object?> { 700.0, 800.0, 900.0 }, written.Payload);

        var until = DateTime.UtcNow + Long;
        object? latest = null;
        while (DateTime.UtcNow < until)
        {
            latest = (await flow.NextAsync("values", Long)).Payload;
            if (MessageValue.DeepEquals(latest, new List<object?> { 700.0, 800.0, 900.0, 13.0, 14.0 })) break;
        }
        Assert.Equal(new List<object?> { 700.0, 800.0, 900.0, 13.0, 14.0 }, latest);
        await WaitForStatusAsync(flow, "read1", s => s.Fill == "green" && s.Text!.StartsWith("polling"));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Modbus_write_writes_every_data_type_and_pymodbus_holds_the_values()
    {
        await using var device = await PymodbusFixture.StartAsync();
        await using var flow = await StartAsync(Flow(
            Client(device.Port),
            Write("coil", "Coil", 1, 1, "written"),
            Write("register", "HoldingRegister", 2, 1, "written"),
            Write("coils", "MCoils", 10, 4, "written"),
            Write("registers", "MHoldingRegisters", 20, 3, "written"),
            new { id = "written", type = "test-capture" }));
        await using var check = new FlowServer.Nodes.Modbus.Protocol.ModbusTcpClient(new() { Port = device.Port, Timeout = TimeSpan.FromSeconds(5) });
        // The device's values before: coil 1 off, register 2 = 2, coils 10..13 = off off on off, registers 20..22 = 20 21 22.
        Assert.Equal(new[] { false }, await check.ReadCoilsAsync(1, 1));

        await flow.SendAsync("coil", true);                                              // FC 5
        await flow.NextAsync("written", Long);
        await flow.SendAsync("register", -2.0);                                          // FC 6, a signed register
        await flow.NextAsync("written", Long);
        await flow.SendAsync("coils", new List<object?> { true, true, false, true, true }); // FC 15: the first 4
        await flow.NextAsync("written", Long);
        await flow.SendAsync("registers", new Dictionary<string, object?> { ["value"] = new List<object?> { 7.0, 65535.0, 300.0 } }); // FC 16
        var last = await flow.NextAsync("written", Long);

        Assert.Equal(new[] { true }, await check.ReadCoilsAsync(1, 1));
        Assert.Equal(new ushort[] { 65534 }, await check.ReadHoldingRegistersAsync(2, 1));
        Assert.Equal(new[] { true, true, false, true, false }, await check.ReadCoilsAsync(10, 5)); // coil 14 untouched
        Assert.Equal(new ushort[] { 7, 65535, 300, 23 }, await check.ReadHoldingRegistersAsync(20, 4));
        Assert.Equal(new List<object?> { 7.0, 65535.0, 300.0 }, ((Dictionary<string, object?>)last["responseBuffer"]!)["data"]);

        await flow.SendAsync("coil", 0.0);
        await flow.NextAsync("written", Long);
        Assert.Equal(new[] { false }, await check.ReadCoilsAsync(1, 1));
        await flow.SendAsync("register", 70000.0);
        var error = await flow.WaitForErrorAsync("0..65535", Long);
        Assert.StartsWith("register", error);
        Assert.Equal(new ushort[] { 65534 }, await check.ReadHoldingRegistersAsync(2, 1));
    }

    [Theory]
    [InlineData(true, 1)]
    [InlineData(false, 4)]
    public async Task Queue_commands_puts_one_request_on_the_wire_and_without_it_several_go_out(bool bufferCommands, int mostOnTheWire)
    {
        await using var device = RawModbusDevice.Start(responseDelay: TimeSpan.FromMilliseconds(300));
        await using var flow = await StartAsync(Flow(
            Client(device.Port, bufferCommands: bufferCommands),
            new { id = "get", type = "modbus-getter", server = "client1", dataType = "HoldingRegister", adr = "0", quantity = "500", unitid = "", wires = new[] { new[] { "got" }, Array.Empty<string>() } },
            new { id = "got", type = "test-capture" }));

        await flow.SendAsync("get", "go"); // 500 registers: four requests of at most 125, started together

        Assert.Equal(Enumerable.Range(0, 500).Select(i => (object?)(double)i).ToList(), (await flow.NextAsync("got", Long)).Payload);
        Assert.Equal(4, device.Requests);
        Assert.Equal(mostOnTheWire, device.MostOutstanding);
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task A_unit_id_override_reads_and_writes_that_unit_and_an_empty_one_the_clients()
    {
        var other = PymodbusFixture.OtherUnit.ToString();
        await using var device = await PymodbusFixture.StartAsync();
        var write = Write("write", "HoldingRegister", 0, 1, "written");
        write["unitid"] = other;
        await using var flow = await StartAsync(Flow(
            Client(device.Port),
            Read("HoldingRegister", 10, 2, 100, [["own"], []], id: "readOwn"),
            Read("HoldingRegister", 10, 2, 100, [["other"], []], id: "readOther", unitid: other),
            new { id = "get", type = "modbus-getter", server = "client1", dataType = "InputRegister", adr = "3", quantity = "2", unitid = other, wires = new[] { new[] { "got" }, Array.Empty<string>() } },
            new { id = "getCoils", type = "modbus-getter", server = "client1", dataType = "Coil", adr = "0", quantity = "3", unitid = other, wires = new[] { new[] { "got" }, Array.Empty<string>() } },
            new { id = "flexget", type = "modbus-flex-getter", server = "client1", wires = new[] { new[] { "got" }, Array.Empty<string>() } },
            write,
            new { id = "own", type = "test-capture" },
            new { id = "other", type = "test-capture" },
            new { id = "got", type = "test-capture" },
            new { id = "written", type = "test-capture" }));

        Assert.Equal(new List<object?> { 10.0, 11.0 }, (await flow.NextAsync("own", Long)).Payload);
        var fromOther = await flow.NextAsync("other", Long);
        Assert.Equal(new List<object?> { 5010.0, 5011.0 }, fromOther.Payload);
        Assert.Equal((double)PymodbusFixture.OtherUnit, ((Dictionary<string, object?>)((Dictionary<string, object?>)fromOther["input"]!)["payload"]!)["unitid"]);

        await flow.SendAsync("get", "go");
        Assert.Equal(new List<object?> { 6003.0, 6004.0 }, (await flow.NextAsync("got", Long)).Payload);
        await flow.SendAsync("getCoils", "go");
        Assert.Equal(new List<object?> { false, true, true }, (await flow.NextAsync("got", Long)).Payload);
        await flow.SendAsync("flexget", new Dictionary<string, object?> { ["fc"] = 2.0, ["unitid"] = (double)PymodbusFixture.OtherUnit, ["address"] = 0.0, ["quantity"] = 2.0 });
        Assert.Equal(new List<object?> { true, false }, (await flow.NextAsync("got", Long)).Payload);

        await flow.SendAsync("write", 4242.0);
        await flow.NextAsync("written", Long);
        await using var check = new FlowServer.Nodes.Modbus.Protocol.ModbusTcpClient(new() { Port = device.Port, Timeout = TimeSpan.FromSeconds(5) });
        Assert.Equal(new ushort[] { 4242 }, await check.ReadHoldingRegistersAsync(0, 1, PymodbusFixture.OtherUnit));
        Assert.Equal(new ushort[] { 0 }, await check.ReadHoldingRegistersAsync(0, 1, 1));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Getter_flex_getter_and_flex_write_follow_the_message()
    {
        await using var device = await PymodbusFixture.StartAsync();
        await using var flow = await StartAsync(Flow(
            Client(device.Port),
            new { id = "get", type = "modbus-getter", server = "client1", dataType = "Coil", adr = "0", quantity = "6", unitid = "", keepMsgProperties = true, wires = new[] { new[] { "got" }, Array.Empty<string>() } },
            new { id = "flexget", type = "modbus-flex-getter", server = "client1", wires = new[] { new[] { "flexgot" }, Array.Empty<string>() } },
            new { id = "flexwrite", type = "modbus-flex-write", server = "client1", wires = new[] { new[] { "flexwritten" }, Array.Empty<string>() } },
            new { id = "got", type = "test-capture" },
            new { id = "flexgot", type = "test-capture" },
            new { id = "flexwritten", type = "test-capture" }));

        var trigger = FlowMessage.WithPayload("go", "t");
        trigger["parts"] = "kept";
        await flow.SendAsync("get", trigger);
        var got = await flow.NextAsync("got", Long);
        Assert.Equal(new List<object?> { true, false, false, true, false, false }, got.Payload);
        Assert.Equal("kept", got["parts"]);

        await flow.SendAsync("flexwrite", new Dictionary<string, object?> { ["value"] = new List<object?> { true, true }, ["fc"] = 15.0, ["unitid"] = 1.0, ["address"] = 1.0, ["quantity"] = 2.0 });
        await flow.NextAsync("flexwritten", Long);
        await flow.SendAsync("flexget", new Dictionary<string, object?> { ["fc"] = 1.0, ["unitid"] = 1.0, ["address"] = 0.0, ["quantity"] = 4.0 });
        Assert.Equal(new List<object?> { true, true, true, true }, (await flow.NextAsync("flexgot", Long)).Payload);

        await flow.SendAsync("flexget", new Dictionary<string, object?> { ["fc"] = 4.0, ["address"] = 2998.0, ["quantity"] = 5.0 });
        var error = await flow.WaitForErrorAsync("IllegalDataAddress", Long);
        Assert.Contains("flexget", error);
        Assert.Contains("modbus-flex-getter", error);
    }

    [Fact]
    public async Task A_device_outage_is_shown_reported_once_and_recovered_from()
    {
        await using var device = await PymodbusFixture.StartAsync();
        await using var flow = await StartAsync(Flow(
            Client(device.Port),
            Read("InputRegister", 0, 2, 100, [["values"], []]),
            new { id = "values", type = "test-capture" }));
        Assert.Equal(new List<object?> { 1000.0, 1001.0 }, (await flow.NextAsync("values", Long)).Payload);

        await device.StopAsync();
        var error = await flow.WaitForErrorAsync("modbus-read", Long);
        Assert.StartsWith("read1", error);
        Assert.Contains($"127.0.0.1:{device.Port}", error);
        await WaitForStatusAsync(flow, "read1", s => s.Fill == "red");
        // Several failing polls (one per 100 ms; a loaded machine delays the timer, so wait for them
        // rather than for a fixed time), then still no more than one error per change.
        var node = (ModbusReadNode)flow.Runtime.Find("read1")!.Node;
        await Poll.UntilAsync(() => node.Failures >= 5, Long, "fewer than 5 failing polls during the outage");
        Assert.True(node.Failures >= 5, $"failures {node.Failures}");
        Assert.True(flow.Errors.Count <= 3, "errors are reported per change, not per poll:\n" + string.Join("\n", flow.Errors));

        await device.StartAsync();
        while (flow.Capture("values").Pending > 0) await flow.NextAsync("values");
        Assert.Equal(new List<object?> { 1000.0, 1001.0 }, (await flow.NextAsync("values", Long)).Payload);
        await WaitForStatusAsync(flow, "read1", s => s.Fill == "green");
    }

    [Fact]
    public async Task A_silent_device_times_out_as_an_error_naming_the_node_in_red_and_the_nodes_recover()
    {
        await using var device = RawModbusDevice.Start();
        device.Silent = true; // accepts the connection, reads every request, answers none
        await using var flow = await StartAsync(Flow(
            Client(device.Port, timeout: 300),
            Read("HoldingRegister", 0, 2, 200, [["values"], []]),
            new { id = "get", type = "modbus-getter", server = "client1", dataType = "HoldingRegister", adr = "5", quantity = "1", unitid = "", wires = new[] { new[] { "got" }, Array.Empty<string>() } },
            new { id = "got", type = "test-capture" },
            new { id = "values", type = "test-capture" }));

        var error = await flow.WaitForErrorAsync("within 300 ms", Long);
        Assert.StartsWith("read1: modbus-read", error);
        await WaitForStatusAsync(flow, "read1", s => s.Fill == "red" && s.Text!.Contains("within 300 ms"));
        await flow.SendAsync("get", "go");
        var getterError = await flow.WaitForErrorAsync("get: modbus-getter", Long);
        Assert.Contains("within 300 ms", getterError);
        await WaitForStatusAsync(flow, "get", s => s.Fill == "red" && s.Text!.Contains("within 300 ms"));
        Assert.Equal(0, flow.Capture("values").Pending);
        Assert.Equal(0, flow.Capture("got").Pending);
        Assert.True(device.Requests >= 2);

        device.Silent = false;
        Assert.Equal(new List<object?> { 0.0, 1.0 }, (await flow.NextAsync("values", Long)).Payload);
        await WaitForStatusAsync(flow, "read1", s => s.Fill == "green" && s.Text!.StartsWith("polling"));
        await flow.SendAsync("get", "go");
        Assert.Equal(new List<object?> { 5.0 }, (await flow.NextAsync("got", Long)).Payload);
        await WaitForStatusAsync(flow, "get", s => s.Fill == "green" && s.Text == "read done");
        Assert.True(device.Connections >= 2, "each timeout opens a fresh connection (reconnectOnTimeout)");
    }

    static object Getter(string id) => new { id, type = "modbus-getter", server = "client1", dataType = "HoldingRegister", adr = "0", quantity = "2", unitid = "", wires = new[] { new[] { "out" }, Array.Empty<string>() } };

    [Fact]
    public async Task Read_getter_write_and_flex_nodes_show_connected_activity_and_errors_and_late_nodes_the_state_at_once()
    {
        await using var device = await PymodbusFixture.StartAsync();
        object[] Nodes() => // fresh objects for each deploy (a JsonObject joins one flow only)
        [
            Client(device.Port),
            Read("HoldingRegister", 0, 2, 200, [[], []]),
            Getter("get"),
            Write("write", "HoldingRegister", 3, 1, "out"),
            new { id = "flexget", type = "modbus-flex-getter", server = "client1", wires = new[] { new[] { "out" }, Array.Empty<string>() } },
            new { id = "flexwrite", type = "modbus-flex-write", server = "client1", wires = new[] { new[] { "out" }, Array.Empty<string>() } },
            new { id = "out", type = "test-capture" },
        ];
        string[] users = ["read1", "get", "write", "flexget", "flexwrite"];
        await using var flow = await StartAsync(Flow(Nodes()));

        foreach (var id in users) await WaitForStatusAsync(flow, id, s => s is { Fill: "green", Text: "connected" });
        await WaitForStatusAsync(flow, "read1", s => s is { Fill: "green", Text: "polling" });
        await flow.SendAsync("get", "go");
        await flow.SendAsync("write", 9.0);
        await flow.SendAsync("flexget", new Dictionary<string, object?> { ["fc"] = 3.0, ["address"] = 0.0, ["quantity"] = 1.0 });
        await flow.SendAsync("flexwrite", new Dictionary<string, object?> { ["fc"] = 5.0, ["address"] = 0.0, ["value"] = false });
        for (var i = 0; i < 4; i++) await flow.NextAsync("out", Long);
        await WaitForStatusAsync(flow, "get", s => s is { Fill: "green", Text: "read done" });
        await WaitForStatusAsync(flow, "flexget", s => s is { Fill: "green", Text: "read done" });
        await WaitForStatusAsync(flow, "write", s => s is { Fill: "green", Text: "write done" });
        await WaitForStatusAsync(flow, "flexwrite", s => s is { Fill: "green", Text: "write done" });

        await flow.SendAsync("write", "not a number");
        await flow.SendAsync("flexwrite", new Dictionary<string, object?> { ["fc"] = 6.0, ["address"] = (double)PymodbusFixture.Size, ["value"] = 1.0 });
        await flow.SendAsync("flexget", new Dictionary<string, object?> { ["fc"] = 1.0, ["address"] = (double)PymodbusFixture.Size, ["quantity"] = 1.0 });
        await WaitForStatusAsync(flow, "write", s => s.Fill == "red" && s.Text!.Contains("0..65535"));
        await WaitForStatusAsync(flow, "flexwrite", s => s.Fill == "red" && s.Text!.Contains("IllegalDataAddress"));
        await WaitForStatusAsync(flow, "flexget", s => s.Fill == "red" && s.Text!.Contains("IllegalDataAddress"));
        flow.ClearErrors();

        // Added while the client is connected: no connection event will come, the state must show at start.
        await flow.DeployAsync(Flow([.. Nodes(), Getter("lateGet"), Write("lateWrite", "Coil", 0, 1, "out")]), FlowServer.Runtime.DeploymentType.Nodes);
        await WaitForStatusAsync(flow, "lateGet", s => s is { Fill: "green", Text: "connected" });
        await WaitForStatusAsync(flow, "lateWrite", s => s is { Fill: "green", Text: "connected" });

        await device.StopAsync();
        foreach (var id in users.Append("lateGet").Append("lateWrite"))
            await WaitForStatusAsync(flow, id, s => s.Fill == "red" && s.Text!.StartsWith("disconnected"));
    }

    [Fact]
    public async Task A_slow_device_makes_polls_skip_cycles_instead_of_piling_up()
    {
        await using var device = await PymodbusFixture.StartAsync(readDelay: TimeSpan.FromMilliseconds(300));
        await using var flow = await StartAsync(Flow(
            Client(device.Port),
            Read("HoldingRegister", 0, 1, 50, [["values"], []]),
            new { id = "values", type = "test-capture" }));

        await flow.NextAsync("values", Long);
        await Task.Delay(2000);
        var node = (ModbusReadNode)flow.Runtime.Find("read1")!.Node;
        var polls = node.Polls;
        var skipped = node.SkippedCycles;

        Assert.InRange(polls, 2, 12);         // ≈ 2 s / 300 ms, never 40
        Assert.True(skipped >= 10, $"skipped {skipped}");
        await WaitForStatusAsync(flow, "read1", s => s.Text!.Contains("skipped"));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Mbpoll_reads_and_writes_the_modbus_server_node_and_the_flow_sees_it()
    {
        var port = FreePort.Next();
        await using var flow = await StartAsync(Flow(
            new { id = "srv", type = "modbus-server", name = "Sim", logEnabled = false, hostname = "127.0.0.1", serverPort = port.ToString(),
                  responseDelay = "0", delayUnit = "ms", coilsBufferSize = "100", holdingBufferSize = "200", inputBufferSize = "200", discreteBufferSize = "100", showErrors = false,
                  wires = new[] { new[] { "holding" }, new[] { "coils" }, Array.Empty<string>(), Array.Empty<string>(), new[] { "requests" } } },
            new { id = "holding", type = "test-capture" },
            new { id = "coils", type = "test-capture" },
            new { id = "requests", type = "test-capture" }));

        await flow.SendAsync("srv", new Dictionary<string, object?> { ["register"] = "holding", ["address"] = 3.0, ["value"] = new List<object?> { 11.0, 22.0, -1.0 } });
        await flow.SendAsync("srv", new Dictionary<string, object?> { ["register"] = "input", ["address"] = 0.0, ["value"] = 1234.0, ["disableMsgOutput"] = true });
        await flow.SendAsync("srv", new Dictionary<string, object?> { ["register"] = "discrete", ["address"] = 5.0, ["value"] = true, ["disableMsgOutput"] = 1.0 });
        var holding = (byte[])(await flow.NextAsync("holding", Long)).Payload!;
        Assert.Equal(200, holding.Length);
        Assert.Equal(22, BinaryPrimitives.ReadUInt16BigEndian(holding.AsSpan(8)));

        Assert.Equal(new[] { 0, 11, 22, 65535 }, await Mbpoll.ReadAsync(port, 4, 2, 4));
        Assert.Equal(new[] { 1234 }, await Mbpoll.ReadAsync(port, 3, 0, 1));
        Assert.Equal(new[] { 0, 1 }, await Mbpoll.ReadAsync(port, 1, 4, 2));

        await Mbpoll.WriteAsync(port, 4, 50, 4321);
        await Mbpoll.WriteAsync(port, 0, 7, 1, 1);
        var request = (Dictionary<string, object?>)(await flow.NextAsync("requests", Long)).Payload!;
        Assert.Equal(6.0, request["fc"]);
        Assert.Equal(50.0, request["address"]);
        Assert.Equal(15.0, ((Dictionary<string, object?>)(await flow.NextAsync("requests", Long)).Payload!)["fc"]);

        var server = (ModbusServerNode)flow.Runtime.Find("srv")!.Node;
        Assert.Equal(new ushort[] { 4321 }, server.Model.ReadHoldingRegisters(50, 1));
        Assert.Equal(new[] { true, true }, server.Model.ReadCoils(7, 2));
        Assert.Equal(new[] { 0 }, await Mbpoll.ReadAsync(port, 4, 99, 1));
        var (_, beyond) = await Mbpoll.RunAsync("-m", "tcp", "-p", port.ToString(), "-a", "1", "-t", "4", "-0", "-r", "100", "-c", "1", "-1", "127.0.0.1");
        Assert.Contains("Illegal data address", beyond);
        flow.AssertNoErrors();
    }

    [Fact]
    public void A_serial_client_is_refused_naming_the_field()
    {
        var client = Client(502);
        client["clienttype"] = "simpleser";
        var errors = Validate(Flow(client));
        var error = Assert.Single(errors);
        Assert.Equal("clienttype", error.Field);
        Assert.Contains("only 'tcp'", error.Text);
    }

    [Fact]
    public void Read_options_are_checked_at_deploy()
    {
        var read = Read("HoldingRegister", 65530, 10, 0, [[], []]);
        read["unitid"] = "300";
        var text = string.Join("\n", Validate(Flow(Client(502), read)).Select(e => e.Text));
        Assert.Contains("unitid", text);
        Assert.Contains("quantity", text);
        Assert.Contains("rate", text);
    }
}
