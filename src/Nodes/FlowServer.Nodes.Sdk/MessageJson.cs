using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FlowServer.Nodes.Sdk;

/// <summary>
/// JSON ⇄ message values, without an intermediate DOM. Numbers become doubles (as in
/// JavaScript); a byte[] is written as Node-RED writes a Buffer: <c>{"type":"Buffer","data":[…]}</c>.
/// </summary>
public static class MessageJson
{
    static readonly JsonReaderOptions ReaderOptions = new() { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 256 };
    static readonly JsonWriterOptions CompactWriter = new() { Indented = false, SkipValidation = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Parses UTF-8 JSON text. Throws <see cref="JsonException"/> when it is not JSON.</summary>
    public static object? Parse(ReadOnlySpan<byte> utf8)
    {
        var reader = new Utf8JsonReader(utf8, ReaderOptions);
        if (!reader.Read()) throw new JsonException("Empty JSON text");
        var value = ReadValue(ref reader);
        if (reader.Read()) throw new JsonException("Unexpected text after the JSON value");
        return value;
    }

    /// <summary>Parses JSON text. Throws <see cref="JsonException"/> when it is not JSON.</summary>
    public static object? Parse(string json)
    {
        var max = Encoding.UTF8.GetMaxByteCount(json.Length);
        byte[]? rented = max > 1024 ? ArrayPool<byte>.Shared.Rent(max) : null;
        Span<byte> buffer = rented ?? stackalloc byte[max];
        try
        {
            var length = Encoding.UTF8.GetBytes(json, buffer);
            return Parse(buffer[..length]);
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>Reads the value at the reader's current token.</summary>
    public static object? ReadValue(ref Utf8JsonReader reader)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Null: return null;
            case JsonTokenType.True: return true;
            case JsonTokenType.False: return false;
            case JsonTokenType.Number: return reader.GetDouble();
            case JsonTokenType.String: return reader.GetString();
            case JsonTokenType.StartArray:
                var list = new List<object?>();
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray) list.Add(ReadValue(ref reader));
                return list;
            case JsonTokenType.StartObject:
                var map = new Dictionary<string, object?>();
                while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
                {
                    var key = reader.GetString()!;
                    reader.Read();
                    map[key] = ReadValue(ref reader);
                }
                return map;
            default:
                throw new JsonException($"Unexpected JSON token {reader.TokenType}");
        }
    }

    /// <summary>Writes a message value as JSON.</summary>
    public static void Write(Utf8JsonWriter writer, object? value)
    {
        switch (value)
        {
            case null: writer.WriteNullValue(); break;
            case string s: writer.WriteStringValue(s); break;
            case bool b: writer.WriteBooleanValue(b); break;
            case double d: WriteNumber(writer, d); break;
            case byte[] bytes:
                writer.WriteStartObject();
                writer.WriteString("type", "Buffer");
                writer.WriteStartArray("data");
                foreach (var b in bytes) writer.WriteNumberValue(b);
                writer.WriteEndArray();
                writer.WriteEndObject();
                break;
            case List<object?> list:
                writer.WriteStartArray();
                foreach (var item in list) Write(writer, item);
                writer.WriteEndArray();
                break;
            case Dictionary<string, object?> map:
                writer.WriteStartObject();
                foreach (var (key, item) in map)
                {
                    writer.WritePropertyName(key);
                    Write(writer, item);
                }
                writer.WriteEndObject();
                break;
            case JsonNode node: node.WriteTo(writer); break;
            case DateTime or DateTimeOffset: writer.WriteStringValue(((IFormattable)value).ToString("O", null)); break;
            default:
                if (MessageValue.AsNumber(value) is { } n) WriteNumber(writer, n);
                else writer.WriteStringValue(value.ToString());
                break;
        }
    }

    // JSON has no NaN or Infinity; JSON.stringify writes null for them. A whole number up to 2^53
    // (timestamps, counters, register values) is written as an integer: the same text as
    // JSON.stringify's (for -0 too: "0", where the double format wrote "-0"), at a fraction of
    // the cost of the shortest round-trip formatting of a double, which took ~7 % of the fan-out
    // flow's CPU (perf).
    const double LargestExactInteger = 9007199254740992; // 2^53

    static void WriteNumber(Utf8JsonWriter writer, double d)
    {
        if (Math.Abs(d) <= LargestExactInteger && d == Math.Floor(d)) writer.WriteNumberValue((long)d);
        else if (double.IsFinite(d)) writer.WriteNumberValue(d);
        else writer.WriteNullValue();
    }

    /// <summary>The value as compact JSON text.</summary>
    public static string Serialize(object? value) => Encoding.UTF8.GetString(SerializeToUtf8(value));

    /// <summary>The value as compact UTF-8 JSON.</summary>
    public static byte[] SerializeToUtf8(object? value)
    {
        // Every mqtt out message comes through here: the buffer and writer are kept per thread
        // instead of two objects and a buffer per call. Taken out while in use, so that a value
        // whose ToString serializes again gets a pair of its own.
        var buffer = t_buffer ?? new ArrayBufferWriter<byte>(256);
        var writer = t_writer ?? new Utf8JsonWriter(buffer, CompactWriter);
        (t_buffer, t_writer) = (null, null);
        buffer.ResetWrittenCount();
        writer.Reset(buffer);
        try
        {
            Write(writer, value);
            writer.Flush();
            return buffer.WrittenSpan.ToArray();
        }
        finally
        {
            // A huge payload's buffer is not kept for the thread's lifetime.
            if (buffer.Capacity <= KeptBufferBytes) (t_buffer, t_writer) = (buffer, writer);
        }
    }

    const int KeptBufferBytes = 64 * 1024;
    [ThreadStatic] static ArrayBufferWriter<byte>? t_buffer;
    [ThreadStatic] static Utf8JsonWriter? t_writer;

    /// <summary>Converts a System.Text.Json node (from a flow document) to a message value.</summary>
    public static object? FromNode(JsonNode? node) => node switch
    {
        null => null,
        JsonObject obj => obj.ToDictionary(kv => kv.Key, kv => FromNode(kv.Value)),
        JsonArray array => array.Select(FromNode).ToList(),
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => v.GetValue<string>(),
            JsonValueKind.Number => v.GetValue<double>(),
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => null,
        },
        _ => null,
    };

    /// <summary>Converts a message value to a System.Text.Json node.</summary>
    public static JsonNode? ToNode(object? value) => JsonNode.Parse(SerializeToUtf8(value));
}
