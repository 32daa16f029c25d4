using System.Buffers;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using FlowServer.Nodes.Network.Mqtt;
using MQTTnet.Channel;
using Xunit;

namespace FlowServer.Tests.Mqtt;

/// <summary>
/// The read-ahead channel under MQTTnet's client: small reads are served from one socket read,
/// bytes come out in order whatever the chunking, large reads go straight through, and a closed
/// connection reads as 0.
/// </summary>
public sealed class MqttReadAheadChannelTests
{
    /// <summary>A socket stand-in that hands out scripted chunks and counts the reads.</summary>
    sealed class ScriptedChannel(params byte[][] chunks) : IMqttChannel
    {
        readonly Queue<byte[]> _chunks = new(chunks);
        public int Reads { get; private set; }
        public List<int> RequestedCounts { get; } = [];
        public X509Certificate2 ClientCertificate => null!;
        public EndPoint RemoteEndPoint => null!;
        public EndPoint LocalEndPoint => null!;
        public bool IsSecureConnection => false;
        public Task ConnectAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task DisconnectAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task WriteAsync(ReadOnlySequence<byte> buffer, bool isEndOfPacket, CancellationToken cancellationToken) => Task.CompletedTask;
        public void Dispose() { }

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
        var channel = new MqttReadAheadChannel(inner);

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
        var channel = new MqttReadAheadChannel(inner);
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
        var channel = new MqttReadAheadChannel(inner);
        Assert.Equal(big, await ReadExactlyAsync(channel, big.Length));
        Assert.Equal(100_000, inner.RequestedCounts[0]); // not through the 64 KiB buffer
    }

    [Fact]
    public async Task Bytes_left_in_the_buffer_are_used_before_the_next_socket_read()
    {
        var first = Enumerable.Range(0, 100).Select(i => (byte)i).ToArray();
        var inner = new ScriptedChannel(first, [200, 201]);
        var channel = new MqttReadAheadChannel(inner);
        Assert.Equal(first[..10], await ReadExactlyAsync(channel, 10));
        // Asking for more than is buffered returns what is buffered first: order before size.
        var rest = new byte[200];
        var n = await channel.ReadAsync(rest, 0, 200, CancellationToken.None);
        Assert.Equal(90, n);
        Assert.Equal(first[10..], rest[..90]);
        Assert.Equal(new byte[] { 200, 201 }, await ReadExactlyAsync(channel, 2));
        Assert.Equal(2, inner.Reads);
    }
}
