using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace FlowServer.Runtime;

/// <summary>
/// JSON options for binding node options from flow JSON, which Node-RED writes loosely:
/// numbers as strings (<c>"port":"1883"</c>), booleans as strings, empty strings for "unset".
/// </summary>
public static class TolerantJson
{
    public static readonly JsonSerializerOptions Options = Create();

    static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions
        {
            PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
            NumberHandling = JsonNumberHandling.AllowReadingFromString | JsonNumberHandling.AllowNamedFloatingPointLiterals,
            AllowTrailingCommas = true,
        };
        options.Converters.Add(new LooseBoolean());
        options.Converters.Add(new LooseString());
        options.Converters.Add(new LooseInt());
        options.Converters.Add(new LooseDouble());
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }

    sealed class LooseBoolean : JsonConverter<bool>
    {
        public override bool Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.TokenType switch
        {
            JsonTokenType.True => true,
            JsonTokenType.False => false,
            JsonTokenType.Null => false,
            JsonTokenType.Number => reader.GetDouble() != 0,
            JsonTokenType.String => reader.GetString()?.Trim().ToLowerInvariant() switch
            {
                "true" or "1" or "yes" or "on" => true,
                "false" or "0" or "no" or "off" or "" or null => false,
                var other => throw new JsonException($"expected true or false, got '{other}'"),
            },
            _ => throw new JsonException($"expected true or false, got {reader.TokenType}"),
        };

        public override void Write(Utf8JsonWriter writer, bool value, JsonSerializerOptions options) => writer.WriteBooleanValue(value);
    }

    sealed class LooseString : JsonConverter<string>
    {
        public override bool HandleNull => false;

        public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.TokenType switch
        {
            JsonTokenType.String => reader.GetString(),
            JsonTokenType.Number => Encoding(ref reader),
            JsonTokenType.True => "true",
            JsonTokenType.False => "false",
            JsonTokenType.Null => null,
            _ => throw new JsonException($"expected text, got {reader.TokenType}"),
        };

        static string Encoding(ref Utf8JsonReader reader) => System.Text.Encoding.UTF8.GetString(reader.ValueSpan);

        public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options) => writer.WriteStringValue(value);
    }

    sealed class LooseInt : JsonConverter<int>
    {
        public override int Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            var value = LooseDouble.ReadNumber(ref reader);
            if (value != Math.Floor(value) || value < int.MinValue || value > int.MaxValue)
                throw new JsonException($"expected a whole number, got {value.ToString(CultureInfo.InvariantCulture)}");
            return (int)value;
        }

        public override void Write(Utf8JsonWriter writer, int value, JsonSerializerOptions options) => writer.WriteNumberValue(value);
    }

    sealed class LooseDouble : JsonConverter<double>
    {
        public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => ReadNumber(ref reader);

        public static double ReadNumber(ref Utf8JsonReader reader)
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.Number: return reader.GetDouble();
                case JsonTokenType.True: return 1;
                case JsonTokenType.False: return 0;
                case JsonTokenType.String:
                    var text = reader.GetString()!.Trim();
                    if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)) return d;
                    throw new JsonException($"expected a number, got '{text}'");
                default: throw new JsonException($"expected a number, got {reader.TokenType}");
            }
        }

        public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options) => writer.WriteNumberValue(value);
    }
}
