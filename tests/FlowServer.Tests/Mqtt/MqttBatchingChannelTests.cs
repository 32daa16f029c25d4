using System.Buffers;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using FlowServer.Nodes.Network.Mqtt;
using FlowServer.Testing;
using MQTTnet.Channel;
using Xunit;

namespace FlowServer.Tests.Mqtt;

/// <summary>
/// The batching channel under MQTTnet's client. Reads: small reads are served from one socket
/// read, bytes come out in order whatever the chunking, large reads go straight through, and a
/// closed connection reads as 0. Writes: packets written while a thread is busy leave in one
/// socket write, in order; a failed write fails later writes and closes the socket; disconnect
/// sends what is pending first.
/// </summary>
public sealed class MqttBatchingChannelTests
{
    /// <summary>A socket stand-in that hands out scripted chunks and counts the reads.</summary>
    internal sealed class ScriptedChannel(params byte[][] chunks) : IMqttChannel
    {
        readonly Queue<byte[]> _chunks = new(chunks);
        public int Reads { get; private set; }
        public List<int> RequestedCounts { get; } = [];
        public X509Certificate2 ClientCertificate => null!;
        public EndPoint RemoteEndPoint => null!;
        public EndPoint LocalEndPoint => null!;
        public bool IsSecureConnection => false;
        public Task ConnectAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public List<byte[]> Writes { get; } = [];
        public Exception? FailWritesWith { get; set; }
        public TaskCompletionSource? HoldWrites { get; set; }
        public bool Disposed { get; private set; }
        public List<string> Events { get; } = [];

        public TaskCompletionSource WriteStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public async Task WriteAsync(ReadOnlySequence<byte> buffer, bool isEndOfPacket, CancellationToken cancellationToken)
        {
            WriteStarted.TrySetResult();
            if (HoldWrites is { } hold) await hold.Task;
            if (FailWritesWith is { } failure) throw failure;
            lock (Writes) Writes.Add(buffer.ToArray());
            lock (Events) Events.Add("write");
        }

        public Task DisconnectAsync(CancellationToken cancellationToken)
        {
            lock (Events) Events.Add("disconnect");
            return Task.CompletedTask;
        }

        public void Dispose() => Disposed = true;

