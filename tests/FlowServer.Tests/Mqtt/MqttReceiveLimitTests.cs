using System.Net;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Channels;
using FlowServer.Nodes.Network.Mqtt;
using MQTTnet.Adapter;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;
using Xunit;

namespace FlowServer.Tests.Mqtt;

/// <summary>
/// The receive limit on a scripted connection: reading pauses once the limit of received messages
/// waits for the flow (QoS 1/2: unacknowledged; QoS 0: not taken), resumes once a quarter of the
/// limit (at least one) was acknowledged or taken, and never pauses while one of our own requests (publish at QoS 1,
/// subscribe, ping) awaits its answer.
/// (MqttBackpressureTests shows the same against Mosquitto.)
/// </summary>
public sealed class MqttReceiveLimitTests
{
    sealed class ScriptedAdapter : IMqttChannelAdapter
    {
        readonly Channel<MqttPacket> _incoming = Channel.CreateUnbounded<MqttPacket>();
        public List<MqttPacket> Sent { get; } = [];
        public void Arrive(MqttPacket packet) => _incoming.Writer.TryWrite(packet);
        public int Pending => _incoming.Reader.Count;

        public async Task<MqttPacket> ReceivePacketAsync(CancellationToken cancellationToken) => await _incoming.Reader.ReadAsync(cancellationToken);
        public Task SendPacketAsync(MqttPacket packet, CancellationToken cancellationToken)
        {
            Sent.Add(packet);
            return Task.CompletedTask;
        }
        public long BytesReceived => 0;
        public long BytesSent => 0;
        public X509Certificate2 ClientCertificate => null!;
        public EndPoint RemoteEndPoint => null!;
        public EndPoint LocalEndPoint => null!;
        public bool IsSecureConnection => false;
        public MqttPacketFormatterAdapter PacketFormatterAdapter => null!;
        public Task ConnectAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task DisconnectAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public void ResetStatistics() { }
        public void Dispose() { }
    }

    static MqttPublishPacket Publish(ushort id, MqttQualityOfServiceLevel qos = MqttQualityOfServiceLevel.AtLeastOnce) =>
        new() { Topic = "t", PacketIdentifier = id, QualityOfServiceLevel = qos };

    static async Task<bool> PausedAsync(Task<MqttPacket> read)
    {
        await Task.WhenAny(read, Task.Delay(200));
        return !read.IsCompleted;
    }

    [Fact]
    public async Task Reading_pauses_at_the_limit_and_resumes_when_a_message_is_acknowledged()
    {
        var limit = new MqttReceiveLimit(3);
        var inner = new ScriptedAdapter();
        var adapter = limit.Wrap(inner);
        for (ushort i = 1; i <= 5; i++) inner.Arrive(Publish(i));

        for (var i = 0; i < 3; i++) await adapter.ReceivePacketAsync(CancellationToken.None);
        Assert.Equal(3, limit.Waiting);
        var fourth = adapter.ReceivePacketAsync(CancellationToken.None);
        Assert.True(await PausedAsync(fourth));
        Assert.Equal(2, inner.Pending); // left with the connection, that is with the broker
        Assert.Equal(1, limit.Pauses);

        await adapter.SendPacketAsync(new MqttPubAckPacket { PacketIdentifier = 1 }, CancellationToken.None);
        Assert.Equal(4, ((MqttPublishPacket)await fourth.WaitAsync(TimeSpan.FromSeconds(5))).PacketIdentifier);
        Assert.Equal(3, limit.Waiting);
        Assert.Equal(3, limit.PeakWaiting);
    }

