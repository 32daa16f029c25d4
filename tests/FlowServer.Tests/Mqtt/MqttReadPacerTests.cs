using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using FlowServer.Nodes.Network.Mqtt;
using MQTTnet;
using Xunit;

namespace FlowServer.Tests.Mqtt;

/// <summary>
/// The pacing of a busy connection's reads: only a connection that receives more than
/// <see cref="MqttReadPacer.BusyBytesPerSecond"/> is paused, only after a short read, and it stops
/// as soon as the rate drops; a paced stream still delivers every byte in order; the setting is
/// checked and named.
/// </summary>
public sealed class MqttReadPacerTests
{
    static long Microseconds(double us) => (long)(us * Stopwatch.Frequency / 1_000_000);

    // Feeds reads of `bytes` every `everyUs` µs for `forMs` ms from `start`; returns the time after the last.
    static long Feed(MqttReadPacer pacer, long start, int bytes, double everyUs, double forMs)
    {
        var at = start;
        for (var t = 0.0; t < forMs * 1000; t += everyUs)
        {
            at = start + Microseconds(t);
            pacer.Read(bytes, at);
        }
        return at;
    }

    [Fact]
    public void A_connection_that_receives_fast_in_short_reads_is_paused()
    {
        var pacer = new MqttReadPacer(TimeSpan.FromMicroseconds(500));
        Assert.False(pacer.ShouldPause); // nothing read yet
        // 200 bytes every 20 µs: 10 MB/s, two messages a read.
        var at = Feed(pacer, Stopwatch.GetTimestamp(), 200, 20, 20);
        Assert.True(pacer.ShouldPause);
        // A read that brought a lot: the next one is not paused, there is no small read to avoid.
        pacer.Read(MqttReadPacer.ShortReadBytes, at + Microseconds(20));
        Assert.False(pacer.ShouldPause);
        pacer.Read(300, at + Microseconds(40));
        Assert.True(pacer.ShouldPause);
    }

    [Fact]
    public void Seven_thousand_small_messages_a_second_read_one_by_one_are_paced()
    {
        // 100 bytes every ~143 µs (700 KB/s): a 500 µs pause gathers three or four of them.
        var pacer = new MqttReadPacer(TimeSpan.FromMicroseconds(500));
        Feed(pacer, Stopwatch.GetTimestamp(), 100, 1_000_000.0 / 7_000, 20);
        Assert.True(pacer.ShouldPause);
    }

    [Fact]
    public void A_plant_floor_rate_is_never_paused()
    {
        var pacer = new MqttReadPacer(TimeSpan.FromMicroseconds(500));
        // 1,000 messages of 150 bytes a second, in bursts of 4 every 4 ms (as the bench's latency profile sends them).
        var start = Stopwatch.GetTimestamp();
        for (var burst = 0; burst < 500; burst++)
        {
            for (var i = 0; i < 4; i++)
            {
                pacer.Read(150, start + Microseconds(burst * 4000 + i * 30));
                Assert.False(pacer.ShouldPause, $"paused in burst {burst}");
            }
        }
    }

    [Fact]
    public void Pacing_stops_when_the_rate_drops()
    {
        var pacer = new MqttReadPacer(TimeSpan.FromMicroseconds(500));
        var at = Feed(pacer, Stopwatch.GetTimestamp(), 200, 20, 20);
        Assert.True(pacer.ShouldPause);
        // A lull of a second, then a message: the window that ends with it is far below the rate.
        pacer.Read(150, at + Microseconds(1_000_000));
        Assert.False(pacer.ShouldPause);
        // 100 KB/s from then on stays unpaced.
        Feed(pacer, at + Microseconds(1_000_100), 100, 1000, 50);
        Assert.False(pacer.ShouldPause);
    }

    [Theory]
    [InlineData(null, 500)]
    [InlineData("", 500)]
    [InlineData("0", 0)]
    [InlineData("250", 250)]
    public void The_pause_is_read_from_the_setting(string? value, int microseconds) =>
        Assert.Equal(TimeSpan.FromMicroseconds(microseconds), MqttReadPacer.ReadPause(value));

    [Theory]
    [InlineData("-1")]
    [InlineData("0.5")]
    [InlineData("fast")]
    [InlineData("100001")]
    public void A_bad_setting_is_refused_with_its_name(string value)
    {
        var error = Assert.Throws<ArgumentException>(() => MqttReadPacer.ReadPause(value));
        Assert.Contains("FLOWSERVER_MQTT_READ_PAUSE_US", error.Message);
        Assert.Contains(value, error.Message);
    }

    [Fact]
    public async Task A_paced_stream_delivers_every_byte_in_order_in_fewer_reads()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            var accepting = listener.AcceptSocketAsync();
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Connect(listener.LocalEndpoint);
            // A long pause, so that pacing shows however fast or slow the host is.
            using var paced = new MqttReaderThreadStream(socket, new MqttReadPacer(TimeSpan.FromMilliseconds(20)));
            using var sender = await accepting.WaitAsync(TimeSpan.FromSeconds(10));

            // A send of 4,000 bytes every 200 µs for 300 ms (20 MB/s, ten times the busy rate, so that
            // a slow host stays above it), spaced so that an unpaced reader keeps up and takes them
            // about one by one.
            var sends = 0;
            var sending = Task.Run(() =>
            {
                var chunk = new byte[4000];
                var clock = Stopwatch.StartNew();
                while (clock.ElapsedMilliseconds < 300)
                {
                    while (clock.Elapsed.TotalMicroseconds < sends * 200.0) Thread.SpinWait(20);
                    for (var i = 0; i < chunk.Length; i++) chunk[i] = (byte)((sends * chunk.Length + i) % 251);
                    sender.Send(chunk);
                    sends++;
                }
                sender.Shutdown(SocketShutdown.Send);
            });
            var received = new byte[16 << 20];
            var length = 0;
            int n;
            while ((n = await paced.ReadAsync(received.AsMemory(length, Math.Min(64 * 1024, received.Length - length))).AsTask().WaitAsync(TimeSpan.FromSeconds(30))) > 0)
                length += n;
            await sending;
            Assert.Equal(sends * 4000, length);
            for (var i = 0; i < length; i++)
                if (received[i] != (byte)(i % 251)) Assert.Fail($"byte {i} out of order");
            // Unpaced, the reader mostly took a send or two per read (checked without the pacer: 304
            // and 1,102 reads for 1,501 sends, and once under 187 when the reader fell behind on its
            // own). Paced, once busy, each 20 ms pause lets the socket fill: 56-71 reads.
            Assert.True(paced.SocketReads < sends / 8, $"{paced.SocketReads} reads for {sends} sends");
        }
        finally { listener.Stop(); }
    }
}
