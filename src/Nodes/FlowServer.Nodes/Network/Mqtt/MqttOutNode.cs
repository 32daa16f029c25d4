using System.Buffers;
using System.Text;
using FlowServer.Nodes.Sdk;
using MQTTnet;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace FlowServer.Nodes.Network.Mqtt;

public sealed class MqttOutOptions : NodeOptions
{
    [Property("topic", Help = "Empty to use msg.topic")]
    public string Topic { get; set; } = "";

    [Property("qos", Editor = PropertyEditor.Select, Choices = ["", "0", "1", "2"], Label = "QoS", Help = "Empty to use msg.qos (0 when absent)")]
    public string Qos { get; set; } = "";

    [Property("retain", Editor = PropertyEditor.Select, Choices = ["", "true", "false"], Help = "Empty to use msg.retain (false when absent)")]
    public string Retain { get; set; } = "";

    [Property("broker", Required = true, Editor = PropertyEditor.ConfigNode, ConfigType = "mqtt-broker", Label = "Server")]
    public string Broker { get; set; } = "";

    [Property("respTopic", Label = "Response topic", Help = "MQTT 5; empty to use msg.responseTopic")]
    public string ResponseTopic { get; set; } = "";

    [Property("contentType", Label = "Content type", Help = "MQTT 5; empty to use msg.contentType")]
    public string ContentType { get; set; } = "";

    [Property("expiry", Label = "Message expiry (s)", Help = "MQTT 5; empty to use msg.messageExpiryInterval")]
    public string Expiry { get; set; } = "";

    public override IEnumerable<OptionError> Validate()
    {
        if (Topic.Contains('+') || Topic.Contains('#')) yield return new OptionError("topic", $"'{Topic}': a publish topic cannot hold the wildcards + or #");
        if (Expiry.Length > 0 && !uint.TryParse(Expiry, out _)) yield return new OptionError("expiry", $"must be a whole number of seconds, got '{Expiry}'");
    }
}

[NodeType("mqtt out", Category = "network", Inputs = 1, Outputs = 0, Color = "#d8bfd8", Icon = "bridge",
    Help = """
    Publishes `msg.payload` to an MQTT broker.

    ### Inputs
    : payload (any) : objects and arrays are sent as JSON text, numbers and booleans as text,
      a Buffer as its bytes, a string as UTF-8, null as an empty body.
    : topic (string) : the topic, when the node has none.
    : qos (number) : 0, 1 or 2, when the node leaves QoS empty.
    : retain (boolean) : when the node leaves retain empty.

    ### Details
    While the broker is unreachable the node waits for the connection (its inbox fills and slows
    the flow) instead of dropping messages. A message with no topic at all raises an error.

    Up to 100 QoS 1 messages wait for their acknowledgement at a time, fewer when an MQTT 5
    broker announces a smaller Receive Maximum; QoS 2 messages go one at a time, so that they
    arrive in order and within what a broker takes. Beyond that the node slows the flow.
    """)]
public sealed class MqttOutNode : FlowNode<MqttOutOptions>, IRunsInline
{
    // Publishes in flight (QoS 1/2 awaiting their acknowledgement) before the node takes no
    // more messages: waiting for each PUBACK in turn would cap throughput at one round trip
    // per message; a full window backs up into the inbox, so nothing is dropped.
    const int MaxInFlight = 100;

