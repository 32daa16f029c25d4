using System.Net;
using System.Net.Sockets;
using MQTTnet;
using MQTTnet.Channel;

namespace FlowServer.Nodes.Network.Mqtt;

/// <summary>
/// Connects an MQTT client's socket so that it is only ever used synchronously, read by a thread
/// of its own (<see cref="MqttReaderThreadStream"/>). Plugged in through MQTTnet's stream
/// provider, so TLS is still layered on top by MQTTnet.
/// </summary>
public sealed class MqttReaderThreadStreamProvider(MqttClientTcpOptions tcp, TimeSpan sendTimeout) : IMqttClientStreamProvider
{
    public async Task<Stream> ConnectAsync(EndPoint brokerEndPoint, CancellationToken cancellationToken)
    {
        var (addresses, port) = brokerEndPoint switch
        {
            IPEndPoint ip => ([ip.Address], ip.Port),
            DnsEndPoint dns => (await Dns.GetHostAddressesAsync(dns.Host, tcp.AddressFamily, cancellationToken), dns.Port),
            _ => throw new NotSupportedException($"cannot connect to a {brokerEndPoint.GetType().Name}"),
        };
        if (addresses.Length == 0) throw new SocketException((int)SocketError.HostNotFound);
        // Each address on a socket of its own (a socket whose connect failed cannot be used again on
        // Linux), in blocking connects on a pool thread: an asynchronous one would hand the socket to
        // .NET's socket engine for good, and every packet that arrives would wake its thread.
        SocketException? refused = null;
        foreach (var address in addresses)
        {
            try { return await Task.Run(() => Connect(new IPEndPoint(address, port), cancellationToken), cancellationToken); }
            catch (SocketException e) { refused = e; }
        }
        throw refused!;
    }

    Stream Connect(IPEndPoint endPoint, CancellationToken cancellationToken)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, tcp.ProtocolType);
        try
        {
            using (cancellationToken.Register(socket.Dispose)) // aborts a connect that hangs
            {
                if (tcp.LocalEndpoint is not null) socket.Bind(tcp.LocalEndpoint);
                socket.ReceiveBufferSize = tcp.BufferSize;
                socket.SendBufferSize = tcp.BufferSize;
                socket.SendTimeout = (int)sendTimeout.TotalMilliseconds;
                if (tcp.ProtocolType == ProtocolType.Tcp) socket.NoDelay = tcp.NoDelay;
                if (tcp.LingerState is not null) socket.LingerState = tcp.LingerState;
                if (tcp.DualMode is { } dual && endPoint.AddressFamily == AddressFamily.InterNetworkV6) socket.DualMode = dual;
                socket.Connect(endPoint);
            }
            cancellationToken.ThrowIfCancellationRequested();
            return new MqttReaderThreadStream(socket, MqttReadPacer.ForNewConnection());
        }
        catch (Exception) when (cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw new OperationCanceledException(cancellationToken);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}

/// <summary>
/// A socket read by a thread of its own, in blocking reads, and written in blocking sends.
/// <para>
/// Why: .NET's asynchronous sockets wake their engine's thread for every packet that arrives,
/// and that thread then wakes a pool thread to go on with the read. At high rates the broker writes
/// each message as it goes, so each read found 2–4 messages and every message paid for a share of
/// two thread wake-ups. Here a read request is served by the reader thread, and the code awaiting
/// it (MQTTnet's receive loop, which parses the packets) runs on that same thread when the read
/// had to wait. Function flow at maximum rate, broker, engine and load generator on 2 cores: 26–30
/// → 14–21 µs of the engine's CPU per message; the lighter switch flow stays level
/// (bench/README.md, 2026-12-07 afternoon). While the connection is busy, its reads are paced
/// (<see cref="MqttReadPacer"/>), so that each brings more messages.
/// </para>
/// </summary>
public sealed class MqttReaderThreadStream : Stream, IMqttClientStreamEndPoints
{
    readonly Socket _socket;
    readonly object _gate = new(); // a monitor: the reader thread waits on it for a read request
    // The read waiting to be served, under _gate.
    Memory<byte> _target;
    TaskCompletionSource<int>? _read;
    CancellationTokenRegistration _readCancellation;
    bool _ended;       // no more reads are served: the connection ended or the stream was disposed
    int _disposed;
    readonly MqttReadPacer? _pacer; // used by the reader thread only

    public MqttReaderThreadStream(Socket socket, MqttReadPacer? pacer = null)
    {
        _socket = socket;
        _pacer = pacer;
        LocalEndPoint = socket.LocalEndPoint;
        RemoteEndPoint = socket.RemoteEndPoint;
        new Thread(ReadLoop) { IsBackground = true, Name = "MQTT reader" }.Start();
    }

