using System.Buffers;
using System.Text;
using System.Text.Json;
using FlowServer.Nodes.Sdk;
using MQTTnet;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace FlowServer.Nodes.Network.Mqtt;

public sealed class MqttInOptions : NodeOptions
{
    [Property("topic", Required = true, Help = "Topic filter; + matches one level, # the rest")]
    public string Topic { get; set; } = "";

    [Property("qos", Editor = PropertyEditor.Select, Choices = ["0", "1", "2"], Label = "QoS")]
    public int Qos { get; set; } = 2;

    [Property("datatype", Editor = PropertyEditor.Select, Choices = ["auto-detect", "auto", "buffer", "utf8", "json", "base64"], Label = "Output",
        Help = "auto-detect: parsed JSON object/array, else a string (a Buffer when not UTF-8); auto: a string, or a Buffer when not UTF-8")]
    public string Datatype { get; set; } = "auto-detect";

    [Property("broker", Required = true, Editor = PropertyEditor.ConfigNode, ConfigType = "mqtt-broker", Label = "Server")]
    public string Broker { get; set; } = "";

    [Property("nl", Editor = PropertyEditor.Checkbox, Label = "No local", Help = "MQTT 5: do not receive messages published by this connection")]
    public bool NoLocal { get; set; }

    [Property("rap", Editor = PropertyEditor.Checkbox, Label = "Retain as published", Help = "MQTT 5: keep the retain flag the publisher set")]
    public bool RetainAsPublished { get; set; } = true;

    [Property("rh", Editor = PropertyEditor.Select, Choices = ["0", "1", "2"], Label = "Retain handling",
        Help = "MQTT 5: 0 = send retained messages on subscribe, 1 = only for a new subscription, 2 = never")]
    public int RetainHandling { get; set; }

    public override IEnumerable<OptionError> Validate()
    {
        if (!string.IsNullOrEmpty(Topic) && MqttTopic.ValidateFilter(Topic) is { } problem) yield return new OptionError("topic", problem);
    }
}

[NodeType("mqtt in", Category = "network", Inputs = 0, Outputs = 1, Color = "#d8bfd8", Icon = "bridge",
    Help = """
    Subscribes to a topic on an MQTT broker and sends one message per publish.

    ### Outputs
    : payload (any) : the message body, as chosen by *datatype*.
    : topic (string) : the topic it was published on.
    : qos (number) : 0, 1 or 2.
    : retain (boolean) : true for a retained message sent on subscribe.
    : responseTopic, correlationData, contentType, userProperties, messageExpiryInterval : MQTT 5 properties, when set.

    ### Details
    *datatype*: `auto-detect` parses JSON (objects, arrays, numbers, strings, true/false/null)
    and gives other text as a string;
    `auto` gives a string, or a Buffer when the body is not UTF-8; `json` parses (a body that is
    not JSON raises an error with the message, for a catch node); `utf8`, `buffer`, `base64`
    convert as named.

    A QoS 1/2 message is acknowledged to the broker only once the flow accepted it, so a slow
    flow slows the broker down instead of losing messages.
    """)]
public sealed class MqttInNode : FlowNode<MqttInOptions>
{
    static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    IDisposable? _user;
    IAsyncDisposable? _subscription;

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        var broker = Context.GetConfigNode<MqttBrokerConfigNode>(Options.Broker);
        _user = broker.AddUser(Context);
        _subscription = await broker.SubscribeAsync(new MqttSubscription(
            Options.Topic,
            (MqttQualityOfServiceLevel)Options.Qos,
            Options.NoLocal,
            Options.RetainAsPublished,
            (MqttRetainHandling)Options.RetainHandling,
            OnMessageAsync,
            Context.Stopping), cancellationToken);
    }

    async Task OnMessageAsync(MqttApplicationMessage received, CancellationToken cancellationToken)
    {
        // Made at its size: _msgid, topic, qos, retain and payload.
        var message = new FlowMessage(new Dictionary<string, object?>(5)) { Topic = received.Topic };
        message["qos"] = (double)(int)received.QualityOfServiceLevel;
        message["retain"] = received.Retain;
        AddVersion5Properties(received, message);

        if (!TryConvert(received.Payload, out var payload, out var problem))
        {
            message.Payload = Encoding.UTF8.GetString(received.Payload);
            Context.ReportError($"mqtt in '{Context.NodeName ?? Context.NodeId}': payload on '{received.Topic}' is not valid JSON: {problem}", message);
            return;
        }
        message.Payload = payload;
        await Context.SendAsync(0, message, cancellationToken);
    }

    // Read straight from the received bytes (MQTTnet's payload is one segment in practice): only
    // a Buffer result gets a copy of its own.
    bool TryConvert(in ReadOnlySequence<byte> received, out object? payload, out string? problem)
    {
        ReadOnlySpan<byte> body = received.IsSingleSegment ? received.FirstSpan : received.ToArray();
        problem = null;
        switch (Options.Datatype)
        {
            case "buffer":
                payload = body.ToArray();
                return true;
            case "base64":
                payload = Convert.ToBase64String(body);
                return true;
            case "utf8":
                payload = Encoding.UTF8.GetString(body);
                return true;
            case "json":
                try
                {
                    payload = MessageJson.Parse(body);
                    return true;
                }
                catch (JsonException e)
                {
                    payload = null;
                    problem = e.Message;
                    return false;
                }
            case "auto":
                payload = TryUtf8(body, out var text) ? text : body.ToArray();
                return true;
            default: // auto-detect: JSON when it parses (straight from the bytes: no string between), else text, else a Buffer
                if (TryParseJson(body, out payload)) return true;
                payload = TryUtf8(body, out var detected) ? detected : body.ToArray();
                return true;
        }
    }

    // Any JSON text (object, array, string, number, true, false, null), as Node-RED's
    // auto-detect takes it with JSON.parse; false for anything else, and at once (no exception)
    // for text that cannot start a JSON value.
    static bool TryParseJson(ReadOnlySpan<byte> body, out object? value)
    {
        value = null;
        var start = 0;
        while (start < body.Length && body[start] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n') start++;
        if (start == body.Length || body[start] is not ((byte)'{' or (byte)'[' or (byte)'"' or (byte)'-' or (>= (byte)'0' and <= (byte)'9') or (byte)'t' or (byte)'f' or (byte)'n')) return false;
        try
        {
            value = MessageJson.Parse(body);
            return true;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException) { return false; } // invalid JSON or UTF-8
    }

    static bool TryUtf8(ReadOnlySpan<byte> body, out string text)
    {
        try
        {
            text = StrictUtf8.GetString(body);
            return true;
        }
        catch (DecoderFallbackException)
        {
            text = "";
            return false;
        }
    }

    static void AddVersion5Properties(MqttApplicationMessage received, FlowMessage message)
    {
        if (!string.IsNullOrEmpty(received.ResponseTopic)) message["responseTopic"] = received.ResponseTopic;
        if (received.CorrelationData is { Length: > 0 } correlation) message["correlationData"] = correlation.ToArray();
        if (!string.IsNullOrEmpty(received.ContentType)) message["contentType"] = received.ContentType;
        if (received.MessageExpiryInterval > 0) message["messageExpiryInterval"] = (double)received.MessageExpiryInterval;
        if (received.UserProperties is { Count: > 0 } properties)
        {
            var map = new Dictionary<string, object?>();
            foreach (var property in properties) map[property.Name] = property.ReadValueAsString();
            message["userProperties"] = map;
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_subscription is not null) await _subscription.DisposeAsync();
        _user?.Dispose();
    }
}
