using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using FlowServer.Runtime;
using FlowServer.Testing;
using FlowServer.Testing.Fixtures;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet;
using MQTTnet.Protocol;
using Xunit;

namespace FlowServer.Tests.Integration;

/// <summary>
/// End to end: a real FlowServer on a free port, a real Mosquitto on another, flows deployed
/// over HTTP exactly as a user would with curl, messages published and read by independent
/// MQTT clients.
/// </summary>
public sealed class MqttPipelineTests : IAsyncLifetime
{
    MosquittoFixture _mosquitto = null!;
    FlowServerInstance _server = null!;

    public async Task InitializeAsync()
    {
        _mosquitto = await MosquittoFixture.StartNewAsync();
        _server = await FlowServerInstance.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _mosquitto.DisposeAsync();
    }

    /// <summary>
    /// A flow as Node-RED 4 exports it (every editor property present, x/y, info, a
    /// credential-free broker): mqtt in → function → change → switch → mqtt out.
    /// </summary>
    static string NodeRedExport(int brokerPort) => $$"""
    [
      {"id":"f1a2b3c4d5e6f708","type":"tab","label":"Line 3 normalise","disabled":false,"info":"","env":[]},
      {"id":"0b1c2d3e4f5a6b7c","type":"mqtt-broker","name":"plant broker","broker":"127.0.0.1","port":"{{brokerPort}}","clientid":"","autoConnect":true,"usetls":false,"protocolVersion":"4","keepalive":"60","cleansession":true,"autoUnsubscribe":true,"birthTopic":"","birthQos":"0","birthRetain":"false","birthPayload":"","birthMsg":{},"closeTopic":"","closeQos":"0","closeRetain":"false","closePayload":"","closeMsg":{},"willTopic":"","willQos":"0","willRetain":"false","willPayload":"","willMsg":{},"userProps":"","sessionExpiry":""},
      {"id":"a1000000000000a1","type":"mqtt in","z":"f1a2b3c4d5e6f708","name":"raw tags","topic":"raw/line3/+","qos":"1","datatype":"auto-detect","broker":"0b1c2d3e4f5a6b7c","nl":false,"rap":true,"rh":0,"inputs":0,"x":130,"y":120,"wires":[["a2000000000000a2"]]},
      {"id":"a2000000000000a2","type":"function","z":"f1a2b3c4d5e6f708","name":"scale","func":"const tag = msg.topic.split('/').pop();\nmsg.payload = { tag: tag, value: msg.payload.raw / 10, unit: msg.payload.unit || 'C' };\nreturn msg;","outputs":1,"timeout":0,"noerr":0,"initialize":"","finalize":"","libs":[],"x":310,"y":120,"wires":[["a3000000000000a3"]]},
      {"id":"a3000000000000a3","type":"change","z":"f1a2b3c4d5e6f708","name":"to UNS","rules":[{"t":"change","p":"topic","pt":"msg","from":"raw/line3/","fromt":"str","to":"acme/plant1/area2/line3/","tot":"str"},{"t":"set","p":"payload.site","pt":"msg","to":"plant1","tot":"str"}],"action":"","property":"","from":"","to":"","reg":false,"x":470,"y":120,"wires":[["a4000000000000a4"]]},
      {"id":"a4000000000000a4","type":"switch","z":"f1a2b3c4d5e6f708","name":"range","property":"payload.value","propertyType":"msg","rules":[{"t":"gt","v":"100","vt":"num"},{"t":"else"}],"checkall":"false","repair":false,"outputs":2,"x":630,"y":120,"wires":[["a5000000000000a5"],["a6000000000000a6"]]},
      {"id":"a5000000000000a5","type":"mqtt out","z":"f1a2b3c4d5e6f708","name":"alarms","topic":"alarms/line3","qos":"1","retain":"false","respTopic":"","contentType":"","userProps":"","correl":"","expiry":"","broker":"0b1c2d3e4f5a6b7c","x":800,"y":80,"wires":[]},
      {"id":"a6000000000000a6","type":"mqtt out","z":"f1a2b3c4d5e6f708","name":"uns","topic":"","qos":"1","retain":"","respTopic":"","contentType":"","userProps":"","correl":"","expiry":"","broker":"0b1c2d3e4f5a6b7c","x":790,"y":160,"wires":[]}
    ]
    """;

