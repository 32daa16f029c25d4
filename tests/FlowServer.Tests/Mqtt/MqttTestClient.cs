using System.Threading.Channels;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace FlowServer.Tests.Mqtt;

/// <summary>An MQTT client independent of the nodes under test, to publish into and observe a broker.</summary>
public sealed class MqttTestClient : IAsyncDisposable
{
    readonly IMqttClient _client;
    readonly Channel<MqttApplicationMessage> _received = Channel.CreateUnbounded<MqttApplicationMessage>();

    MqttTestClient(IMqttClient client)
    {
        _client = client;
        _client.ApplicationMessageReceivedAsync += e =>
        {
            _received.Writer.TryWrite(e.ApplicationMessage);
            return Task.CompletedTask;
        };
    }

    public static async Task<MqttTestClient> ConnectAsync(int port, MqttProtocolVersion version = MqttProtocolVersion.V311)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        var wrapper = new MqttTestClient(client);
        var options = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithProtocolVersion(version)
            .WithClientId("test_" + Guid.NewGuid().ToString("N")[..10]).Build();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await client.ConnectAsync(options, timeout.Token);
        return wrapper;
    }

    public async Task SubscribeAsync(string filter, MqttQualityOfServiceLevel qos = MqttQualityOfServiceLevel.AtLeastOnce)
    {
        var options = new MqttClientSubscribeOptionsBuilder().WithTopicFilter(f => f.WithTopic(filter).WithQualityOfServiceLevel(qos)).Build();
        await _client.SubscribeAsync(options);
    }

    public Task PublishAsync(string topic, string payload, int qos = 1, bool retain = false) =>
        PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload)
            .WithQualityOfServiceLevel((MqttQualityOfServiceLevel)qos).WithRetainFlag(retain).Build());

    public Task PublishAsync(string topic, byte[] payload, int qos = 1) =>
        PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel((MqttQualityOfServiceLevel)qos).Build());

    public async Task PublishAsync(MqttApplicationMessage message)
    {
        var result = await _client.PublishAsync(message);
        if (!result.IsSuccess && result.ReasonCode != MqttClientPublishReasonCode.NoMatchingSubscribers)
            throw new InvalidOperationException($"publish to {message.Topic} failed: {result.ReasonCode}");
    }

    /// <summary>The next message this client received, or a timeout.</summary>
    public async Task<MqttApplicationMessage> NextAsync(TimeSpan? timeout = null)
    {
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(5));
        try { return await _received.Reader.ReadAsync(cancel.Token); }
        catch (OperationCanceledException) { throw new TimeoutException("the test client received no message"); }
    }

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected)
        {
            try { await _client.DisconnectAsync(); }
            catch (Exception) { } // the broker may already be gone
        }
        _client.Dispose();
    }
}