    MqttBrokerConfigNode? _broker;
    IDisposable? _user;
    readonly MqttPublishWindow _window = new(MaxInFlight);

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        _broker = Context.GetConfigNode<MqttBrokerConfigNode>(Options.Broker);
        _user = _broker.AddUser(Context);
        return Task.CompletedTask;
    }

    public override async ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        var topic = Options.Topic.Length > 0 ? Options.Topic : message.Topic;
        if (string.IsNullOrEmpty(topic))
            throw new FlowNodeException($"mqtt out '{Context.NodeName ?? Context.NodeId}': no topic: set the node's topic or msg.topic");
        if (topic.Contains('+') || topic.Contains('#'))
            throw new FlowNodeException($"mqtt out '{Context.NodeName ?? Context.NodeId}': topic '{topic}' holds a wildcard (+ or #)");

        var qos = Options.Qos.Length > 0 ? int.Parse(Options.Qos) : (int)MessageValue.ToNumber(message["qos"]);
        if (qos is < 0 or > 2) throw new FlowNodeException($"mqtt out '{Context.NodeName ?? Context.NodeId}': msg.qos must be 0, 1 or 2, got {MessageValue.ToText(message["qos"])}");
        var retain = Options.Retain.Length > 0 ? Options.Retain == "true" : message["retain"] is true or "true";

        // Made directly rather than through MQTTnet's builder: one object fewer per message.
        var payload = Encode(message.Payload);
        var publish = new MqttApplicationMessage
        {
            Topic = topic,
            Payload = payload.Length == 0 ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(payload),
            QualityOfServiceLevel = (MqttQualityOfServiceLevel)qos,
            Retain = retain,
        };
        if (_broker!.IsVersion5) AddVersion5Properties(message, publish);

        await _window.WaitAsync(cancellationToken);
        if (!_broker!.IsConnected)
        {
            // While disconnected, publish one at a time so that the reconnect sends in order.
            try
            {
                await DrainAsync(cancellationToken);
                await _broker.PublishAsync(publish, cancellationToken);
            }
            finally { _window.Release(); }
            return;
        }
        // Taken here, in the order the messages came, so that they are published in that order.
        try { await _broker.TakePublishSlotAsync(publish, cancellationToken); }
        catch { _window.Release(); throw; }
        _ = PublishInFlightAsync(publish, message, cancellationToken);
    }

    async Task PublishInFlightAsync(MqttApplicationMessage publish, FlowMessage message, CancellationToken cancellationToken)
    {
        try { await _broker!.PublishInSlotAsync(publish, cancellationToken); }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Context.Warn($"a message for '{publish.Topic}' was not published: the node stopped before the broker acknowledged it");
        }
        catch (Exception e) { Context.ReportError(e.Message, message, e); }
        finally { _window.Release(); }
    }

    // Waits until every publish in flight has been acknowledged (or failed).
    async Task DrainAsync(CancellationToken cancellationToken)
    {
        for (var i = 0; i < MaxInFlight - 1; i++) await _window.WaitAsync(cancellationToken);
        _window.Release(MaxInFlight - 1);
    }

    /// <summary>The bytes Node-RED writes for a payload.</summary>
    public static byte[] Encode(object? payload) => payload switch
    {
        null => [],
        byte[] bytes => bytes,
        string text => Encoding.UTF8.GetBytes(text),
        List<object?> or Dictionary<string, object?> => MessageJson.SerializeToUtf8(payload),
        _ => Encoding.UTF8.GetBytes(MessageValue.ToText(payload)),
    };

    void AddVersion5Properties(FlowMessage message, MqttApplicationMessage publish)
    {
        var responseTopic = Options.ResponseTopic.Length > 0 ? Options.ResponseTopic : message["responseTopic"] as string;
        if (!string.IsNullOrEmpty(responseTopic)) publish.ResponseTopic = responseTopic;
        var contentType = Options.ContentType.Length > 0 ? Options.ContentType : message["contentType"] as string;
        if (!string.IsNullOrEmpty(contentType)) publish.ContentType = contentType;
        var expiry = Options.Expiry.Length > 0 ? uint.Parse(Options.Expiry) : MessageValue.AsNumber(message["messageExpiryInterval"]) is { } e and > 0 ? (uint)e : 0u;
        if (expiry > 0) publish.MessageExpiryInterval = expiry;
        switch (message["correlationData"])
        {
            case byte[] bytes: publish.CorrelationData = bytes; break;
            case string text: publish.CorrelationData = Encoding.UTF8.GetBytes(text); break;
        }
        if (message["userProperties"] is Dictionary<string, object?> properties)
            publish.UserProperties = [.. properties.Select(p => new MqttUserProperty(p.Key, Encoding.UTF8.GetBytes(MessageValue.ToText(p.Value))))];
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        try
        {
            for (var i = 0; i < MaxInFlight; i++) await _window.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException) { Context.Warn("stopped with publishes still unacknowledged"); }
        _user?.Dispose();
    }
}