        public async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            await Task.Yield(); // as a socket would, complete later
            Reads++;
            RequestedCounts.Add(count);
            if (_chunks.Count == 0) return 0;
            var chunk = _chunks.Dequeue();
            var n = Math.Min(count, chunk.Length);
            Array.Copy(chunk, 0, buffer, offset, n);
            if (n < chunk.Length) _chunks.Enqueue(chunk[n..]); // rest stays for the next read (order kept: one chunk in the script)
            return n;
        }
    }

    static async Task<byte[]> ReadExactlyAsync(IMqttChannel channel, int count)
    {
        var result = new byte[count];
        var got = 0;
        while (got < count)
        {
            var n = await channel.ReadAsync(result, got, count - got, CancellationToken.None);
            if (n == 0) throw new EndOfStreamException($"closed after {got} of {count} bytes");
            got += n;
        }
        return result;
    }

    [Fact]
    public async Task Many_small_reads_are_served_by_one_socket_read_in_order()
    {
        var bytes = Enumerable.Range(0, 1000).Select(i => (byte)i).ToArray();
        var inner = new ScriptedChannel(bytes);
        var channel = new MqttBatchingChannel(inner);

        var collected = new List<byte>();
        while (collected.Count < bytes.Length)
        {
            collected.AddRange(await ReadExactlyAsync(channel, 2));   // a fixed header
            collected.AddRange(await ReadExactlyAsync(channel, 8));   // a body
        }
        Assert.Equal(bytes, collected);
        Assert.Equal(1, inner.Reads);
    }

    [Fact]
    public async Task A_packet_split_across_socket_reads_comes_out_whole()
    {
        var inner = new ScriptedChannel([1, 2, 3], [4, 5], [6, 7, 8, 9]);
        var channel = new MqttBatchingChannel(inner);
        Assert.Equal(new byte[] { 1, 2 }, await ReadExactlyAsync(channel, 2));
        Assert.Equal(new byte[] { 3, 4, 5, 6, 7 }, await ReadExactlyAsync(channel, 5));
        Assert.Equal(new byte[] { 8, 9 }, await ReadExactlyAsync(channel, 2));
        Assert.Equal(0, await channel.ReadAsync(new byte[4], 0, 4, CancellationToken.None)); // closed
    }

    [Fact]
    public async Task A_read_larger_than_the_buffer_goes_straight_to_the_socket()
    {
        var big = Enumerable.Range(0, 100_000).Select(i => (byte)(i % 251)).ToArray();
        var inner = new ScriptedChannel(big);
        var channel = new MqttBatchingChannel(inner);
        Assert.Equal(big, await ReadExactlyAsync(channel, big.Length));
        Assert.Equal(100_000, inner.RequestedCounts[0]); // not through the 64 KiB buffer
    }

    [Fact]
    public async Task Bytes_left_in_the_buffer_are_used_before_the_next_socket_read()
    {
        var first = Enumerable.Range(0, 100).Select(i => (byte)i).ToArray();
        var inner = new ScriptedChannel(first, [200, 201]);
        var channel = new MqttBatchingChannel(inner);
        Assert.Equal(first[..10], await ReadExactlyAsync(channel, 10));
        // Asking for more than is buffered returns what is buffered first: order before size.
        var rest = new byte[200];
        var n = await channel.ReadAsync(rest, 0, 200, CancellationToken.None);
        Assert.Equal(90, n);
        Assert.Equal(first[10..], rest[..90]);
        Assert.Equal(new byte[] { 200, 201 }, await ReadExactlyAsync(channel, 2));
        Assert.Equal(2, inner.Reads);
    }

    static ReadOnlySequence<byte> Packet(params byte[] bytes) => new(bytes);

    static Task WaitUntil(Func<bool> condition) => Poll.UntilAsync(condition, TimeSpan.FromSeconds(10), "condition not met in 10 s");

    [Fact]
    public async Task Packets_written_in_one_turn_of_a_thread_leave_in_one_socket_write_in_order()
    {
        var inner = new ScriptedChannel();
        var channel = new MqttBatchingChannel(inner);
        // One work item writes three packets (as a handler writes a publish and then its PUBACK):
        // the flush it queues runs after it, so all three go out together.
        var wrote = new TaskCompletionSource();
        ThreadPool.UnsafeQueueUserWorkItem(_ =>
        {
            channel.WriteAsync(Packet(1, 2), true, CancellationToken.None).GetAwaiter().GetResult();
            channel.WriteAsync(Packet(3), true, CancellationToken.None).GetAwaiter().GetResult();
            channel.WriteAsync(Packet(4, 5, 6), true, CancellationToken.None).GetAwaiter().GetResult();
            wrote.SetResult();
        }, null);
        await wrote.Task;
        await WaitUntil(() => channel.SocketWrites >= 1);
        await Task.Delay(50);
        var all = inner.Writes.SelectMany(w => w).ToArray();
        Assert.Equal(new byte[] { 1, 2, 3, 4, 5, 6 }, all);
        Assert.True(inner.Writes.Count <= 2, $"{inner.Writes.Count} socket writes for 3 packets");
    }

    [Fact]
    public async Task Packets_written_during_a_slow_socket_write_go_out_together_next()
    {
        var inner = new ScriptedChannel { HoldWrites = new TaskCompletionSource() };
        var channel = new MqttBatchingChannel(inner);
        await channel.WriteAsync(Packet(1), true, CancellationToken.None);
        // Wait until the first flush is stuck in the socket write (a fixed delay was too short on a busy machine).
        await inner.WriteStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));
        for (byte b = 2; b <= 100; b++) await channel.WriteAsync(Packet(b), true, CancellationToken.None);
        inner.HoldWrites.SetResult();
        await WaitUntil(() => inner.Writes.Sum(w => w.Length) == 100);
        Assert.Equal(Enumerable.Range(1, 100).Select(i => (byte)i), inner.Writes.SelectMany(w => w));
        Assert.Equal(2, inner.Writes.Count); // the first packet, then the 99 that waited for it
    }

    [Fact]
    public async Task A_failed_socket_write_fails_later_writes_and_closes_the_socket()
    {
        var inner = new ScriptedChannel { FailWritesWith = new IOException("broken pipe") };
        var channel = new MqttBatchingChannel(inner);
        await channel.WriteAsync(Packet(1), true, CancellationToken.None);
        await WaitUntil(() => inner.Disposed);
        var error = await Assert.ThrowsAsync<IOException>(() => channel.WriteAsync(Packet(2), true, CancellationToken.None));
        Assert.Contains("broken pipe", error.Message);
    }

    [Fact]
    public async Task Disconnect_sends_the_pending_packets_first()
    {
        var inner = new ScriptedChannel { HoldWrites = new TaskCompletionSource() };
        var channel = new MqttBatchingChannel(inner);
        await channel.WriteAsync(Packet(0xE0, 0x00), true, CancellationToken.None); // DISCONNECT
        var disconnect = channel.DisconnectAsync(CancellationToken.None);
        await Task.Delay(50);
        Assert.False(disconnect.IsCompleted); // still waiting for the write
        inner.HoldWrites.SetResult();
        await disconnect;
        Assert.Equal(new[] { "write", "disconnect" }, inner.Events);
    }

    [Fact]
    public async Task A_writer_waits_once_a_megabyte_is_pending()
    {
        var inner = new ScriptedChannel { HoldWrites = new TaskCompletionSource() };
        var channel = new MqttBatchingChannel(inner);
        // A first packet occupies the socket write (held), so everything after it stays pending.
        await channel.WriteAsync(Packet(1), true, CancellationToken.None);
        await inner.WriteStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var chunk = new byte[64 * 1024];
        Task last = Task.CompletedTask;
        var accepted = 0;
        for (var i = 0; i < 40; i++)
        {
            last = channel.WriteAsync(Packet(chunk), true, CancellationToken.None);
            if (!last.IsCompleted) break;
            accepted++;
        }
        Assert.Equal(16, accepted); // 16 × 64 KiB = 1 MiB taken; the 17th write waits
        inner.HoldWrites.SetResult();
        await last.WaitAsync(TimeSpan.FromSeconds(10));
    }
}
