using System.Buffers;
using System.Net;
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
/// high rates (measured with strace and perf, see bench/README.md). Here a packet goes out in one
/// send, and one receive takes whatever the socket holds, handed out packet by packet.
/// </summary>
public sealed class MqttSocketAdapterFactory : IMqttClientAdapterFactory
{
    readonly MqttClientAdapterFactory _fallback = new();

    public IMqttChannelAdapter CreateClientAdapter(MqttClientOptions options, MqttPacketInspector packetInspector, IMqttNetLogger logger)
    {
        // WebSocket connections keep MQTTnet's own channel: its frames already arrive whole.
        if (options.ChannelOptions is not MqttClientTcpOptions) return _fallback.CreateClientAdapter(options, packetInspector, logger);
        var channel = new MqttReadAheadChannel(new MqttTcpChannel(options));
        var formatter = new MqttPacketFormatterAdapter(options.ProtocolVersion, new MqttBufferWriter(options.WriterBufferSize, options.WriterBufferSizeMax));
        return new MqttChannelAdapter(channel, formatter, logger)
        {
            AllowPacketFragmentation = false, // header and payload joined: one send per packet
            PacketInspector = packetInspector,
        };
    }
}

/// <summary>
/// An MQTT channel that reads ahead: one socket read fills a buffer with every packet that has
/// arrived, and MQTTnet's small header and body reads are then served from memory. Reads come
/// from MQTTnet's single receive loop only, so no locking is needed.
/// </summary>
public sealed class MqttReadAheadChannel(IMqttChannel inner) : IMqttChannel
{
    const int BufferBytes = 64 * 1024;
    readonly byte[] _buffer = new byte[BufferBytes];
    int _start, _end;
    Task<int>? _lastResult; // bodies of one size repeat: their completed task is reused, not allocated

    public X509Certificate2 ClientCertificate => inner.ClientCertificate;
    public EndPoint RemoteEndPoint => inner.RemoteEndPoint;
    public EndPoint LocalEndPoint => inner.LocalEndPoint;
    public bool IsSecureConnection => inner.IsSecureConnection;

    public Task ConnectAsync(CancellationToken cancellationToken)
    {
        _start = _end = 0;
        return inner.ConnectAsync(cancellationToken);
    }

    public Task DisconnectAsync(CancellationToken cancellationToken) => inner.DisconnectAsync(cancellationToken);

    public Task WriteAsync(ReadOnlySequence<byte> buffer, bool isEndOfPacket, CancellationToken cancellationToken) =>
        inner.WriteAsync(buffer, isEndOfPacket, cancellationToken);

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
