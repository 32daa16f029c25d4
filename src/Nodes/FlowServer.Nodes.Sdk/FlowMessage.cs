namespace FlowServer.Nodes.Sdk;

/// <summary>
/// A message travelling along wires: a JSON-like object with <c>payload</c>, <c>topic</c>,
/// <c>_msgid</c> and any other property. Values are message values (see <see cref="MessageValue"/>):
/// null, bool, double, string, byte[], <see cref="List{T}"/> of values and
/// <see cref="Dictionary{TKey,TValue}"/> of string to value.
/// </summary>
/// <remarks>
/// A message is owned by one node at a time. The runtime gives the first wire of a port the
/// message itself and every further wire a deep clone, so a node may mutate what it receives.
/// </remarks>
public sealed class FlowMessage
{
    /// <summary>Creates an empty message with a fresh <c>_msgid</c>.</summary>
    public FlowMessage() : this(new Dictionary<string, object?>(4)) { } // the other constructor adds the _msgid

    /// <summary>Wraps an existing property dictionary (not copied). Adds <c>_msgid</c> when missing.</summary>
    public FlowMessage(Dictionary<string, object?> properties)
    {
        Properties = properties;
        if (!properties.ContainsKey("_msgid")) properties["_msgid"] = NewMessageId();
    }

    /// <summary>All properties of the message, <c>payload</c> and <c>topic</c> included.</summary>
    public Dictionary<string, object?> Properties { get; }

    /// <summary><c>msg.payload</c>.</summary>
    public object? Payload
    {
        get => Properties.GetValueOrDefault("payload");
        set => Properties["payload"] = value;
    }

    /// <summary><c>msg.topic</c> as a string, or null when absent or not a string.</summary>
    public string? Topic
    {
        get => Properties.GetValueOrDefault("topic") is { } t ? MessageValue.ToText(t) : null;
        set => Properties["topic"] = value;
    }

    /// <summary><c>msg._msgid</c>: kept by clones, as in Node-RED.</summary>
    public string MessageId
    {
        get => Properties.GetValueOrDefault("_msgid") as string ?? "";
        set => Properties["_msgid"] = value;
    }

    /// <summary>Gets or sets a top-level property.</summary>
    public object? this[string name]
    {
        get => Properties.GetValueOrDefault(name);
        set => Properties[name] = value;
    }

    /// <summary>A deep copy: no value is shared between the copy and this message.</summary>
    public FlowMessage Clone() => new((Dictionary<string, object?>)MessageValue.DeepClone(Properties)!);

    /// <summary>A message with the given payload (and topic, when not null).</summary>
    public static FlowMessage WithPayload(object? payload, string? topic = null)
    {
        var message = new FlowMessage { Payload = payload };
        if (topic is not null) message.Topic = topic;
        return message;
    }

    /// <summary>The message as JSON text (Buffers written as Node-RED writes them).</summary>
    public override string ToString() => MessageJson.Serialize(Properties);

    /// <summary>A 16 hex digit id, like Node-RED's.</summary>
    public static string NewMessageId()
    {
        Span<byte> bytes = stackalloc byte[8];
        Random.Shared.NextBytes(bytes);
        return Convert.ToHexStringLower(bytes);
    }
}
