using System.Buffers;
using FlowServer.Nodes.Network.Mqtt;
using MQTTnet;
using FlowServer.Testing;
using FlowServer.Testing.Fixtures;
using MQTTnet.Protocol;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;
using ScriptedChannel = FlowServer.Tests.Mqtt.MqttBatchingChannelTests.ScriptedChannel;

namespace FlowServer.Tests.Mqtt;

/// <summary>
/// What a flow writes while its connection hands it a burst of received messages is held and sent
/// by the delivering thread when the burst ends: in one socket write, in order, on every connection
/// it wrote to; at the latest after <see cref="MqttDeliveryBurst.MaxDeliveries"/> messages; at once
/// when asked (a handler that waits); never beyond the 1 MiB bound; and before a disconnect. Below
/// the busy rate each message's writes leave when it has been handed on. Writes outside a delivery
/// are flushed by the pool as before.
/// </summary>
public sealed class MqttDeliveryBurstTests
{
    static ReadOnlySequence<byte> Packet(params byte[] bytes) => new(bytes);

    static void Write(MqttBatchingChannel channel, params byte[] bytes) =>
        channel.WriteAsync(Packet(bytes), true, CancellationToken.None).GetAwaiter().GetResult();

    // A clock for the burst's rate, 100 µs a message (10,000 a second) unless told otherwise.
    long _now = System.Diagnostics.Stopwatch.GetTimestamp();

    long After(double microseconds) => _now += (long)(microseconds * System.Diagnostics.Stopwatch.Frequency / 1_000_000);

    // One received message handed to the flow: what the handler writes, then the end of its delivery.
    void Deliver(MqttDeliveryBurst burst, bool moreWaiting, Action handler, double everyUs = 100)
    {
        using (burst.Deliver()) handler();
        burst.Delivered(moreWaiting, After(everyUs));
    }

    // A burst whose rate window starts now, with the clock set to now (the burst reads the real
    // clock when it is made; a clock left behind it would not close a window for a while).
    MqttDeliveryBurst NewBurst()
    {
        var burst = new MqttDeliveryBurst();
        _now = System.Diagnostics.Stopwatch.GetTimestamp();
        return burst;
    }

    // 10 ms of messages at 10,000 a second, writing nothing: the connection is busy.
    MqttDeliveryBurst BusyBurst()
    {
        var burst = NewBurst();
        for (var i = 0; i < 100; i++) burst.Delivered(moreWaiting: false, After(100));
        Assert.True(burst.Busy);
        return burst;
    }

    [Fact]
    public async Task Writes_of_a_busy_burst_leave_in_one_socket_write_when_the_last_message_is_handed_on()
    {
        var inner = new ScriptedChannel();
        var channel = new MqttBatchingChannel(inner);
        var burst = BusyBurst();

        Deliver(burst, moreWaiting: true, () => Write(channel, 1, 2));
        Deliver(burst, moreWaiting: true, () => Write(channel, 3));
        await Task.Delay(100); // a flush queued on the pool would have run by now
        Assert.Empty(inner.Writes);
        Assert.True(burst.Holding);

        Deliver(burst, moreWaiting: false, () => Write(channel, 4, 5));
        // Sent by this thread, before Delivered returned.
        Assert.Equal([new byte[] { 1, 2, 3, 4, 5 }], inner.Writes);
        Assert.False(burst.Holding);
    }

    [Fact]
    public void Below_the_busy_rate_each_message_s_writes_leave_when_it_has_been_handed_on()
    {
        // 1,000 messages a second in bursts of four (as the bench's latency profile sends them):
        // the first of a burst must not wait for the other three to be handled.
        var inner = new ScriptedChannel();
        var channel = new MqttBatchingChannel(inner);
        var burst = NewBurst();
        for (var round = 0; round < 50; round++)
        {
            for (var i = 0; i < 4; i++)
            {
                var sent = inner.Writes.Count;
                Deliver(burst, moreWaiting: i < 3, () => Write(channel, (byte)i), everyUs: i == 0 ? 4000 : 30);
                Assert.Equal(sent + 1, inner.Writes.Count); // sent by this thread before Delivered returned
            }
        }
        Assert.False(burst.Busy);
        Assert.False(burst.Holding);
    }

    [Fact]
    public void A_burst_that_never_ends_still_sends_every_MaxDeliveries_messages()
    {
        var inner = new ScriptedChannel();
        var channel = new MqttBatchingChannel(inner);
        var burst = BusyBurst();
        for (var i = 0; i < MqttDeliveryBurst.MaxDeliveries - 1; i++)
            Deliver(burst, moreWaiting: true, () => Write(channel, (byte)i));
        Assert.Empty(inner.Writes);
        Deliver(burst, moreWaiting: true, () => Write(channel, 0xFF));
        Assert.Single(inner.Writes);
        Assert.Equal(MqttDeliveryBurst.MaxDeliveries, inner.Writes[0].Length);
        // The count starts again after a send.
        Deliver(burst, moreWaiting: true, () => Write(channel, 1));
        Assert.Single(inner.Writes);
    }