    public EndPoint? LocalEndPoint { get; }
    public EndPoint? RemoteEndPoint { get; }

    /// <summary>Socket reads made so far.</summary>
    public long SocketReads { get; private set; }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (cancellationToken.IsCancellationRequested) return ValueTask.FromCanceled<int>(cancellationToken);
        // Without RunContinuationsAsynchronously: what awaits the read goes on on the reader thread.
        var read = new TaskCompletionSource<int>();
        // A cancelled read ends reading (CancelRead).
        var cancellation = cancellationToken.CanBeCanceled
            ? cancellationToken.UnsafeRegister(static (state, token) => ((MqttReaderThreadStream)state!).CancelRead(token), this)
            : default;
        bool ended;
        lock (_gate)
        {
            ended = _ended;
            if (!ended)
            {
                if (_read is not null) throw new InvalidOperationException("a read is already waiting");
                _target = buffer;
                _read = read;
                _readCancellation = cancellation;
                Monitor.Pulse(_gate);
            }
        }
        if (ended)
        {
            // Outside the lock: Dispose waits for a callback that may be running, and it takes the lock.
            cancellation.Dispose();
            return ValueTask.FromResult(0);
        }
        if (cancellationToken.IsCancellationRequested) CancelRead(cancellationToken); // cancelled before the read was there to cancel
        return new ValueTask<int>(read.Task);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    // A cancelled read (MQTTnet stopping its receive loop before it disconnects) ends reading, not
    // the connection: DISCONNECT and what is pending must still be written before Dispose closes it.
    // The reader stays in its Receive until then, and what it might still take has nowhere to go.
    void CancelRead(CancellationToken token)
    {
        TaskCompletionSource<int>? read;
        lock (_gate)
        {
            read = _read;
            if (read is null) return;
            _ended = true;
        }
        read.TrySetCanceled(token);
    }

    /// <summary>The reader thread has ended (the connection ended or the stream was disposed).</summary>
    internal bool ReaderEnded => Volatile.Read(ref _readerEnded);
    bool _readerEnded;

    void ReadLoop()
    {
        try { ServeReads(); }
        finally { Volatile.Write(ref _readerEnded, true); }
    }

    void ServeReads()
    {
        while (true)
        {
            Memory<byte> target;
            TaskCompletionSource<int> read;
            CancellationTokenRegistration cancellation;
            lock (_gate)
            {
                while (_read is null && !_ended) Monitor.Wait(_gate);
                if (_read is null) return;
                (target, read, cancellation) = (_target, _read, _readCancellation);
            }
            int n;
            Exception? failure = null;
            try
            {
                _pacer?.PauseIfBusy();
                // A read of no bytes (SslStream makes them) waits until there are some, and reads none.
                if (target.IsEmpty) _socket.Poll(-1, SelectMode.SelectRead);
                n = _socket.Receive(target.Span);
                SocketReads++;
                if (!target.IsEmpty) _pacer?.Read(n, System.Diagnostics.Stopwatch.GetTimestamp());
            }
            catch (Exception e) // the thread must not end on an exception: it would take the server down
            {
                n = 0;
                failure = new IOException($"reading from the broker failed: {e.Message}", e);
            }
            cancellation.Dispose();
            var end = failure is not null || (n == 0 && !target.IsEmpty);
            lock (_gate)
            {
                _read = null;
                _target = default;
                // Set before the read completes: the receive loop may ask for the next read from inside it.
                if (end) _ended = true;
            }
            if (failure is not null) read.TrySetException(failure);
            else read.TrySetResult(n); // MQTTnet's receive loop goes on here, until it waits for the next read
            if (end) return;
        }
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        Write(buffer.AsSpan(offset, count));
        return Task.CompletedTask;
    }

    // A blocking send: it waits only while the socket's send buffer (1 MiB for the broker node) is full.
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        try
        {
            while (!buffer.IsEmpty) buffer = buffer[_socket.Send(buffer)..];
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            throw new IOException($"writing to the broker failed: {e.Message}", e);
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override int Read(byte[] buffer, int offset, int count) =>
        throw new NotSupportedException("read asynchronously: the reader thread serves the reads");

    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            lock (_gate)
            {
                _ended = true;
                Monitor.Pulse(_gate);
            }
            // A blocked Receive returns once the socket is shut down; closing alone does not wake it on Linux.
            try { _socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { }
            _socket.Dispose();
        }
        base.Dispose(disposing);
    }

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override void Flush() { }
    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
