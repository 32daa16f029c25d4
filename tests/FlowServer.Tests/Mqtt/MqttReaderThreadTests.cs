using System.Net;
using System.Net.Sockets;
using FlowServer.Nodes.Network.Mqtt;
using FlowServer.Testing;
using FlowServer.Testing.Fixtures;
using MQTTnet;
using Xunit;

namespace FlowServer.Tests.Mqtt;

/// <summary>
/// The MQTT client's socket read by a thread of its own, over a real loopback connection: bytes
/// come in order, and the code that awaited a read which waited for them runs on the reader thread; writes arrive in
/// order; disposing ends a read that waits and closes the connection; cancelling a read ends
/// reading but not writing; a read of no bytes waits for bytes; a refused
/// connect fails with the socket's error; a DNS name connects. (Every MQTT test of the suite also runs on this stream: it is the default.)
/// </summary>
public sealed class MqttReaderThreadTests
{
    sealed class Connection : IAsyncDisposable
    {
        public required TcpListener Listener { get; init; }
        public required MqttReaderThreadStream Stream { get; init; }
        public required Socket Peer { get; init; }

        public ValueTask DisposeAsync()
        {
            Stream.Dispose();
            Peer.Dispose();
            Listener.Stop();
            return ValueTask.CompletedTask;
        }
    }