    [Fact]
    public async Task A_paused_connection_reads_again_only_once_a_quarter_of_the_limit_was_taken()
    {
        var limit = new MqttReceiveLimit(8);
        Assert.Equal(6, limit.ResumeAt);
        var inner = new ScriptedAdapter();
        var adapter = limit.Wrap(inner);
        for (ushort i = 1; i <= 12; i++) inner.Arrive(Publish(i, MqttQualityOfServiceLevel.AtMostOnce));
        for (var i = 0; i < 8; i++) await adapter.ReceivePacketAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));
        var ninth = adapter.ReceivePacketAsync(CancellationToken.None);
        Assert.True(await PausedAsync(ninth));

        limit.Release(); // 7 wait: one taken is not enough to wake the reader
        Assert.True(await PausedAsync(ninth));
        limit.Release(); // 6: the reader goes on, up to the limit again
        Assert.Equal(9, ((MqttPublishPacket)await ninth.WaitAsync(TimeSpan.FromSeconds(5))).PacketIdentifier);
        Assert.Equal(10, ((MqttPublishPacket)await adapter.ReceivePacketAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5))).PacketIdentifier);
        Assert.True(await PausedAsync(adapter.ReceivePacketAsync(CancellationToken.None)));
        Assert.Equal(8, limit.Waiting);
        Assert.Equal(2, limit.Pauses);
    }

    [Fact]
    public async Task Reading_goes_on_past_the_limit_while_a_publish_of_ours_awaits_its_acknowledgement()
    {
        var limit = new MqttReceiveLimit(2);
        var inner = new ScriptedAdapter();
        var adapter = limit.Wrap(inner);
        for (ushort i = 1; i <= 2; i++) inner.Arrive(Publish(i));
        for (var i = 0; i < 2; i++) await adapter.ReceivePacketAsync(CancellationToken.None);

        var blocked = adapter.ReceivePacketAsync(CancellationToken.None);
        Assert.True(await PausedAsync(blocked));
        // The flow publishes at QoS 1: its PUBACK comes behind the messages the broker sent meanwhile.
        await adapter.SendPacketAsync(Publish(100), CancellationToken.None);
        inner.Arrive(Publish(3));
        inner.Arrive(new MqttPubAckPacket { PacketIdentifier = 100 });
        inner.Arrive(Publish(4));
        Assert.Equal(3, ((MqttPublishPacket)await blocked.WaitAsync(TimeSpan.FromSeconds(5))).PacketIdentifier);
        Assert.IsType<MqttPubAckPacket>(await adapter.ReceivePacketAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5)));

        // Answered: at the limit (3 unacknowledged) reading pauses again.
        Assert.True(await PausedAsync(adapter.ReceivePacketAsync(CancellationToken.None)));
        Assert.Equal(3, limit.Waiting);
    }

    [Fact]
    public async Task A_ping_resumes_reading_until_its_answer_so_a_stalled_flow_keeps_its_connection()
    {
        var limit = new MqttReceiveLimit(1);
        var inner = new ScriptedAdapter();
        var adapter = limit.Wrap(inner);
        inner.Arrive(Publish(1));
        await adapter.ReceivePacketAsync(CancellationToken.None);
        var paused = adapter.ReceivePacketAsync(CancellationToken.None);
        Assert.True(await PausedAsync(paused));

        await adapter.SendPacketAsync(MqttPingReqPacket.Instance, CancellationToken.None);
        inner.Arrive(Publish(2));
        inner.Arrive(MqttPingRespPacket.Instance);
        Assert.IsType<MqttPublishPacket>(await paused.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.IsType<MqttPingRespPacket>(await adapter.ReceivePacketAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.True(await PausedAsync(adapter.ReceivePacketAsync(CancellationToken.None)));
    }

    [Fact]
    public async Task A_message_abandoned_unacknowledged_no_longer_counts_so_reading_resumes()
    {
        var limit = new MqttReceiveLimit(2);
        var inner = new ScriptedAdapter();
        var adapter = limit.Wrap(inner);
        for (ushort i = 1; i <= 3; i++) inner.Arrive(Publish(i));
        for (var i = 0; i < 2; i++) await adapter.ReceivePacketAsync(CancellationToken.None);
        var paused = adapter.ReceivePacketAsync(CancellationToken.None);
        Assert.True(await PausedAsync(paused));

        limit.Release(); // its mqtt in stopped with it in hand: never acknowledged on this connection
        Assert.Equal(3, ((MqttPublishPacket)await paused.WaitAsync(TimeSpan.FromSeconds(5))).PacketIdentifier);
        Assert.Equal(2, limit.Waiting);
        Assert.Empty(inner.Sent); // nothing was acknowledged on its behalf
    }

    [Fact]
    public async Task Qos0_messages_count_until_the_flow_took_them_and_a_new_connection_starts_from_zero()
    {
        var limit = new MqttReceiveLimit(2);
        var inner = new ScriptedAdapter();
        var adapter = limit.Wrap(inner);
        for (ushort i = 0; i < 4; i++) inner.Arrive(Publish(0, MqttQualityOfServiceLevel.AtMostOnce));
        for (var i = 0; i < 2; i++) await adapter.ReceivePacketAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(2, limit.Waiting);
        var third = adapter.ReceivePacketAsync(CancellationToken.None);
        Assert.True(await PausedAsync(third)); // nothing acknowledges a QoS 0 message: only the flow taking it resumes reading
        Assert.Equal(2, inner.Pending);

        limit.Release(); // the flow took one
        Assert.IsType<MqttPublishPacket>(await third.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(2, limit.Waiting);
        Assert.Empty(inner.Sent); // no acknowledgement exists at QoS 0

        var next = new ScriptedAdapter();
        var reconnected = limit.Wrap(next);
        Assert.Equal(0, limit.Waiting);
        next.Arrive(Publish(1));
        Assert.IsType<MqttPublishPacket>(await reconnected.ReceivePacketAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(1, limit.Waiting);
    }
}
