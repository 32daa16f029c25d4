using System.Globalization;
using System.Text.RegularExpressions;
using FlowServer.Nodes.Modbus.Protocol;
using FlowServer.Testing.Fixtures;
using Xunit;

namespace FlowServer.Tests.Modbus;

/// <summary>How the client uses its connection: the queue, pipelining and the reconnect backoff, seen from a raw device.</summary>
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

    /// <summary>A clock that moves only when told to.</summary>
    sealed class ManualClock : TimeProvider
    {
        DateTimeOffset _now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        public override DateTimeOffset GetUtcNow() => _now;
        public void Advance(TimeSpan by) => _now += by;
    }

    static int NextAttemptMilliseconds(ModbusConnectionException e)
    {
        var match = Regex.Match(e.Message, @"next attempt in (\d+) ms");
        Assert.True(match.Success, $"not a backoff refusal: {e.Message}");
        return int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
    }

    /// <summary>Fails one connect attempt (refused) and returns the wait the client then imposes.</summary>
    static async Task<int> RefusedConnectWaitAsync(ModbusTcpClient client)
    {
        var refused = await Assert.ThrowsAsync<ModbusConnectionException>(() => client.ReadHoldingRegistersAsync(0, 1));
        Assert.Contains("cannot connect", refused.Message);
        return NextAttemptMilliseconds(await Assert.ThrowsAsync<ModbusConnectionException>(() => client.ReadHoldingRegistersAsync(0, 1)));
    }

    [Fact]
    public async Task The_reconnect_delay_doubles_up_to_the_cap_and_starts_over_after_a_good_connect()
    {
        var port = FreePort.Next(); // nothing listens: connects are refused
        var clock = new ManualClock();
        await using var client = new ModbusTcpClient(new()
        {
            Port = port, Timeout = TimeSpan.FromSeconds(5), Clock = clock,
            ReconnectDelay = TimeSpan.FromMilliseconds(100), MaxReconnectDelay = TimeSpan.FromMilliseconds(400),
        });

        var waits = new List<int>();
        for (var i = 0; i < 5; i++)
        {
            waits.Add(await RefusedConnectWaitAsync(client));
            clock.Advance(TimeSpan.FromMilliseconds(waits[^1] - 1));
            NextAttemptMilliseconds(await Assert.ThrowsAsync<ModbusConnectionException>(() => client.ReadHoldingRegistersAsync(0, 1))); // 1 ms early: still waiting
            clock.Advance(TimeSpan.FromMilliseconds(1));
        }
        Assert.Equal(new[] { 100, 200, 400, 400, 400 }, waits);

        await using (var device = RawModbusDevice.Start(port: port))
        {
            Assert.Equal(new ushort[] { 0 }, await client.ReadHoldingRegistersAsync(0, 1));
        }
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (client.State == ModbusConnectionState.Connected && DateTime.UtcNow < until) await Task.Delay(20);
        Assert.Equal(ModbusConnectionState.Disconnected, client.State);

        Assert.Equal(100, await RefusedConnectWaitAsync(client)); // a lost connection is retried at once, then the first delay again
    }
}
