using FlowServer.Nodes.Modbus.Protocol;
using Xunit;

namespace FlowServer.Tests.Modbus;

/// <summary>How the client uses its connection: the queue and pipelining, seen from a raw device.</summary>
public sealed class ModbusClientConnectionTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public async Task Concurrent_callers_never_put_more_than_max_in_flight_requests_on_the_wire(int maxInFlight)
    {
        await using var device = RawModbusDevice.Start(responseDelay: TimeSpan.FromMilliseconds(300));
        await using var client = new ModbusTcpClient(new() { Port = device.Port, MaxInFlight = maxInFlight, Timeout = TimeSpan.FromSeconds(20) });

        var reads = Enumerable.Range(0, 8).Select(i => client.ReadHoldingRegistersAsync((ushort)(i * 10), 2)).ToArray();
        var results = await Task.WhenAll(reads);

        for (var i = 0; i < 8; i++) Assert.Equal(new[] { (ushort)(i * 10), (ushort)(i * 10 + 1) }, results[i]);
        Assert.Equal(8, device.Requests);
        Assert.Equal(1, device.Connections);
        Assert.Equal(maxInFlight, device.MostOutstanding); // 1 = a queue; 4 = all four go out together
    }
}
