using System.Net;
using System.Net.Sockets;
using FlowServer.Testing;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Mqtt;

/// <summary>
/// What the engine has handed to the kernel before it disconnects still reaches the broker.
/// MQTTnet closes its sockets with linger 0, a reset that throws away whatever the kernel has not
/// sent yet: QoS 0 messages published just before a redeploy or a stop were lost (the historian
/// benchmark lost 11,000 of 200,000 that way).
/// </summary>
public sealed class MqttCloseTests
{
    [Fact]
    public async Task Qos0_messages_sent_just_before_a_stop_all_reach_a_slow_broker()
    {
        // A broker that accepts the connection and then does not read until the engine has
        // stopped: the messages wait in the kernel's buffers when the socket closes.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Server.ReceiveBufferSize = 16 * 1024; // small: most bytes stay on the sender's side
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var accepted = AcceptAndConnAckAsync(listener);

        const int count = 1000; // ~130 KB: fits the engine's send buffer even where the kernel caps it at its 208 KiB default, and is far more than the broker's 16 KiB receive buffer
        var payload = new string('x', 100);
        var flow = await StartAsync(Flow(
            MqttNodeTests.Broker(port),
            new { id = "out", type = "mqtt out", topic = "slow/broker", qos = "0", retain = "false", broker = "b1" }));
        Socket broker;
        try
        {
            broker = await accepted.WaitAsync(TimeSpan.FromSeconds(10));
            await MqttNodeTests.WaitForStatusAsync(flow, "out", "connected");
            for (var i = 0; i < count; i++) await flow.SendAsync("out", payload);
        }
        finally { await flow.DisposeAsync(); } // disconnects: DISCONNECT, then close

        using (broker)
        {
            var (publishes, disconnects) = await CountPacketsUntilClosedAsync(broker);
            Assert.Equal(count, publishes);
            Assert.Equal(1, disconnects);
        }
    }

    static async Task<Socket> AcceptAndConnAckAsync(TcpListener listener)
    {
        var socket = await listener.AcceptSocketAsync();
        var header = await ReadExactlyAsync(socket, 2);
        if (header[0] != 0x10) throw new InvalidDataException($"expected CONNECT, got 0x{header[0]:X2}");
        await ReadExactlyAsync(socket, header[1]); // a short client id: the length fits one byte
        await socket.SendAsync(new byte[] { 0x20, 0x02, 0x00, 0x00 }); // CONNACK, accepted
        return socket;
    }

    // Reads MQTT packets until the engine's side closes; a reset fails the read (and the test).
    static async Task<(int Publishes, int Disconnects)> CountPacketsUntilClosedAsync(Socket socket)
    {
        using var stream = new NetworkStream(socket, ownsSocket: false);
        stream.ReadTimeout = 10_000;
        int publishes = 0, disconnects = 0;
        var one = new byte[1];
        while (await stream.ReadAsync(one) == 1)
        {
            var type = one[0] >> 4;
            int length = 0, shift = 0;
            do
            {
                await stream.ReadExactlyAsync(one);
                length |= (one[0] & 0x7F) << shift;
                shift += 7;
            } while ((one[0] & 0x80) != 0);
            await stream.ReadExactlyAsync(new byte[length]);
            if (type == 3) publishes++;
            else if (type == 14) disconnects++;
        }
        return (publishes, disconnects);
    }

    static async Task<byte[]> ReadExactlyAsync(Socket socket, int count)
    {
        var buffer = new byte[count];
        for (var got = 0; got < count;)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(got));
            if (read == 0) throw new IOException("the engine closed the connection");
            got += read;
        }
        return buffer;
    }
}
