using System.Net;
using System.Security.Cryptography.X509Certificates;
using MQTTnet.Adapter;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace FlowServer.Nodes.Network.Mqtt;

/// <summary>
/// Keeps the messages a connection has received but the flow has not taken yet to a bound, by
/// pausing reads from the socket: the broker and the socket then hold the backlog, not our
/// memory. MQTTnet's client reads every packet the broker sends into a queue without a bound:
/// at QoS 1/2 Mosquitto 2.0 keeps sending past its in-flight limit once acknowledgements flow
/// (bench/README.md: 131,072 packets queued in an overload run), and at QoS 0 nothing holds the
/// broker back at all (at the bench's maximum rate tens of thousands of messages queued, aged
/// into the GC's oldest generation and doubled the heap). A QoS 1/2 message counts until it is
/// acknowledged (mqtt in acknowledges only once the flow took it), a QoS 0 one until the flow
/// took it (<see cref="Release"/>). A paused connection resumes at <see cref="ResumeAt"/>.
/// <para>
/// Reads pause only while none of our own requests awaits its answer (a QoS 1/2 publish its
/// PUBACK or PUBCOMP, a subscribe, an unsubscribe, a ping): that answer arrives behind the
/// messages in the stream, and a flow whose mqtt out waits for it would never take another
/// message. So a connection that only subscribes (mqtt in → database, the usual overload case) is
/// bounded; one whose mqtt out publishes at QoS 1/2 keeps reading, and a separate broker node for
/// mqtt out (its own connection) bounds it too. A ping (sent after a keep-alive period without
/// any other packet) resumes reading until its answer comes, so a long-stalled flow does not
/// cost the connection.
/// </para>
/// </summary>
public sealed class MqttReceiveLimit(int limit)
{
    /// <summary>The default: a thousand messages of a few hundred bytes each are a few hundred KiB.</summary>
    public const int DefaultLimit = 1000;

    long _pauses;
    Counter? _current;

    public int Limit => limit;

    /// <summary>
    /// A paused connection reads again once this few wait: a quarter of the limit below it, so
    /// that a flow slower than the broker takes a quarter's worth per pause instead of one. Resuming
    /// at one below the limit paused and woke the reader for every message taken.
    /// </summary>
    public int ResumeAt => limit - Math.Max(1, limit / 4);

    /// <summary>Messages received on the current connection that the flow has not taken yet (QoS 1/2: not acknowledged yet).</summary>
    public int Waiting => Volatile.Read(ref _current)?.Waiting ?? 0;

    /// <summary>The most <see cref="Waiting"/> has been on any connection so far.</summary>
    public int PeakWaiting { get; private set; }

    /// <summary>How often reading paused at the limit.</summary>
    public long Pauses => Interlocked.Read(ref _pauses);

    /// <summary>
    /// A received message that no acknowledgement settles: a QoS 0 message the flow took (or lost
    /// with a stopped mqtt in), or a QoS 1/2 one that will never be acknowledged on this
    /// connection (its mqtt in stopped while the flow was busy; the broker sends it again on the
    /// next one). It no longer counts, or such messages would add up until reading paused for good.
    /// </summary>
    public void Release() => Volatile.Read(ref _current)?.Settled();

    /// <summary>Wraps a new connection's adapter; its counts start from zero (what a lost connection had in hand is gone with it).</summary>
    public IMqttChannelAdapter Wrap(IMqttChannelAdapter inner)
    {
        var counter = new Counter(this, inner);
        Volatile.Write(ref _current, counter);
        return counter;
    }

    sealed class Counter(MqttReceiveLimit owner, IMqttChannelAdapter inner) : IMqttChannelAdapter
    {
        readonly Lock _lock = new();
        int _waiting;          // publishes received and not taken: QoS 0 until Release, QoS 1/2 until PUBACK/PUBREC
        int _awaitingAnswer;   // our requests sent whose answer has not been read yet
        TaskCompletionSource? _resume;

        public int Waiting { get { lock (_lock) return _waiting; } }

        // A received message taken, acknowledged or abandoned: one fewer waits, and reading may go on.
        public void Settled()
        {
            lock (_lock)
            {
                if (_waiting > 0) _waiting--;
                if (_waiting <= owner.ResumeAt) ResumeLocked();
            }
        }

        public Task<MqttPacket> ReceivePacketAsync(CancellationToken cancellationToken)
        {
            Task? paused = null;
            lock (_lock)
            {
                if (_waiting >= owner.Limit && _awaitingAnswer == 0)
                {
                    _resume ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    paused = _resume.Task;
                    Interlocked.Increment(ref owner._pauses);
                }
            }
            if (paused is not null) return ReceiveAfterPauseAsync(paused, cancellationToken);
            var receiving = inner.ReceivePacketAsync(cancellationToken);
            // At high rates the packet is usually read already: counted and handed on without a task of our own.
            if (!receiving.IsCompletedSuccessfully) return CountWhenReceivedAsync(receiving);
            Count(receiving.Result);
            return receiving;
        }

        async Task<MqttPacket> ReceiveAfterPauseAsync(Task paused, CancellationToken cancellationToken)
        {
            await paused.WaitAsync(cancellationToken);
            return await CountWhenReceivedAsync(inner.ReceivePacketAsync(cancellationToken));
        }

        async Task<MqttPacket> CountWhenReceivedAsync(Task<MqttPacket> receiving)
        {
            var packet = await receiving;
            Count(packet);
            return packet;
        }

        void Count(MqttPacket packet)
        {
            switch (packet)
            {
                case MqttPublishPacket:
                    lock (_lock)
                    {
                        _waiting++;
                        if (_waiting > owner.PeakWaiting) owner.PeakWaiting = _waiting;
                    }
                    break;
                case MqttPubAckPacket or MqttPubCompPacket or MqttSubAckPacket or MqttUnsubAckPacket or MqttPingRespPacket:
                    lock (_lock) if (_awaitingAnswer > 0) _awaitingAnswer--;
                    break;
            }
        }

        public Task SendPacketAsync(MqttPacket packet, CancellationToken cancellationToken)
        {
            switch (packet)
            {
                case MqttPubAckPacket or MqttPubRecPacket: // a received message acknowledged
                    Settled();
                    break;
                case MqttPublishPacket { QualityOfServiceLevel: not MqttQualityOfServiceLevel.AtMostOnce } or MqttSubscribePacket or MqttUnsubscribePacket or MqttPingReqPacket:
                    lock (_lock)
                    {
                        _awaitingAnswer++;
                        ResumeLocked(); // its answer must be read
                    }
                    break;
            }
            return inner.SendPacketAsync(packet, cancellationToken);
        }

        void ResumeLocked()
        {
            _resume?.TrySetResult();
            _resume = null;
        }

        public long BytesReceived => inner.BytesReceived;
        public long BytesSent => inner.BytesSent;
        public X509Certificate2 ClientCertificate => inner.ClientCertificate;
        public EndPoint RemoteEndPoint => inner.RemoteEndPoint;
        public EndPoint LocalEndPoint => inner.LocalEndPoint;
        public bool IsSecureConnection => inner.IsSecureConnection;
        public MqttPacketFormatterAdapter PacketFormatterAdapter => inner.PacketFormatterAdapter;
        public Task ConnectAsync(CancellationToken cancellationToken) => inner.ConnectAsync(cancellationToken);
        public Task DisconnectAsync(CancellationToken cancellationToken) => inner.DisconnectAsync(cancellationToken);
        public void ResetStatistics() => inner.ResetStatistics();
        public void Dispose() => inner.Dispose();
    }
}
