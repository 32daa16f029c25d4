using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using MQTTnet;
using MQTTnet.Adapter;
using MQTTnet.Channel;
using MQTTnet.Diagnostics.Logger;
using MQTTnet.Formatter;
using MQTTnet.Implementations;

namespace FlowServer.Nodes.Network.Mqtt;

/// <summary>
/// Builds MQTTnet's client connection with fewer system calls per message. Out of the box MQTTnet
/// writes each packet in two sends (header, then payload) and reads it in two receives (fixed
/// header, then body): four syscalls per message through a flow, about half of the engine's CPU at
/// high rates (measured with strace and perf, see bench/README.md). Here the packets (headers and
/// payloads) written while a thread is busy go out together in one send, and one receive takes
/// whatever the socket holds, handed out packet by packet. Under it, the socket is read by a
/// thread of its own (<see cref="MqttReaderThreadStream"/>), which spares two thread wake-ups per
/// read. With a <see cref="MqttReceiveLimit"/>, each
/// connection also keeps the received messages the flow has not taken yet to that bound.
/// </summary>
public sealed class MqttSocketAdapterFactory(MqttReceiveLimit? receiveLimit = null) : IMqttClientAdapterFactory
{
    readonly MqttClientAdapterFactory _fallback = new();

    // FLOWSERVER_MQTT_SOCKETS=async keeps .NET's asynchronous socket under MQTTnet, as before
    // 2026-12-07 afternoon: for side-by-side runs of the bench (bench/README.md).
    static readonly bool AsyncSockets = Environment.GetEnvironmentVariable("FLOWSERVER_MQTT_SOCKETS") == "async";

    public IMqttChannelAdapter CreateClientAdapter(MqttClientOptions options, MqttPacketInspector packetInspector, IMqttNetLogger logger)
    {
        var adapter = CreateUnlimited(options, packetInspector, logger);
        return receiveLimit is null ? adapter : receiveLimit.Wrap(adapter);
    }

    IMqttChannelAdapter CreateUnlimited(MqttClientOptions options, MqttPacketInspector packetInspector, IMqttNetLogger logger)
    {
        // WebSocket connections keep MQTTnet's own channel: its frames already arrive whole.
        if (options.ChannelOptions is not MqttClientTcpOptions tcp) return _fallback.CreateClientAdapter(options, packetInspector, logger);
        // MQTTnet closes with linger 0, a reset that throws away what the kernel has not sent yet:
        // QoS 0 messages written just before a disconnect (a redeploy, a stop) never reached the
        // broker. A normal close sends them, then the FIN.
        tcp.LingerState = new LingerOption(false, 0);
        // The socket read by a thread of its own (TLS, when asked for, still layered on it by MQTTnet).
        if (tcp.StreamProvider is null && !AsyncSockets)
            tcp.StreamProvider = new MqttReaderThreadStreamProvider(tcp, options.Timeout);
        var channel = new MqttBatchingChannel(new MqttTcpChannel(options));
        var formatter = new MqttPacketFormatterAdapter(options.ProtocolVersion, new MqttBufferWriter(options.WriterBufferSize, options.WriterBufferSizeMax));
        return new MqttChannelAdapter(channel, formatter, logger)
        {
            // Header and payload are written one after the other into the batching channel, which
            // sends them together; joined first, MQTTnet copied every packet into an array of its own.
            AllowPacketFragmentation = true,
            PacketInspector = packetInspector,
        };
    }
}

/// <summary>
/// An MQTT channel that reads ahead and writes behind. Reads: one socket read fills a buffer with
/// every packet that has arrived, and MQTTnet's small header and body reads are then served from
/// memory (reads come from MQTTnet's single receive loop only, so they need no lock). Writes: a
/// packet is appended to a pending buffer and the call returns; a flush queued on the thread pool
/// sends everything pending in one write. A burst of packets (the PUBACKs and publishes of a burst
/// of received messages) then leaves in a few sends instead of one each, while a lone packet is
/// sent as soon as the thread that wrote it goes back to the pool.
/// </summary>
public sealed class MqttBatchingChannel(IMqttChannel inner) : IMqttChannel, IThreadPoolWorkItem
{
    const int BufferBytes = 64 * 1024;
    // Beyond this many unsent bytes a writer waits for the flush: memory stays bounded when the
    // socket is slower than the writers.
    const int MaxPendingBytes = 1 << 20;

    readonly byte[] _buffer = new byte[BufferBytes];
    int _start, _end;
    Task<int>? _lastResult; // bodies of one size repeat: their completed task is reused, not allocated

    readonly Lock _writeGate = new();
    ArrayBufferWriter<byte> _pending = new(BufferBytes);
    ArrayBufferWriter<byte> _sending = new(BufferBytes);
    bool _flushing;                   // a flush is queued or running
    Exception? _writeFailure;         // the socket write that failed: every later write fails with it
    TaskCompletionSource? _flushed;   // completed when nothing is pending any more (writers over the bound, disconnect)

