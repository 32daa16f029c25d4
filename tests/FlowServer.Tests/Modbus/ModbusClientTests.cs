using FlowServer.Nodes.Modbus.Protocol;
using FlowServer.Testing.Fixtures;
using Xunit;

namespace FlowServer.Tests.Modbus;

/// <summary>Our client against a real device: pymodbus 3.0 on a free loopback port.</summary>
public sealed class ModbusClientTests
{
    static ModbusTcpClient Connect(PymodbusFixture device, int maxInFlight = 1) => new(new()
    {
        Port = device.Port,
        Timeout = TimeSpan.FromSeconds(5),
        ReconnectDelay = TimeSpan.FromMilliseconds(200),
        MaxInFlight = maxInFlight,
    });

    [Fact]
    public async Task Reads_every_table_with_function_codes_1_to_4()
    {
        await using var device = await PymodbusFixture.StartAsync();
        await using var client = Connect(device);

        Assert.Equal(Enumerable.Range(5, 10).Select(i => i % 3 == 0), await client.ReadCoilsAsync(5, 10));
        Assert.Equal(Enumerable.Range(5, 10).Select(i => i % 2 == 1), await client.ReadDiscreteInputsAsync(5, 10));
        Assert.Equal(Enumerable.Range(5, 10).Select(i => (ushort)i), await client.ReadHoldingRegistersAsync(5, 10));
        Assert.Equal(Enumerable.Range(5, 10).Select(i => (ushort)(1000 + i)), await client.ReadInputRegistersAsync(5, 10, unitId: 7));
        Assert.Equal(ModbusConnectionState.Connected, client.State);
    }

    [Fact]
    public async Task Writes_with_function_codes_5_6_15_16_and_reads_them_back()
    {
        await using var device = await PymodbusFixture.StartAsync();
        await using var client = Connect(device);

        await client.WriteSingleCoilAsync(1, true);
        await client.WriteSingleRegisterAsync(2, 54321);
        await client.WriteMultipleCoilsAsync(10, [true, true, false, true, false, false, false, false, true]);
        await client.WriteMultipleRegistersAsync(20, [1, 65535, 300]);

        Assert.True((await client.ReadCoilsAsync(1, 1))[0]);
        Assert.Equal(new ushort[] { 54321 }, await client.ReadHoldingRegistersAsync(2, 1));
        Assert.Equal(new[] { true, true, false, true, false, false, false, false, true }, await client.ReadCoilsAsync(10, 9));
        Assert.Equal(new ushort[] { 1, 65535, 300 }, await client.ReadHoldingRegistersAsync(20, 3));
    }

    [Fact]
    public async Task Reads_beyond_the_protocol_maximum_are_split_and_joined()
    {
        await using var device = await PymodbusFixture.StartAsync();
        await using var client = Connect(device, maxInFlight: 4);

        var registers = await client.ReadHoldingRegistersAsync(0, 1000);   // 8 requests of ≤ 125
        var coils = await client.ReadCoilsAsync(100, 2500);                 // 2 requests of ≤ 2000

        Assert.Equal(Enumerable.Range(0, 1000).Select(i => (ushort)i), registers);
        Assert.Equal(Enumerable.Range(100, 2500).Select(i => i % 3 == 0), coils);
        Assert.Equal(10, client.Requests);
    }

    [Fact]
    public async Task Bad_addresses_give_the_illegal_data_address_exception()
    {
        await using var device = await PymodbusFixture.StartAsync();
        await using var client = Connect(device);

        var read = await Assert.ThrowsAsync<ModbusException>(() => client.ReadHoldingRegistersAsync(PymodbusFixture.Size - 2, 5));
        var write = await Assert.ThrowsAsync<ModbusException>(() => client.WriteSingleRegisterAsync(PymodbusFixture.Size + 10, 1));

        Assert.Equal("IllegalDataAddress", read.Name);
        Assert.Equal(ModbusExceptionCode.IllegalDataAddress, write.Code);
        Assert.Equal(new ushort[] { 7 }, await client.ReadHoldingRegistersAsync(7, 1)); // the connection is still fine
    }

    [Fact]
    public async Task Survives_a_device_restart_and_reconnects()
    {
        await using var device = await PymodbusFixture.StartAsync();
        await using var client = Connect(device);
        var states = new List<ModbusConnectionState>();
        client.StateChanged += (state, _) => { lock (states) states.Add(state); };
        Assert.Equal(new ushort[] { 3 }, await client.ReadHoldingRegistersAsync(3, 1));

        await device.StopAsync();
        await Assert.ThrowsAnyAsync<IOException>(() => client.ReadHoldingRegistersAsync(3, 1));
        await device.StartAsync();

        ushort[]? values = null;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (values is null && DateTime.UtcNow < deadline)
        {
            try { values = await client.ReadHoldingRegistersAsync(3, 1); }
            catch (IOException) { await Task.Delay(100); }
        }
        Assert.Equal(new ushort[] { 3 }, values);
        Assert.True(client.Reconnects >= 1);
        lock (states) Assert.Equal(ModbusConnectionState.Connected, states[^1]);
    }
}
