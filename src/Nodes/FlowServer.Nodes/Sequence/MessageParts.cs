using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Sequence;

/// <summary>Helpers shared by the sequence nodes for <c>msg.parts</c> and escaped separators.</summary>
internal static class MessageParts
{
    /// <summary>A fresh sequence id, in the shape of Node-RED's generated ids.</summary>
    public static string NewId() => FlowMessage.NewMessageId();

    /// <summary><c>msg.parts</c> when it is an object, else null.</summary>
    public static Dictionary<string, object?>? Of(FlowMessage message) => message["parts"] as Dictionary<string, object?>;

    /// <summary>
    /// Node-RED's editor stores control characters escaped (<c>"\\n"</c>); the runtime turns
    /// them back into the characters before use.
    /// </summary>
    public static string Unescape(string text) => text
        .Replace("\\n", "\n", StringComparison.Ordinal)
        .Replace("\\r", "\r", StringComparison.Ordinal)
        .Replace("\\t", "\t", StringComparison.Ordinal)
        .Replace("\\e", "\u001b", StringComparison.Ordinal)
        .Replace("\\f", "\f", StringComparison.Ordinal)
        .Replace("\\0", "\0", StringComparison.Ordinal);

    /// <summary>Parses a byte list written as JSON (<c>[13,10]</c>); null when it is not one.</summary>
    public static byte[]? ParseBytes(string text)
    {
        try
        {
            if (MessageJson.Parse(text) is not List<object?> items) return null;
            var bytes = new byte[items.Count];
            for (var i = 0; i < items.Count; i++)
            {
                if (MessageValue.AsNumber(items[i]) is not { } n || n < 0 || n > 255 || n != Math.Floor(n)) return null;
                bytes[i] = (byte)n;
            }
            return bytes;
        }
        catch (System.Text.Json.JsonException) { return null; }
    }

    /// <summary>A whole, non-negative number from a message value (parts.index, parts.count), or null.</summary>
    public static int? AsIndex(object? value) =>
        MessageValue.AsNumber(value) is { } n && n >= 0 && n == Math.Floor(n) && n <= int.MaxValue ? (int)n : null;
}
