using System.Net;
using System.Net.Sockets;
using FlowServer.Mqtt;
using FlowServer.Nodes.Network.Mqtt;
using FlowServer.Runtime;
using MQTTnet;
using FlowServer.Testing;
using FlowServer.Testing.Fixtures;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Mqtt;

/// <summary>
/// A slow flow behind <c>mqtt in</c> must slow the broker down (acknowledgements wait for the
/// flow) instead of losing messages — against Mosquitto and against the built-in broker.
/// </summary>
public sealed class MqttBackpressureTests
{
    const int Count = 2000;

    [Fact]
    public async Task A_slow_flow_behind_mqtt_in_gets_every_message_in_order_from_mosquitto()
    {
        await using var mosquitto = await MosquittoFixture.StartNewAsync();
        await RunAsync(mosquitto.Port);
    }

    [Fact]
    public async Task A_slow_flow_behind_mqtt_in_gets_every_message_in_order_from_the_built_in_broker()
    {
        await using var broker = new BuiltInBroker(new BuiltInBrokerOptions { Port = 0 });
        await broker.StartAsync(CancellationToken.None);
        Assert.True(broker.Port > 0);
        await RunAsync(broker.Port);
        Assert.Equal(0, broker.Dropped);
    }

    static async Task RunAsync(int port)
    {
        await using var flow = await StartAsync(Flow(
            MqttNodeTests.Broker(port),
            new { id = "in", type = "mqtt in", topic = "load/#", qos = "1", datatype = "utf8", broker = "b1", wires = new[] { new[] { "slow" } } },
            new { id = "slow", type = "test-slow", ms = 10, every = 20, queueSize = 5, wires = new[] { new[] { "cap" } } },
            new { id = "cap", type = "test-capture" }));
        await MqttNodeTests.WaitForStatusAsync(flow, "in", "connected");
        await using var publisher = await MqttTestClient.ConnectAsync(port);

        var slow = flow.Runtime.Find("slow")!;
        var deepest = 0;
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                deepest = Math.Max(deepest, slow.InboxDepth);
                await Task.Delay(1);
            }
        });

        for (var i = 0; i < Count; i++) await publisher.PublishAsync("load/seq", i.ToString(), qos: 1);

        var received = await flow.Capture("cap").TakeAsync(Count, TimeSpan.FromSeconds(60));
        sampling.Cancel();
        await sampler;
        Assert.Equal(Enumerable.Range(0, Count).Select(i => i.ToString()), received.Select(m => (string)m.Payload!));
        Assert.Equal(5, deepest); // the slow node's inbox was full: backpressure reached mqtt in
        Assert.Equal(0, slow.Dropped);
        Assert.True(slow.InboxDepth <= 5);
        Assert.True(await flow.Capture("cap").StaysEmptyAsync(TimeSpan.FromMilliseconds(200)));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task A_flow_from_mqtt_in_to_mqtt_out_on_the_same_connection_does_not_deadlock_when_full()
    {
        // mqtt in waits for the flow while mqtt out waits for PUBACKs on the same client: both must keep moving.
        await using var mosquitto = await MosquittoFixture.StartNewAsync();
        await using var observer = await MqttTestClient.ConnectAsync(mosquitto.Port);
        await observer.SubscribeAsync("bridge/out");
        await using var flow = await StartAsync(Flow(
            MqttNodeTests.Broker(mosquitto.Port),
            new { id = "in", type = "mqtt in", topic = "bridge/in", qos = "1", datatype = "utf8", broker = "b1", wires = new[] { new[] { "out" } } },
            new { id = "out", type = "mqtt out", topic = "bridge/out", qos = "1", broker = "b1", queueSize = 2 }));
        await MqttNodeTests.WaitForStatusAsync(flow, "in", "connected");
        await using var publisher = await MqttTestClient.ConnectAsync(mosquitto.Port);

        for (var i = 0; i < 300; i++) await publisher.PublishAsync("bridge/in", i.ToString(), qos: 1);

        for (var i = 0; i < 300; i++)
            Assert.Equal(i.ToString(), (await observer.NextAsync(TimeSpan.FromSeconds(10))).ConvertPayloadToString());
        flow.AssertNoErrors();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(0)]
    public async Task A_slow_flow_keeps_at_most_the_receive_limit_of_messages_waiting_and_the_broker_holds_the_rest(int qos)
    {
        // While acknowledgements flow (the flow is slow, not stalled), Mosquitto keeps sending
        // past its in-flight limit, at QoS 0 there is no limit to keep, and MQTTnet reads
        // whatever comes: without the receive limit about all 2,500 messages land in the
        // engine's memory at once.
        const int count = MqttReceiveLimit.DefaultLimit * 5 / 2;
        await using var mosquitto = await MosquittoFixture.StartNewAsync();
        await using var flow = await StartAsync(Flow(
            MqttNodeTests.Broker(mosquitto.Port),
            new { id = "in", type = "mqtt in", topic = "load/#", qos = qos.ToString(), datatype = "utf8", broker = "b1", wires = new[] { new[] { "slow" } } },
            new { id = "slow", type = "test-slow", ms = 2, every = 1, queueSize = 5, wires = new[] { new[] { "cap" } } },
            new { id = "cap", type = "test-capture" }));
        await MqttNodeTests.WaitForStatusAsync(flow, "in", "connected");
        var limit = ((MqttBrokerConfigNode)flow.Runtime.Find("b1")!.Node).ReceiveLimit;
        await using var publisher = await MqttTestClient.ConnectAsync(mosquitto.Port);

        for (var i = 0; i < count; i++) await publisher.PublishAsync("load/seq", i.ToString(), qos: qos);
        var received = await flow.Capture("cap").TakeAsync(count, TimeSpan.FromSeconds(90));

        Assert.Equal(Enumerable.Range(0, count).Select(i => i.ToString()), received.Select(m => (string)m.Payload!));
        Assert.True(limit.PeakWaiting <= limit.Limit, $"peak {limit.PeakWaiting}, limit {limit.Limit}");
        Assert.True(limit.Pauses >= 1, $"reading never paused (peak {limit.PeakWaiting}): the limit was not reached");
        Assert.Equal(0, limit.Waiting);
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task A_slow_flow_that_publishes_at_qos1_on_the_same_connection_gets_every_message_through_beyond_the_receive_limit()
    {
        // Reading must not pause while one of mqtt out's PUBACKs is awaited: it comes behind the
        // messages the broker sent meanwhile, and the flow would wait for it forever.
        const int count = MqttReceiveLimit.DefaultLimit * 5 / 2;
        await using var mosquitto = await MosquittoFixture.StartNewAsync();
        await using var observer = await MqttTestClient.ConnectAsync(mosquitto.Port);
        await observer.SubscribeAsync("bridge/out");
        await using var flow = await StartAsync(Flow(
            MqttNodeTests.Broker(mosquitto.Port),
            new { id = "in", type = "mqtt in", topic = "bridge/in", qos = "1", datatype = "utf8", broker = "b1", wires = new[] { new[] { "slow" } } },
            new { id = "slow", type = "test-slow", ms = 2, every = 1, queueSize = 5, wires = new[] { new[] { "out" } } },
            new { id = "out", type = "mqtt out", topic = "bridge/out", qos = "1", broker = "b1", queueSize = 2 }));
        await MqttNodeTests.WaitForStatusAsync(flow, "in", "connected");
        await using var publisher = await MqttTestClient.ConnectAsync(mosquitto.Port);

        for (var i = 0; i < count; i++) await publisher.PublishAsync("bridge/in", i.ToString(), qos: 1);

        for (var i = 0; i < count; i++)
            Assert.Equal(i.ToString(), (await observer.NextAsync(TimeSpan.FromSeconds(10))).ConvertPayloadToString());
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Qos1_messages_are_acknowledged_only_once_the_flow_accepted_them()
    {
        await using var broker = new BuiltInBroker(new BuiltInBrokerOptions { Port = 0 });
        await broker.StartAsync(CancellationToken.None);
        var acknowledged = 0;
        broker.Server!.ClientAcknowledgedPublishPacketAsync += e =>
        {
            if (e.ClientId == "flow-client") Interlocked.Increment(ref acknowledged);
            return Task.CompletedTask;
        };
        await using var flow = await StartAsync(Flow(
            new { id = "b1", type = "mqtt-broker", broker = "127.0.0.1", port = broker.Port, clientid = "flow-client" },
            new { id = "in", type = "mqtt in", topic = "held", qos = "1", datatype = "utf8", broker = "b1", wires = new[] { new[] { "gate" } } },
            new { id = "gate", type = "test-gate", queueSize = 5, wires = new[] { new[] { "cap" } } },
            new { id = "cap", type = "test-capture" }));
        await MqttNodeTests.WaitForStatusAsync(flow, "in", "connected");
        await using var publisher = await MqttTestClient.ConnectAsync(broker.Port);

        for (var i = 0; i < 50; i++) await publisher.PublishAsync("held", i.ToString(), qos: 1);
        var gate = flow.Runtime.Find("gate")!;
        await WaitUntilAsync(() => gate.InboxDepth == 5);
        await Task.Delay(300);

        // One message held by the gate and five in its inbox were accepted; the seventh waits unacknowledged.
        Assert.Equal(6, Volatile.Read(ref acknowledged));
        ((GateNode)gate.Node).Open();
        var received = await flow.Capture("cap").TakeAsync(50);
        Assert.Equal(Enumerable.Range(0, 50).Select(i => i.ToString()), received.Select(m => (string)m.Payload!));
        await WaitUntilAsync(() => Volatile.Read(ref acknowledged) == 50);
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task A_message_in_hand_when_its_mqtt_in_stops_is_not_acknowledged_and_comes_again_on_the_persistent_session()
    {
        await using var mosquitto = await MosquittoFixture.StartNewAsync();
        var clientId = "persistent-" + Guid.NewGuid().ToString("N")[..8];
        string FlowWith(string inName) => Flow(
            new { id = "b1", type = "mqtt-broker", broker = "127.0.0.1", port = mosquitto.Port, clientid = clientId, cleansession = false },
            new { id = "in", type = "mqtt in", name = inName, topic = "held", qos = "1", datatype = "utf8", broker = "b1", wires = new[] { new[] { "gate" } } },
            new { id = "gate", type = "test-gate", queueSize = 1, wires = new[] { new[] { "cap" } } },
            new { id = "cap", type = "test-capture" });
        await using var flow = await StartAsync(FlowWith("first"));
        await MqttNodeTests.WaitForStatusAsync(flow, "in", "connected");
        await using var publisher = await MqttTestClient.ConnectAsync(mosquitto.Port);
        var gate = flow.Runtime.Find("gate")!;

        // "0" held by the gate, "1" in its inbox, "2" in the mqtt in waiting for room.
        for (var i = 0; i < 3; i++) await publisher.PublishAsync("held", i.ToString(), qos: 1);
        await WaitUntilAsync(() => gate.InboxDepth == 1);
        await Task.Delay(300);

        // Only the mqtt in restarts; "2" cannot reach the flow any more.
        await flow.DeployAsync(FlowWith("second"), DeploymentType.Nodes);
        var broker = (MqttBrokerConfigNode)flow.Runtime.Find("b1")!.Node;
        // Counted when the cancelled delivery unwinds on MQTTnet's thread, which the deploy does not wait for.
        double Undelivered() => broker.Metrics.Single(m => m.Name == "mqtt_undelivered_total").Value;
        await Poll.UntilAsync(() => Undelivered() >= 1, TimeSpan.FromSeconds(10), "the message in hand was never counted as undelivered");
        Assert.Equal(1, Undelivered());
        Assert.Equal(0, broker.ReceiveLimit.Waiting); // "0" and "1" were taken and acknowledged; "2" is abandoned, no longer counted
        ((GateNode)gate.Node).Open();
        var first = await flow.Capture("cap").TakeAsync(2);
        Assert.Equal(["0", "1"], first.Select(m => (string)m.Payload!));

        // A reconnect resumes the session: the broker sends the unacknowledged "2" again.
        await flow.DeployAsync(FlowWith("second"), DeploymentType.Full);
        ((GateNode)flow.Runtime.Find("gate")!.Node).Open();
        Assert.Equal("2", (string)(await flow.NextAsync("cap", TimeSpan.FromSeconds(15))).Payload!);
        flow.AssertNoErrors();
    }

    static Task WaitUntilAsync(Func<bool> condition) => Poll.UntilAsync(condition, TimeSpan.FromSeconds(10));

    [Fact]
    public async Task The_built_in_broker_names_the_port_when_it_is_in_use()
    {
        using var squatter = new TcpListener(IPAddress.Loopback, 0);
        squatter.Start();
        var port = ((IPEndPoint)squatter.LocalEndpoint).Port;
        await using var broker = new BuiltInBroker(new BuiltInBrokerOptions { Port = port });

        var error = await Assert.ThrowsAsync<FlowServer.Configuration.StartupException>(() => broker.StartAsync(CancellationToken.None));

        Assert.Equal($"--broker-port {port}: 127.0.0.1:{port} is already in use, so the built-in MQTT broker cannot listen there (choose another --broker-port, or --no-broker)", error.Message);
    }

    [Fact]
    public async Task Mosquitto_command_line_clients_without_a_client_id_work_with_the_built_in_broker()
    {
        await using var broker = new BuiltInBroker(new BuiltInBrokerOptions { Port = 0 });
        await broker.StartAsync(CancellationToken.None);

        // mosquitto_sub/pub send an empty client id and let the broker assign one.
        using var sub = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("mosquitto_sub",
            ["-h", "127.0.0.1", "-p", broker.Port.ToString(), "-t", "uns/#", "-C", "1", "-W", "20", "-v"]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = sub.StandardOutput.ReadToEndAsync();
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (!output.IsCompleted && DateTime.UtcNow < deadline)
        {
            using var pub = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("mosquitto_pub",
                ["-h", "127.0.0.1", "-p", broker.Port.ToString(), "-t", "uns/line1", "-m", "42"]) { RedirectStandardError = true })!;
            await pub.WaitForExitAsync();
            Assert.True(pub.ExitCode == 0, await pub.StandardError.ReadToEndAsync());
            await Task.WhenAny(output, Task.Delay(200));
        }
        await sub.WaitForExitAsync();
        Assert.Equal("uns/line1 42", (await output).Trim());
    }

    [Fact]
    public async Task The_built_in_broker_is_registered_as_a_hosted_service_unless_disabled()
    {
        var services = new ServiceCollection();
        services.AddBuiltInBroker(new BuiltInBrokerOptions { Port = 0 });
        await using (var provider = services.BuildServiceProvider())
        {
            var hosted = provider.GetServices<IHostedService>();
            var broker = Assert.IsType<BuiltInBroker>(Assert.Single(hosted));
            await broker.StartAsync(CancellationToken.None);
            await using var client = await MqttTestClient.ConnectAsync(broker.Port);
            await broker.StopAsync(CancellationToken.None);
        }

        var disabled = new ServiceCollection();
        disabled.AddBuiltInBroker(new BuiltInBrokerOptions { Enabled = false });
        using var none = disabled.BuildServiceProvider();
        Assert.Empty(none.GetServices<IHostedService>());
    }
}