    [Fact]
    public void Every_connection_written_in_a_burst_is_sent_at_its_end()
    {
        var (first, second) = (new ScriptedChannel(), new ScriptedChannel());
        var (a, b) = (new MqttBatchingChannel(first), new MqttBatchingChannel(second));
        var burst = BusyBurst();
        Deliver(burst, moreWaiting: true, () => { Write(a, 1); Write(b, 2); });
        Deliver(burst, moreWaiting: true, () => Write(b, 3));
        Assert.Empty(first.Writes);
        Assert.Empty(second.Writes);
        burst.Send(); // as when a handler has to wait, or the connection ends
        Assert.Equal([new byte[] { 1 }], first.Writes);
        Assert.Equal([new byte[] { 2, 3 }], second.Writes);
    }

    [Fact]
    public async Task Writes_outside_a_delivery_and_after_it_are_not_held()
    {
        var inner = new ScriptedChannel();
        var channel = new MqttBatchingChannel(inner);
        var burst = new MqttDeliveryBurst();
        using (burst.Deliver()) { }
        Write(channel, 7); // the scope has ended: this thread no longer delivers
        await Poll.UntilAsync(() => channel.SocketWrites == 1, TimeSpan.FromSeconds(10), "the write was never sent");
        Assert.Equal([new byte[] { 7 }], inner.Writes);
        Assert.False(burst.Holding);
    }

    [Fact]
    public async Task Another_thread_writing_during_a_delivery_is_not_held()
    {
        var inner = new ScriptedChannel();
        var channel = new MqttBatchingChannel(inner);
        var burst = new MqttDeliveryBurst();
        using (burst.Deliver())
        {
            var other = new Thread(() => Write(channel, 9)); // not the delivering thread
            other.Start();
            other.Join();
        }
        Assert.False(burst.Holding);
        await Poll.UntilAsync(() => channel.SocketWrites == 1, TimeSpan.FromSeconds(10), "the other thread's write was never sent");
    }

    [Fact]
    public async Task A_write_past_the_pending_bound_is_not_held()
    {
        var inner = new ScriptedChannel();
        var channel = new MqttBatchingChannel(inner);
        var burst = new MqttDeliveryBurst();
        var big = new byte[(1 << 20) + 1];
        Task writing;
        using (burst.Deliver()) writing = channel.WriteAsync(Packet(big), true, CancellationToken.None);
        // Over the bound the writer waits for a flush, which must not wait for the burst's end.
        await writing.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(big.Length, inner.Writes.Sum(w => w.Length));
    }

    [Fact]
    public async Task Disconnect_sends_what_a_burst_still_holds_first()
    {
        var inner = new ScriptedChannel();
        var channel = new MqttBatchingChannel(inner);
        var burst = BusyBurst();
        Deliver(burst, moreWaiting: true, () => Write(channel, 1, 2));
        Write(channel, 0xE0, 0x00); // DISCONNECT, written outside the delivery: queues a flush of both
        await channel.DisconnectAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(new byte[] { 1, 2, 0xE0, 0x00 }, inner.Writes.SelectMany(w => w));
        Assert.Equal("disconnect", inner.Events[^1]);

        // Held with nothing else written: disconnect still sends it.
        var inner2 = new ScriptedChannel();
        var channel2 = new MqttBatchingChannel(inner2);
        Deliver(BusyBurst(), moreWaiting: true, () => Write(channel2, 5));
        await channel2.DisconnectAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(["write", "disconnect"], inner2.Events);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task A_burst_through_mqtt_in_and_mqtt_out_on_another_connection_arrives_whole_and_the_last_message_at_once(int qos)
    {
        // mqtt in on one connection, mqtt out on a second one: what the flow publishes is held on
        // the second connection while the first hands on its burst, and must leave when it ends.
        await using var mosquitto = await MosquittoFixture.StartNewAsync();
        await using var observer = await MqttTestClient.ConnectAsync(mosquitto.Port);
        await observer.SubscribeAsync("burst/out", (MqttQualityOfServiceLevel)qos);
        await using var flow = await StartAsync(Flow(
            MqttNodeTests.Broker(mosquitto.Port, id: "b1"),
            MqttNodeTests.Broker(mosquitto.Port, id: "b2"),
            new { id = "in", type = "mqtt in", topic = "burst/in", qos = qos.ToString(), datatype = "utf8", broker = "b1", wires = new[] { new[] { "fn" } } },
            new { id = "fn", type = "function", func = "msg.payload = 'out ' + msg.payload; return msg;", outputs = 1, wires = new[] { new[] { "out" } } },
            new { id = "out", type = "mqtt out", topic = "burst/out", qos = qos.ToString(), broker = "b2" }));
        await MqttNodeTests.WaitForStatusAsync(flow, "in", "connected");
        await MqttNodeTests.WaitForStatusAsync(flow, "out", "connected");
        await using var publisher = await MqttTestClient.ConnectAsync(mosquitto.Port);

        const int count = 3000;
        var sending = Task.Run(async () =>
        {
            for (var i = 0; i < count; i++) await publisher.PublishAsync("burst/in", i.ToString(), qos);
        });
        for (var i = 0; i < count; i++)
            Assert.Equal($"out {i}", (await observer.NextAsync(TimeSpan.FromSeconds(10))).ConvertPayloadToString());
        await sending;

        // One more after a lull: the burst it ends is a single message, sent as soon as it is handed
        // on. Held, it would wait for the connection's next write: a PINGREQ ~10 s later (keepalive 10).
        await Task.Delay(300);
        await publisher.PublishAsync("burst/in", "last", qos);
        Assert.Equal("out last", (await observer.NextAsync(TimeSpan.FromSeconds(5))).ConvertPayloadToString());
        flow.AssertNoErrors();
    }
}