    public X509Certificate2 ClientCertificate => inner.ClientCertificate;
    public EndPoint RemoteEndPoint => inner.RemoteEndPoint;
    public EndPoint LocalEndPoint => inner.LocalEndPoint;
    public bool IsSecureConnection => inner.IsSecureConnection;

    /// <summary>Socket writes made so far (each carries every packet that was pending).</summary>
    public long SocketWrites { get; private set; }

    public Task ConnectAsync(CancellationToken cancellationToken)
    {
        _start = _end = 0;
        lock (_writeGate)
        {
            _pending.Clear();
            _writeFailure = null;
        }
        return inner.ConnectAsync(cancellationToken);
    }

    public async Task DisconnectAsync(CancellationToken cancellationToken)
    {
        // MQTTnet has just written DISCONNECT: it must reach the socket before it closes.
        await WhenFlushedAsync().WaitAsync(cancellationToken);
        await inner.DisconnectAsync(cancellationToken);
    }

    public Task WriteAsync(ReadOnlySequence<byte> buffer, bool isEndOfPacket, CancellationToken cancellationToken)
    {
        bool queueFlush;
        Task? overBound = null;
        lock (_writeGate)
        {
            if (_writeFailure is not null) return Task.FromException(new IOException($"the connection failed: {_writeFailure.Message}", _writeFailure));
            foreach (var segment in buffer) _pending.Write(segment.Span);
            if (_pending.WrittenCount > MaxPendingBytes) overBound = FlushedSignal().Task;
            // Written while a connection hands a burst of received messages to the flow: sent at
            // the burst's end by the delivering thread (MqttDeliveryBurst), without a flush queued.
            queueFlush = !_flushing && (overBound is not null || !MqttDeliveryBurst.TryHold(this));
            if (queueFlush) _flushing = true;
        }
        // preferLocal: on a pool thread the flush runs when this thread is done with its current
        // work, so the packets it writes meanwhile (the acknowledgement after a publish) join it.
        if (queueFlush) ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: true);
        return overBound is null ? Task.CompletedTask : overBound.WaitAsync(cancellationToken);
    }

    void IThreadPoolWorkItem.Execute() => _ = FlushAsync();

    /// <summary>Sends what is pending on this thread, unless a flush is under way already (it sends it too).</summary>
    internal void FlushHeld()
    {
        lock (_writeGate)
        {
            if (_flushing || _pending.WrittenCount == 0) return;
            _flushing = true;
        }
        _ = FlushAsync();
    }

    async Task FlushAsync()
    {
        while (true)
        {
            TaskCompletionSource? flushed = null;
            var done = false;
            lock (_writeGate)
            {
                if (_pending.WrittenCount == 0 || _writeFailure is not null)
                {
                    _flushing = false;
                    done = true;
                    flushed = _flushed;
                    _flushed = null;
                }
                else (_pending, _sending) = (_sending, _pending);
            }
            if (done)
            {
                flushed?.TrySetResult();
                return;
            }
            try
            {
                await inner.WriteAsync(new ReadOnlySequence<byte>(_sending.WrittenMemory), true, CancellationToken.None);
                SocketWrites++;
                _sending.Clear();
            }
            catch (Exception e)
            {
                lock (_writeGate) _writeFailure = e;
                // A broken write leaves a reader waiting on a socket that may never answer: closing
                // it makes MQTTnet's receive loop see the loss and reconnect.
                try { inner.Dispose(); } catch (ObjectDisposedException) { }
            }
        }
    }

    TaskCompletionSource FlushedSignal() => _flushed ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    Task WhenFlushedAsync()
    {
        lock (_writeGate)
        {
            if (!_flushing && _pending.WrittenCount > 0 && _writeFailure is null)
            {
                // Held for a burst's end (MqttDeliveryBurst) that has not come: sent now.
                _flushing = true;
                ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
            }
            return _flushing ? FlushedSignal().Task : Task.CompletedTask;
        }
    }

    public Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        if (_start == _end)
        {
            // A read as large as our buffer gains nothing from a copy: straight from the socket.
            if (count >= BufferBytes) return inner.ReadAsync(buffer, offset, count, cancellationToken);
            return FillThenCopyAsync(buffer, offset, count, cancellationToken);
        }
        return Completed(CopyOut(buffer, offset, count));
    }

    async Task<int> FillThenCopyAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        _start = 0;
        _end = 0;
        var read = await inner.ReadAsync(_buffer, 0, BufferBytes, cancellationToken);
        if (read <= 0) return read; // the connection closed
        _end = read;
        return CopyOut(buffer, offset, count);
    }

    int CopyOut(byte[] buffer, int offset, int count)
    {
        var n = Math.Min(count, _end - _start);
        Buffer.BlockCopy(_buffer, _start, buffer, offset, n);
        _start += n;
        return n;
    }

    Task<int> Completed(int n)
    {
        var last = _lastResult;
        if (last is not null && last.Result == n) return last;
        return _lastResult = Task.FromResult(n);
    }

    public void Dispose() => inner.Dispose();
}