    [Fact]
    public async Task A_Node_RED_export_deploys_with_one_post_and_transforms_every_message()
    {
        await using var reader = await Subscriber.StartAsync(_mosquitto.Port, "acme/#", "alarms/#");

        var response = await _server.DeployAsync(NodeRedExport(_mosquitto.Port));
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        await WaitConnectedAsync("a1000000000000a1");

        await using var publisher = await Publisher.StartAsync(_mosquitto.Port);
        await publisher.PublishAsync("raw/line3/temperature", """{"raw":265}""");
        await publisher.PublishAsync("raw/line3/pressure", """{"raw":1234,"unit":"bar"}""");

        var normal = await reader.NextAsync("acme/plant1/area2/line3/temperature");
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"tag":"temperature","value":26.5,"unit":"C","site":"plant1"}"""), JsonNode.Parse(normal)), normal);
        var alarm = await reader.NextAsync("alarms/line3");
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"tag":"pressure","value":123.4,"unit":"bar","site":"plant1"}"""), JsonNode.Parse(alarm)), alarm);
        Assert.DoesNotContain(reader.Topics, t => t == "acme/plant1/area2/line3/pressure"); // the switch stopped after the first match

        // GET /flows returns the export unchanged, foreign properties included.
        var stored = JsonNode.Parse(await _server.Http.GetStringAsync("/flows"))!.AsArray();
        var posted = JsonNode.Parse(NodeRedExport(_mosquitto.Port))!.AsArray();
        Assert.Equal(posted.Count, stored.Count);
        foreach (var node in posted)
            Assert.True(JsonNode.DeepEquals(node, stored.Single(s => (string?)s!["id"] == (string?)node!["id"])), node!.ToJsonString());
    }

    [Fact]
    public async Task A_nodes_deploy_of_another_tab_keeps_the_subscription_and_loses_nothing()
    {
        var flows = JsonNode.Parse(NodeRedExport(_mosquitto.Port))!.AsArray();
        flows.Add(JsonNode.Parse("""{"id":"t2","type":"tab","label":"Other"}"""));
        flows.Add(JsonNode.Parse("""{"id":"o1","type":"inject","z":"t2","name":"v1","props":[{"p":"payload"}],"payload":"1","payloadType":"num","repeat":"","once":false,"wires":[["o2"]]}"""));
        flows.Add(JsonNode.Parse("""{"id":"o2","type":"debug","z":"t2","name":"d","wires":[]}"""));
        Assert.Equal(HttpStatusCode.NoContent, (await _server.DeployAsync(flows.ToJsonString())).StatusCode);
        await WaitConnectedAsync("a1000000000000a1");

        var runtime = _server.Services.GetRequiredService<FlowRuntime>();
        var subscriberHost = runtime.Find("a1000000000000a1");
        var brokerHost = runtime.Find("0b1c2d3e4f5a6b7c");
        Assert.NotNull(subscriberHost);

        await using var reader = await Subscriber.StartAsync(_mosquitto.Port, "acme/#");
        await using var publisher = await Publisher.StartAsync(_mosquitto.Port);
        const int count = 600;
        var publishing = Task.Run(async () =>
        {
            for (var i = 0; i < count; i++)
            {
                await publisher.PublishAsync("raw/line3/seq", $$"""{"raw":{{i}}}"""); // value i/10 stays below the alarm limit of 100
                if (i % 20 == 0) await Task.Delay(5);
            }
        });

        // While messages flow, redeploy only the other tab, three times.
        for (var round = 2; round <= 4; round++)
        {
            await Task.Delay(40);
            flows.Single(n => (string?)n!["id"] == "o1")!["payload"] = round.ToString();
            var report = await _server.DeployAsync(flows.ToJsonString(), "nodes");
            Assert.Equal(HttpStatusCode.NoContent, report.StatusCode);
        }
        await publishing;

        var values = await reader.CollectAsync("acme/plant1/area2/line3/seq", count, TimeSpan.FromSeconds(30));
        Assert.Equal(Enumerable.Range(0, count).Select(i => i / 10.0), values.Select(v => JsonNode.Parse(v)!["value"]!.GetValue<double>()));
        Assert.Same(subscriberHost, runtime.Find("a1000000000000a1"));
        Assert.Same(brokerHost, runtime.Find("0b1c2d3e4f5a6b7c"));
    }

    [Fact]
    public async Task Flows_with_mqtt_survive_a_restart_and_run_again()
    {
        Assert.Equal(HttpStatusCode.NoContent, (await _server.DeployAsync(NodeRedExport(_mosquitto.Port))).StatusCode);
        await _server.RestartAsync();
        await WaitConnectedAsync("a1000000000000a1");

        await using var reader = await Subscriber.StartAsync(_mosquitto.Port, "acme/#");
        await using var publisher = await Publisher.StartAsync(_mosquitto.Port);
        // "connected" comes with the connection; a subscription registered while it was being made
        // may still await its SUBACK (seen once on a loaded CI machine), so publish until the flow answers.
        var answer = reader.NextAsync("acme/plant1/area2/line3/level");
        while (!answer.IsCompleted)
        {
            await publisher.PublishAsync("raw/line3/level", """{"raw":5}""");
            await Task.WhenAny(answer, Task.Delay(500));
        }
        var level = JsonNode.Parse(await answer)!;
        Assert.Equal(0.5, level["value"]!.GetValue<double>());
    }

    [Fact]
    public async Task Payloads_of_every_size_pass_through_unchanged_in_a_burst()
    {
        // Sizes around MQTT's length-field steps and the engine's 64 KiB read-ahead buffer.
        int[] sizes = [0, 1, 127, 128, 16_383, 16_384, 65_000, 65_536, 65_537, 200_000, 3, 70_000, 5];
        var flow = $$"""
        [
          {"id":"tb","type":"tab","label":"sizes"},
          {"id":"bk","type":"mqtt-broker","broker":"127.0.0.1","port":"{{_mosquitto.Port}}","clientid":"","protocolVersion":"4","keepalive":"60","cleansession":true},
          {"id":"in","type":"mqtt in","z":"tb","topic":"sizes/in","qos":"1","datatype":"buffer","broker":"bk","wires":[["out"]]},
          {"id":"out","type":"mqtt out","z":"tb","topic":"sizes/out","qos":"1","retain":"false","broker":"bk","wires":[]}
        ]
        """;
        Assert.Equal(HttpStatusCode.NoContent, (await _server.DeployAsync(flow)).StatusCode);
        await WaitConnectedAsync("in");
        await using var reader = await Subscriber.StartAsync(_mosquitto.Port, "sizes/out");
        await using var publisher = await Publisher.StartAsync(_mosquitto.Port);

        static string Body(int index, int size) =>
            string.Create(size, index, (span, seed) => { for (var i = 0; i < span.Length; i++) span[i] = (char)('a' + (i * 7 + seed) % 26); });
        const int rounds = 20; // many packets back to back, so that one socket read holds several
        var expected = new List<string>();
        var sends = new List<Task>();
        for (var round = 0; round < rounds; round++)
            for (var i = 0; i < sizes.Length; i++)
            {
                var body = Body(round * sizes.Length + i, sizes[i]);
                expected.Add(body);
                sends.Add(publisher.PublishAsync("sizes/in", body));
            }
        await Task.WhenAll(sends);

        var received = await reader.CollectAsync("sizes/out", expected.Count, TimeSpan.FromSeconds(30));
        Assert.Equal(expected.Count, received.Count);
        for (var i = 0; i < expected.Count; i++)
            Assert.True(expected[i] == received[i], $"message {i} ({expected[i].Length} bytes) came back as {received[i].Length} bytes or different");
    }

    async Task WaitConnectedAsync(string nodeId)
    {
        var runtime = _server.Services.GetRequiredService<FlowRuntime>();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            if (runtime.Events.Statuses.GetValueOrDefault(nodeId) is { } status && status.Text?.Contains("connected", StringComparison.OrdinalIgnoreCase) == true
                && !status.Text.Contains("dis", StringComparison.OrdinalIgnoreCase))
                return;
            await Task.Delay(50);
        }
        throw new TimeoutException($"{nodeId} did not report connected; last status: {runtime.Events.Statuses.GetValueOrDefault(nodeId)}");
    }
}

