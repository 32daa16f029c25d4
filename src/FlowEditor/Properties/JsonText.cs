using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FlowServer.Editor.Properties;

/// <summary>Reads and writes property values the way Node-RED stores them (mostly strings).</summary>
public static class JsonText
{
    public static string Of(JsonNode? value) => value switch
    {
        null => "",
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        JsonValue v when v.GetValueKind() == JsonValueKind.True => "true",
        JsonValue v when v.GetValueKind() == JsonValueKind.False => "false",
        JsonValue v when v.GetValueKind() == JsonValueKind.Number => AsNumber(v)!.Value.ToString(CultureInfo.InvariantCulture),
        _ => value.ToJsonString(),
    };

    public static bool IsTrue(JsonNode? value) => value switch
    {
        JsonValue v when v.GetValueKind() == JsonValueKind.True => true,
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>() == "true",
        _ => false,
    };

    /// <summary>
    /// The number a value holds, as a JSON number or a numeric string (Node-RED writes both);
    /// through its JSON text, because a value made from an int does not convert to double.
    /// </summary>
    public static double? AsNumber(JsonNode? value) => value switch
    {
        JsonValue v when v.GetValueKind() == JsonValueKind.Number => double.Parse(v.ToJsonString(), CultureInfo.InvariantCulture),
        JsonValue v when v.GetValueKind() == JsonValueKind.String && double.TryParse(v.GetValue<string>(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => d,
        _ => null,
    };

    /// <summary>A number when the text is one; the text otherwise, so validation can name the field.</summary>
    public static JsonNode? Number(string text) =>
        string.IsNullOrWhiteSpace(text) ? JsonValue.Create("")
        : double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? JsonValue.Create(d) : JsonValue.Create(text);
}