    static async Task<Connection> ConnectAsync(Func<int, EndPoint>? endPoint = null)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var tcp = new MqttClientTcpOptions { BufferSize = 64 * 1024 };
        var provider = new MqttReaderThreadStreamProvider(tcp, TimeSpan.FromSeconds(10));
        var accepting = listener.AcceptSocketAsync();
        var target = endPoint?.Invoke(port) ?? new IPEndPoint(IPAddress.Loopback, port);
        var stream = (MqttReaderThreadStream)await provider.ConnectAsync(target, CancellationToken.None);
        return new Connection { Listener = listener, Stream = stream, Peer = await accepting.WaitAsync(TimeSpan.FromSeconds(10)) };
    }

    // Reads until the end, noting the threads the code after each read ran on.
    static async Task<(List<byte> Received, List<string?> Threads)> ReadToEndAsync(Stream stream)
    {
        var received = new List<byte>();
        var buffer = new byte[64 * 1024];
        var threads = new List<string?>();
        while (true)
        {
            var n = await stream.ReadAsync(buffer).ConfigureAwait(false); // no context: go on where the read completed
            threads.Add(Thread.CurrentThread.Name);
            if (n == 0) return (received, threads);
            received.AddRange(buffer.AsSpan(0, n));
        }
    }

    [Fact]
    public async Task Bytes_come_in_order_whatever_the_chunks()
    {
        await using var connection = await ConnectAsync();
        var sent = Enumerable.Range(0, 1_000_000).Select(i => (byte)(i * 7 % 251)).ToArray();
        var sending = Task.Run(() =>
        {
            // Chunks of uneven sizes, each its own send, as a broker writes packet by packet.
            var random = new Random(7);
            for (var at = 0; at < sent.Length;)
            {
                var n = Math.Min(random.Next(1, 5000), sent.Length - at);
                connection.Peer.Send(sent.AsSpan(at, n));
                at += n;
            }
            connection.Peer.Shutdown(SocketShutdown.Send);
        });

        // Read from a pool thread: a read that finds its bytes already there goes on where it was
        // awaited, and the test's own thread may be one of xUnit's (".NET Long Running Task").
        var (received, threads) = await Task.Run(() => ReadToEndAsync(connection.Stream));
        await sending;
        Assert.Equal(sent, received);
        await Poll.UntilAsync(() => connection.Stream.ReaderEnded, TimeSpan.FromSeconds(10), "the reader thread did not end at the end of the stream");
        // A read that waited for bytes goes on on the reader thread; one that found them already
        // there may have completed before it was awaited, and then goes on where it was awaited.
        Assert.All(threads, name => Assert.True(name is "MQTT reader" or ".NET TP Worker", $"went on on '{name}'"));
        Assert.InRange(connection.Stream.SocketReads, 2, sent.Length);
    }

    [Fact]
    public async Task A_read_that_waited_for_bytes_goes_on_on_the_reader_thread()
    {
        await using var connection = await ConnectAsync();
        var reading = ReadOnceAsync(connection.Stream);
        await Task.Delay(100);
        Assert.False(reading.IsCompleted);
        connection.Peer.Send([1, 2, 3]);
        var (n, thread) = await reading.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(3, n);
        Assert.Equal("MQTT reader", thread);
    }

    static async Task<(int Read, string? Thread)> ReadOnceAsync(Stream stream)
    {
        var n = await stream.ReadAsync(new byte[10]).ConfigureAwait(false);
        return (n, Thread.CurrentThread.Name);
    }

    [Fact]
    public async Task Writes_reach_the_peer_in_order()
    {
        await using var connection = await ConnectAsync();
        for (byte b = 0; b < 100; b++) await connection.Stream.WriteAsync(new[] { b, (byte)(b + 1) });
        var received = new byte[200];
        for (var got = 0; got < received.Length;) got += connection.Peer.Receive(received.AsSpan(got));
        Assert.Equal(Enumerable.Range(0, 100).SelectMany(b => new[] { (byte)b, (byte)(b + 1) }), received);
    }

    [Fact]
    public async Task Disposing_ends_a_read_that_waits_and_closes_the_connection()
    {
        await using var connection = await ConnectAsync();
        var reading = connection.Stream.ReadAsync(new byte[100]).AsTask();
        await Task.Delay(100);
        Assert.False(reading.IsCompleted); // nothing was sent
        connection.Stream.Dispose();
        var ended = await Task.WhenAny(reading, Task.Delay(TimeSpan.FromSeconds(10)));
        Assert.Same(reading, ended);
        if (reading.IsCompletedSuccessfully) Assert.Equal(0, await reading);
        else Assert.IsType<IOException>(reading.Exception!.InnerException);
        Assert.Equal(0, connection.Peer.Receive(new byte[10])); // the peer sees the close
        Assert.Equal(0, await connection.Stream.ReadAsync(new byte[10])); // a closed stream reads as the end
        await Poll.UntilAsync(() => connection.Stream.ReaderEnded, TimeSpan.FromSeconds(10), "the reader thread did not end");
    }

    [Fact]
    public async Task A_cancelled_read_ends_reading_but_what_is_written_after_it_still_goes_out()
    {
        // MQTTnet stops its receive loop first and then writes DISCONNECT: closing the socket at the
        // cancel made the broker publish the will of a client that had disconnected cleanly.
        await using var connection = await ConnectAsync();
        using var cancel = new CancellationTokenSource();
        var reading = connection.Stream.ReadAsync(new byte[100], cancel.Token).AsTask();
        await Task.Delay(50);
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => reading.WaitAsync(TimeSpan.FromSeconds(10)));
        await connection.Stream.WriteAsync(new byte[] { 0xE0, 0x00 });
        connection.Peer.ReceiveTimeout = 10_000;
        var received = new byte[2];
        Assert.Equal(2, connection.Peer.Receive(received));
        Assert.Equal(new byte[] { 0xE0, 0x00 }, received);
        Assert.Equal(0, await connection.Stream.ReadAsync(new byte[10])); // reading has ended
        connection.Stream.Dispose();
        Assert.Equal(0, connection.Peer.Receive(new byte[10])); // and Dispose closes
        await Poll.UntilAsync(() => connection.Stream.ReaderEnded, TimeSpan.FromSeconds(10), "the reader thread did not end");
    }

    [Fact]
    public async Task A_read_of_no_bytes_waits_for_bytes_and_does_not_end_the_stream()
    {
        // SslStream reads no bytes to wait for the next record without holding a buffer.
        await using var connection = await ConnectAsync();
        var waiting = connection.Stream.ReadAsync(Memory<byte>.Empty).AsTask();
        await Task.Delay(100);
        Assert.False(waiting.IsCompleted);
        connection.Peer.Send([9, 8]);
        Assert.Equal(0, await waiting.WaitAsync(TimeSpan.FromSeconds(10)));
        var buffer = new byte[10];
        Assert.Equal(2, await connection.Stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(new byte[] { 9, 8 }, buffer[..2]);
    }

    [Fact]
    public async Task Reads_that_completed_leave_no_cancellation_callbacks_behind()
    {
        await using var connection = await ConnectAsync();
        using var cancel = new CancellationTokenSource();
        var buffer = new byte[10];
        for (var i = 0; i < 200; i++)
        {
            connection.Peer.Send([(byte)i]);
            Assert.Equal(1, await connection.Stream.ReadAsync(buffer, cancel.Token));
            Assert.Equal((byte)i, buffer[0]);
        }
        // Cancelling now must not touch the 200 reads that finished, nor the connection.
        cancel.Cancel();
        connection.Peer.Send([42]);
        Assert.Equal(1, await connection.Stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(42, buffer[0]);
    }

    [Fact]
    public async Task A_dns_name_connects()
    {
        await using var connection = await ConnectAsync(port => new DnsEndPoint("localhost", port));
        connection.Peer.Send([1, 2, 3]);
        var buffer = new byte[10];
        var n = await connection.Stream.ReadAsync(buffer);
        Assert.Equal(new byte[] { 1, 2, 3 }[..n], buffer[..n]);
    }

    [Fact]
    public async Task Connecting_where_nobody_listens_fails_with_the_socket_error()
    {
        var port = FreePort.Next(); // nothing listens: connects are refused
        var provider = new MqttReaderThreadStreamProvider(new MqttClientTcpOptions(), TimeSpan.FromSeconds(5));
        var error = await Assert.ThrowsAsync<SocketException>(() => provider.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), CancellationToken.None));
        Assert.Equal(SocketError.ConnectionRefused, error.SocketErrorCode);
    }

    [Fact]
    public async Task A_connect_that_hangs_is_given_up_when_cancelled()
    {
        // A listener that never accepts, with its queue full: the kernel drops further SYNs, so a
        // connect hangs as it does to a host that does not answer.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var endPoint = (IPEndPoint)listener.LocalEndPoint!;
        var fillers = new List<Socket>();
        try
        {
            for (var i = 0; i < 8; i++)
            {
                var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { Blocking = false };
                fillers.Add(filler);
                try { filler.Connect(endPoint); } catch (SocketException) { }
            }
            await Task.Delay(200);
            var provider = new MqttReaderThreadStreamProvider(new MqttClientTcpOptions(), TimeSpan.FromSeconds(5));
            using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
            var started = Environment.TickCount64;
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => provider.ConnectAsync(endPoint, cancel.Token));
            Assert.InRange(Environment.TickCount64 - started, 0, 5_000);
        }
        finally
        {
            foreach (var filler in fillers) filler.Dispose();
        }
    }
}
