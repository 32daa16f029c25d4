using System.Buffers;
using System.Diagnostics;
using System.Text;
using FlowServer.Nodes.Sdk;
using FlowServer.Testing;
using FlowServer.Testing.Fixtures;
using MQTTnet.Formatter;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Mqtt;

public sealed class MqttNodeTests
{
    internal static object Broker(int port, int protocolVersion = 4, string id = "b1") =>
        new { id, type = "mqtt-broker", name = "local", broker = "127.0.0.1", port, protocolVersion, keepalive = 10 };

    internal static async Task WaitForStatusAsync(FlowTestHarness flow, string nodeId, string text, TimeSpan? timeout = null)
    {
        var until = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (flow.Runtime.Find(nodeId)?.Status.Text != text)
        {
            if (DateTime.UtcNow > until)
                throw new TimeoutException($"node {nodeId} never showed status '{text}'; it shows '{flow.Runtime.Find(nodeId)?.Status.Text}'. Errors: {string.Join(" | ", flow.Errors)}");
            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task Mqtt_in_delivers_messages_matching_plus_and_hash_filters()
    {
        await using var mosquitto = await MosquittoFixture.StartNewAsync();
        await using var flow = await StartAsync(Flow(
            Broker(mosquitto.Port),
            new { id = "plus", type = "mqtt in", topic = "sensors/+/temp", qos = "1", datatype = "utf8", broker = "b1", wires = new[] { new[] { "c1" } } },
            new { id = "hash", type = "mqtt in", topic = "plant/#", qos = "1", datatype = "utf8", broker = "b1", wires = new[] { new[] { "c2" } } },
            new { id = "c1", type = "test-capture" },
            new { id = "c2", type = "test-capture" }));
        await WaitForStatusAsync(flow, "plus", "connected");
        await using var publisher = await MqttTestClient.ConnectAsync(mosquitto.Port);

        await publisher.PublishAsync("sensors/a/b/temp", "too deep");
        await publisher.PublishAsync("sensors/a/temp", "21");
        await publisher.PublishAsync("plant", "root");
        await publisher.PublishAsync("plant/line1/motor", "on");

        var plus = await flow.NextAsync("c1");
        Assert.Equal(("sensors/a/temp", "21"), (plus.Topic, plus.Payload));
        Assert.Equal(1.0, plus["qos"]);
        Assert.Equal(false, plus["retain"]);
        var hash = await flow.Capture("c2").TakeAsync(2);
        Assert.Equal(["root", "on"], hash.Select(m => m.Payload));
        Assert.Equal(["plant", "plant/line1/motor"], hash.Select(m => m.Topic));
        Assert.True(await flow.Capture("c1").StaysEmptyAsync(TimeSpan.FromMilliseconds(200)));
        flow.AssertNoErrors();
    }

    public static TheoryData<string, byte[], object?> Datatypes => new()
    {
        { "auto-detect", "{\"a\":1}"u8.ToArray(), new Dictionary<string, object?> { ["a"] = 1.0 } },
        { "auto-detect", "[1,2]"u8.ToArray(), new List<object?> { 1.0, 2.0 } },
        { "auto-detect", "42"u8.ToArray(), 42.0 },
        { "auto-detect", " -1.5e2 "u8.ToArray(), -150.0 },
        { "auto-detect", "true"u8.ToArray(), true },
        { "auto-detect", "\"quoted\""u8.ToArray(), "quoted" },
        { "auto-detect", "null"u8.ToArray(), null },
        { "auto-detect", "false alarm"u8.ToArray(), "false alarm" },
        { "auto-detect", "hello"u8.ToArray(), "hello" },
        { "auto-detect", "12 apples"u8.ToArray(), "12 apples" },
        { "auto-detect", "{oops"u8.ToArray(), "{oops" },
        { "auto-detect", " \n{\"a\":[true,null]}"u8.ToArray(), new Dictionary<string, object?> { ["a"] = new List<object?> { true, null } } },
        { "auto-detect", new byte[] { (byte)'{', (byte)'"', (byte)'a', (byte)'"', (byte)':', (byte)'"', 0xff, (byte)'"', (byte)'}' }, new byte[] { (byte)'{', (byte)'"', (byte)'a', (byte)'"', (byte)':', (byte)'"', 0xff, (byte)'"', (byte)'}' } },
        { "auto-detect", new byte[] { 0xff, 0x00, 0xfe }, new byte[] { 0xff, 0x00, 0xfe } },
        { "auto", "{\"a\":1}"u8.ToArray(), "{\"a\":1}" },
        { "auto", new byte[] { 0xff, 0x00, 0xfe }, new byte[] { 0xff, 0x00, 0xfe } },
        { "json", "{\"a\":[true,null,\"x\"]}"u8.ToArray(), new Dictionary<string, object?> { ["a"] = new List<object?> { true, null, "x" } } },
        { "json", "3.5"u8.ToArray(), 3.5 },
        { "utf8", "héllo"u8.ToArray(), "héllo" },
        { "buffer", "hi"u8.ToArray(), "hi"u8.ToArray() },
        { "base64", "hi"u8.ToArray(), "aGk=" },
    };

    [Theory]
    [MemberData(nameof(Datatypes))]
    public async Task Mqtt_in_converts_the_payload_by_datatype(string datatype, byte[] body, object? expected)
    {
        await using var mosquitto = await MosquittoFixture.StartNewAsync();
        await using var flow = await StartAsync(Flow(
            Broker(mosquitto.Port),
            new { id = "in", type = "mqtt in", topic = "data", qos = "1", datatype, broker = "b1", wires = new[] { new[] { "out" } } },
            new { id = "out", type = "test-capture" }));
        await WaitForStatusAsync(flow, "in", "connected");
        await using var publisher = await MqttTestClient.ConnectAsync(mosquitto.Port);

        await publisher.PublishAsync("data", body);

        var message = await flow.NextAsync("out");
        Assert.True(MessageValue.DeepEquals(expected, message.Payload), $"expected {MessageJson.Serialize(expected)}, got {MessageJson.Serialize(message.Payload)} ({MessageValue.TypeName(message.Payload)})");
        Assert.Equal(MessageValue.TypeName(expected), MessageValue.TypeName(message.Payload));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Invalid_json_goes_to_catch_naming_the_node_and_the_next_message_still_arrives()
    {
        await using var mosquitto = await MosquittoFixture.StartNewAsync();
        await using var flow = await StartAsync(Flow(
            Broker(mosquitto.Port),
            new { id = "in", type = "mqtt in", name = "Orders", topic = "orders", qos = "1", datatype = "json", broker = "b1", wires = new[] { new[] { "out" } } },
            new { id = "out", type = "test-capture" },
            new { id = "catcher", type = "catch", wires = new[] { new[] { "caught" } } },
            new { id = "caught", type = "test-capture" }));
        await WaitForStatusAsync(flow, "in", "connected");
        await using var publisher = await MqttTestClient.ConnectAsync(mosquitto.Port);

        await publisher.PublishAsync("orders", "not json");
        await publisher.PublishAsync("orders", "{\"id\":7}");

        var caught = await flow.NextAsync("caught");
        var error = Assert.IsType<Dictionary<string, object?>>(caught["error"]);
        Assert.Contains("Orders", (string)error["message"]!);
        Assert.Contains("not valid JSON", (string)error["message"]!);
        var source = Assert.IsType<Dictionary<string, object?>>(error["source"]);
        Assert.Equal(("in", "mqtt in", "Orders"), ((string)source["id"]!, (string)source["type"]!, (string)source["name"]!));
        Assert.Equal("not json", caught.Payload);
        Assert.Equal("orders", caught.Topic);

        var good = await flow.NextAsync("out");
        Assert.Equal(7.0, ((Dictionary<string, object?>)good.Payload!)["id"]);
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(100)));
    }

    public static TheoryData<object?, byte[]> Encodings => new()
    {
        { new Dictionary<string, object?> { ["a"] = 1.0, ["b"] = "x" }, "{\"a\":1,\"b\":\"x\"}"u8.ToArray() },
        { new List<object?> { 1.0, true, null }, "[1,true,null]"u8.ToArray() },
        { 42.0, "42"u8.ToArray() },
        { 2.5, "2.5"u8.ToArray() },
        { true, "true"u8.ToArray() },
        { "héllo", "héllo"u8.ToArray() },
        { new byte[] { 0, 1, 0xff }, new byte[] { 0, 1, 0xff } },
        { null, Array.Empty<byte>() },
    };

    [Theory]
    [MemberData(nameof(Encodings))]
    public async Task Mqtt_out_writes_payloads_as_node_red_does(object? payload, byte[] expected)
    {
        await using var mosquitto = await MosquittoFixture.StartNewAsync();
        await using var observer = await MqttTestClient.ConnectAsync(mosquitto.Port);
        await observer.SubscribeAsync("out/#");
        await using var flow = await StartAsync(Flow(
            Broker(mosquitto.Port),
            new { id = "out", type = "mqtt out", topic = "out/value", broker = "b1" }));

        await flow.SendAsync("out", payload);

        var received = await observer.NextAsync();
        Assert.Equal("out/value", received.Topic);
        Assert.Equal(expected, received.Payload.ToArray());
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Mqtt_out_uses_its_topic_before_msg_topic_and_reports_a_missing_one()
    {
        await using var mosquitto = await MosquittoFixture.StartNewAsync();
        await using var observer = await MqttTestClient.ConnectAsync(mosquitto.Port);
        await observer.SubscribeAsync("#");
        await using var flow = await StartAsync(Flow(
            Broker(mosquitto.Port),
            new { id = "fixed", type = "mqtt out", topic = "fixed/topic", broker = "b1" },
            new { id = "dynamic", type = "mqtt out", name = "Dyn", topic = "", broker = "b1" }));

        await flow.SendAsync("fixed", "a", "ignored/topic");
        Assert.Equal(("fixed/topic", "a"), Read(await observer.NextAsync()));
        await flow.SendAsync("dynamic", "b", "from/msg");
        Assert.Equal(("from/msg", "b"), Read(await observer.NextAsync()));

        await flow.SendAsync("dynamic", "c");
        var error = await flow.WaitForErrorAsync("no topic");
        Assert.StartsWith("dynamic:", error);
        Assert.Contains("Dyn", error);
    }

    [Fact]
    public async Task Retain_and_qos_come_from_the_message_when_the_node_leaves_them_empty()
    {
        await using var mosquitto = await MosquittoFixture.StartNewAsync();
        await using var flow = await StartAsync(Flow(
            Broker(mosquitto.Port),
            new { id = "out", type = "mqtt out", topic = "state/door", qos = "", retain = "", broker = "b1" },
            new { id = "forced", type = "mqtt out", topic = "state/window", qos = "1", retain = "true", broker = "b1" }));

        var message = FlowMessage.WithPayload("open");
        message["retain"] = true;
        message["qos"] = 1.0;
        await flow.SendAsync("out", message);
        await flow.SendAsync("forced", "closed");
        // Both are on the broker once a live subscriber saw them.
        await using var live = await MqttTestClient.ConnectAsync(mosquitto.Port);
        await live.SubscribeAsync("state/+");
        await live.NextAsync();
        await live.NextAsync();
        flow.AssertNoErrors();

        // A client that subscribes afterwards gets the retained messages, flagged as retained.
        await using var late = await MqttTestClient.ConnectAsync(mosquitto.Port);
        await late.SubscribeAsync("state/+");
        var first = await late.NextAsync();
        var second = await late.NextAsync();
        var byTopic = new[] { first, second }.ToDictionary(m => m.Topic);
        Assert.Equal("open", Encoding.UTF8.GetString(byTopic["state/door"].Payload));
        Assert.True(byTopic["state/door"].Retain);
        Assert.Equal("closed", Encoding.UTF8.GetString(byTopic["state/window"].Payload));
        Assert.True(byTopic["state/window"].Retain);
    }

    [Fact]
    public async Task Mqtt_in_marks_retained_messages()
    {
        await using var mosquitto = await MosquittoFixture.StartNewAsync();
        await using (var publisher = await MqttTestClient.ConnectAsync(mosquitto.Port))
            await publisher.PublishAsync("config/mode", "auto", qos: 1, retain: true);

        await using var flow = await StartAsync(Flow(
            Broker(mosquitto.Port),
            new { id = "in", type = "mqtt in", topic = "config/#", qos = "1", datatype = "auto", broker = "b1", wires = new[] { new[] { "out" } } },
            new { id = "out", type = "test-capture" }));

        var message = await flow.NextAsync("out");
        Assert.Equal(("config/mode", "auto", true), (message.Topic, message.Payload, message["retain"]));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Protocol_version_5_round_trips_through_out_and_in_with_properties()
    {
        await using var mosquitto = await MosquittoFixture.StartNewAsync();
        await using var flow = await StartAsync(Flow(
            Broker(mosquitto.Port, protocolVersion: 5),
            new { id = "in", type = "mqtt in", topic = "v5/#", qos = "2", datatype = "auto-detect", broker = "b1", nl = false, rap = true, rh = "0", wires = new[] { new[] { "cap" } } },
            new { id = "cap", type = "test-capture" },
            new { id = "out", type = "mqtt out", topic = "", qos = "2", broker = "b1" }));
        await WaitForStatusAsync(flow, "in", "connected");

        var message = FlowMessage.WithPayload(new Dictionary<string, object?> { ["v"] = 5.0 }, "v5/test");
        message["contentType"] = "application/json";
        message["responseTopic"] = "v5/reply";
        message["userProperties"] = new Dictionary<string, object?> { ["site"] = "a" };
        await flow.SendAsync("out", message);

        var received = await flow.NextAsync("cap");
        Assert.Equal("v5/test", received.Topic);
        Assert.Equal(5.0, ((Dictionary<string, object?>)received.Payload!)["v"]);
        Assert.Equal(2.0, received["qos"]);
        Assert.Equal("application/json", received["contentType"]);
        Assert.Equal("v5/reply", received["responseTopic"]);
        Assert.Equal("a", ((Dictionary<string, object?>)received["userProperties"]!)["site"]);
        flow.AssertNoErrors();
    }

    [Theory]
    [InlineData(1, 4)]
    [InlineData(2, 4)]
    [InlineData(1, 5)]
    [InlineData(2, 5)]
    public async Task A_burst_of_qos_1_or_2_publishes_arrives_complete_and_in_order(int qos, int version)
    {
        // Mosquitto announces a Receive Maximum of 20 (its max_inflight_messages) to MQTT 5 clients,
        // and holds 3.1.1 clients to 20 QoS 2 publishes in flight without saying so: beyond that it
        // refused or dropped them (the connection reset, messages lost).
        await using var mosquitto = await MosquittoFixture.StartNewAsync();
        await using var flow = await StartAsync(Flow(
            Broker(mosquitto.Port, protocolVersion: version),
            new { id = "out", type = "mqtt out", topic = "line/burst", qos = qos.ToString(), broker = "b1" }));
        await using var subscriber = await MqttTestClient.ConnectAsync(mosquitto.Port);
        await subscriber.SubscribeAsync("line/burst", MQTTnet.Protocol.MqttQualityOfServiceLevel.AtLeastOnce);

        const int count = 2000;
        // One after the other, as the node before mqtt out hands them on (each returns once its
        // publish is written, not acknowledged).
        for (var i = 0; i < count; i++)
            try { await flow.SendAsync("out", i.ToString()).AsTask().WaitAsync(TimeSpan.FromSeconds(10)); }
            catch (TimeoutException) { Assert.Fail($"qos {qos} v{version}: message {i} was not taken: {string.Join(" | ", flow.Errors.Take(3))}"); }
        var received = new List<string>();
        try { for (var i = 0; i < count; i++) received.Add(Encoding.UTF8.GetString((await subscriber.NextAsync(TimeSpan.FromSeconds(10))).Payload)); }
        catch (TimeoutException) { Assert.Fail($"received {received.Count} of {count}; errors: {string.Join(" | ", flow.Errors.Take(3))}"); }
        Assert.Equal(Enumerable.Range(0, count).Select(i => i.ToString()), received);
        flow.AssertNoErrors();
    }

    [Theory]
    [InlineData(1, 4)]
    [InlineData(2, 4)]
    [InlineData(2, 5)]
    public async Task A_burst_received_at_qos_1_or_2_is_handed_on_complete_once_and_in_order(int qos, int version)
    {
        await using var mosquitto = await MosquittoFixture.StartNewAsync();
        await using var flow = await StartAsync(Flow(
            Broker(mosquitto.Port, protocolVersion: version),
            new { id = "in", type = "mqtt in", topic = "line/burst", qos = qos.ToString(), datatype = "utf8", broker = "b1", wires = new[] { new[] { "cap" } } },
            new { id = "cap", type = "test-capture" }));
        await WaitForStatusAsync(flow, "in", "connected");
        await using var publisher = await MqttTestClient.ConnectAsync(mosquitto.Port, version == 5 ? MqttProtocolVersion.V500 : MqttProtocolVersion.V311);

        // At QoS 1 many unacknowledged at once, as a busy publisher sends them. At QoS 2 the test
        // client has to go one at a time itself: beyond 20 in flight Mosquitto resets it, and
        // MQTTnet's PUBRELs may leave out of order.
        const int count = 2000;
        if (qos == 1) await Task.WhenAll(Enumerable.Range(0, count).Select(i => publisher.PublishAsync("line/burst", i.ToString(), qos)));
        else for (var i = 0; i < count; i++) await publisher.PublishAsync("line/burst", i.ToString(), qos);
        var received = await flow.Capture("cap").TakeAsync(count, TimeSpan.FromSeconds(20));
        Assert.Equal(Enumerable.Range(0, count).Select(i => i.ToString()), received.Select(m => (string)m.Payload!));
        Assert.True(await flow.Capture("cap").StaysEmptyAsync(TimeSpan.FromMilliseconds(300)));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Reconnects_after_the_broker_restarts_and_receives_what_is_published_then()
    {
        await using var mosquitto = await MosquittoFixture.StartNewAsync();
        await using var flow = await StartAsync(Flow(
            Broker(mosquitto.Port),
            new { id = "in", type = "mqtt in", topic = "line/#", qos = "1", datatype = "utf8", broker = "b1", wires = new[] { new[] { "cap" } } },
            new { id = "cap", type = "test-capture" },
            new { id = "out", type = "mqtt out", topic = "line/out", qos = "1", broker = "b1" }));
        await WaitForStatusAsync(flow, "in", "connected");
        await using (var before = await MqttTestClient.ConnectAsync(mosquitto.Port))
            await before.PublishAsync("line/1", "before");
        Assert.Equal("before", (await flow.NextAsync("cap")).Payload);

        await mosquitto.StopAsync();
        await WaitForStatusAsync(flow, "in", "disconnected");
        Assert.Equal("red", flow.Runtime.Find("out")!.Status.Fill);
        // Published while the broker is down: must wait for the connection, not vanish.
        var pending = flow.SendAsync("out", "sent while down").AsTask();
        await Task.Delay(300);
        await mosquitto.StartAsync();
        await WaitForStatusAsync(flow, "in", "connected", TimeSpan.FromSeconds(20));
        Assert.Equal("green", flow.Runtime.Find("in")!.Status.Fill);
        await pending;

        await using var after = await MqttTestClient.ConnectAsync(mosquitto.Port);
        await after.PublishAsync("line/2", "after");
        var received = await flow.Capture("cap").TakeAsync(2);
        Assert.Equal(["after", "sent while down"], received.Select(m => (string)m.Payload!).Order(StringComparer.Ordinal));
        Assert.Contains(flow.Errors, e => e.StartsWith("b1:", StringComparison.Ordinal) && e.Contains($"127.0.0.1:{mosquitto.Port}"));
    }

    [Fact]
    public async Task An_unreachable_broker_does_not_block_the_deploy_and_is_reported()
    {
        var port = FreePort.Next(); // nothing listens here
        var clock = Stopwatch.StartNew();
        await using var flow = await StartAsync(Flow(
            Broker(port),
            new { id = "in", type = "mqtt in", topic = "x", broker = "b1", wires = new[] { new[] { "cap" } } },
            new { id = "cap", type = "test-capture" },
            new { id = "out", type = "mqtt out", topic = "y", broker = "b1" }));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"deploy took {clock.Elapsed}");

        var error = await flow.WaitForErrorAsync($"127.0.0.1:{port}");
        Assert.StartsWith("b1:", error);
        Assert.Contains("mqtt-broker 'local'", error);
        await WaitForStatusAsync(flow, "in", "disconnected");
        Assert.Equal(new NodeStatus("red", "ring", "disconnected"), flow.Runtime.Find("out")!.Status);
    }

    static (string, string) Read(MQTTnet.MqttApplicationMessage message) => (message.Topic, Encoding.UTF8.GetString(message.Payload));
}