/// <summary>An independent MQTT client that records what arrives, by topic.</summary>
sealed class Subscriber : IAsyncDisposable
{
    readonly IMqttClient _client;
    readonly ConcurrentQueue<(string Topic, string Payload)> _received = new();

    Subscriber(IMqttClient client) => _client = client;

    public IEnumerable<string> Topics => _received.Select(r => r.Topic);

    public static async Task<Subscriber> StartAsync(int port, params string[] filters)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        var subscriber = new Subscriber(client);
        client.ApplicationMessageReceivedAsync += e =>
        {
            subscriber._received.Enqueue((e.ApplicationMessage.Topic, Encoding.UTF8.GetString(e.ApplicationMessage.Payload)));
            return Task.CompletedTask;
        };
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("test-sub-" + Guid.NewGuid().ToString("N")[..8]).Build());
        var subscribe = new MqttClientSubscribeOptionsBuilder();
        foreach (var f in filters) subscribe.WithTopicFilter(f, MqttQualityOfServiceLevel.AtLeastOnce);
        await client.SubscribeAsync(subscribe.Build());
        return subscriber;
    }

    public async Task<string> NextAsync(string topic)
    {
        var list = await CollectAsync(topic, 1, TimeSpan.FromSeconds(15));
        return list[0];
    }

    public async Task<List<string>> CollectAsync(string topic, int count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var matching = _received.Where(r => r.Topic == topic).Select(r => r.Payload).ToList();
            if (matching.Count >= count) return matching;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{matching.Count} of {count} messages on {topic} within {timeout.TotalSeconds}s; topics seen: {string.Join(", ", Topics.Distinct().Take(10))}");
            await Task.Delay(25);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected) await _client.DisconnectAsync();
        _client.Dispose();
    }
}

sealed class Publisher : IAsyncDisposable
{
    readonly IMqttClient _client;
    Publisher(IMqttClient client) => _client = client;

    public static async Task<Publisher> StartAsync(int port)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithClientId("test-pub-" + Guid.NewGuid().ToString("N")[..8]).Build());
        return new Publisher(client);
    }

    public Task PublishAsync(string topic, string payload) =>
        _client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected) await _client.DisconnectAsync();
        _client.Dispose();
    }
}
