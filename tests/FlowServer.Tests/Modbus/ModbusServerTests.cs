using System.Net;
using FlowServer.Nodes.Modbus.Protocol;
using FlowServer.Testing.Fixtures;
using Xunit;

namespace FlowServer.Tests.Modbus;

/// <summary>Our server with a real client: Debian's mbpoll.</summary>
public sealed class ModbusServerTests
{
    [Fact]
    public async Task Mbpoll_reads_all_four_tables()
    {
        var model = new ModbusDataModel(100, 100, 100, 100);
        model.WriteHoldingRegisters(10, [1, 2, 65535]);
        model.WriteInputRegisters(0, [500, 501]);
        model.WriteCoils(3, [true, false, true]);
        model.WriteDiscreteInputs(7, [true]);
        await using var server = new ModbusTcpServer(model, IPAddress.Loopback, 0);
        server.Start();

        Assert.Equal(new[] { 1, 2, 65535 }, await Mbpoll.ReadAsync(server.Port, 4, 10, 3));
        Assert.Equal(new[] { 500, 501 }, await Mbpoll.ReadAsync(server.Port, 3, 0, 2));
        Assert.Equal(new[] { 1, 0, 1 }, await Mbpoll.ReadAsync(server.Port, 0, 3, 3));
        Assert.Equal(new[] { 0, 1 }, await Mbpoll.ReadAsync(server.Port, 1, 6, 2));
    }

    [Fact]
    public async Task Mbpoll_writes_single_and_multiple_registers_and_coils()
    {
        var model = new ModbusDataModel(100, 100, 100, 100);
        await using var server = new ModbusTcpServer(model, IPAddress.Loopback, 0);
        var functions = new List<byte>();
        server.RequestHandled += info => { lock (functions) functions.Add(info.Function); };
        server.Start();

        await Mbpoll.WriteAsync(server.Port, 4, 5, 1234);
        await Mbpoll.WriteAsync(server.Port, 4, 20, 7, 8, 9);
        await Mbpoll.WriteAsync(server.Port, 0, 2, 1);
        await Mbpoll.WriteAsync(server.Port, 0, 40, 1, 0, 1, 1);

        Assert.Equal(new ushort[] { 1234 }, model.ReadHoldingRegisters(5, 1));
        Assert.Equal(new ushort[] { 7, 8, 9 }, model.ReadHoldingRegisters(20, 3));
        Assert.Equal(new[] { true }, model.ReadCoils(2, 1));
        Assert.Equal(new[] { true, false, true, true }, model.ReadCoils(40, 4));
        lock (functions) Assert.Equal(new byte[] { 6, 16, 5, 15 }, functions);
    }

    [Fact]
    public async Task Mbpoll_sees_illegal_data_address_beyond_the_table()
    {
        await using var server = new ModbusTcpServer(new ModbusDataModel(10, 10, 10, 10), IPAddress.Loopback, 0);
        server.Start();

        var (_, output) = await Mbpoll.RunAsync("-m", "tcp", "-p", server.Port.ToString(), "-a", "1", "-t", "4", "-0", "-r", "8", "-c", "5", "-1", "127.0.0.1");

        Assert.Contains("Illegal data address", output);
    }
}
