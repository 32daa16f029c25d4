using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Parsers;

public sealed class JsonOptions : NodeOptions
{
    [Property("action", Editor = PropertyEditor.Select, Choices = ["", "str", "obj"], Help = "\"\": convert between JSON string and object; str: always a JSON string; obj: always an object")]
    public string Action { get; set; } = "";

    [Property("property", Label = "Property", Help = "The message property to convert")]
    public string Property { get; set; } = "payload";

    [Property("pretty", Editor = PropertyEditor.Checkbox, Label = "Format JSON string", Help = "Indent the JSON text (4 spaces)")]
    public bool Pretty { get; set; }

    [JsonIgnore] public PropertyPath Path { get; private set; } = PropertyPath.Parse("payload");

    public override IEnumerable<OptionError> Validate()
    {
        if (PropertyPath.TryParse(string.IsNullOrWhiteSpace(Property) ? "payload" : Property, out var path, out var error)) Path = path!;
        else return [new OptionError("property", error!)];
        return [];
    }
}

[NodeType("json", Category = "parser", Color = "#DEBD5C", Icon = "parser-json",
    Help = """
    Converts between a JSON string and its object.

    ### Inputs
    : payload (object | string | buffer) : a JSON string (or a buffer holding one) to parse, or
      an object, array or null to turn into JSON text.

    ### Outputs
    : payload (object | string) : the converted value, in the same property.

    ### Details
    With *action* empty the node converts in the direction the value calls for; `str` always
    outputs JSON text (strings pass unchanged); `obj` always outputs an object (objects pass
    unchanged). Text that is not valid JSON raises an error with the message, which catch
    nodes receive; nothing is sent. A number or boolean is dropped with a warning, a buffer
    cannot be turned into JSON text, and a message without the property passes unchanged.
    With *pretty*, JSON text is indented by four spaces.
    """)]
public sealed class JsonNode : FlowNode<JsonOptions>, IRunsInline
{
    static readonly JsonWriterOptions PrettyWriter = new()
    {
        Indented = true, IndentSize = 4, NewLine = "\n", SkipValidation = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public override async ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        var options = Options;
        if (!options.Path.TryGet(message.Properties, out var value))
        {
            await Context.SendAsync(0, message, cancellationToken);
            return;
        }
        switch (value)
        {
            case string or byte[]:
                if (options.Action != "str")
                {
                    try
                    {
                        options.Path.Set(message, value is string text ? MessageJson.Parse(text) : MessageJson.Parse(((byte[])value).AsSpan()));
                    }
                    catch (JsonException e) { throw new FlowNodeException(Describe(e)); }
                }
                break;
            case null or List<object?> or Dictionary<string, object?>:
                if (options.Action != "obj") options.Path.Set(message, options.Pretty ? Pretty(value) : MessageJson.Serialize(value));
                break;
            default:
                Context.Warn($"Dropped: {MessageValue.TypeName(value)} is not a JSON string or an object");
                return;
        }
        await Context.SendAsync(0, message, cancellationToken);
    }

    static string Pretty(object? value)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, PrettyWriter)) MessageJson.Write(writer, value);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    // System.Text.Json appends reader coordinates that read oddly to a flow author; keep the position.
    static string Describe(JsonException e)
    {
        var text = e.Message;
        var cut = text.IndexOf(" LineNumber:", StringComparison.Ordinal);
        if (cut > 0) text = text[..cut].TrimEnd('.', ' ');
        return e.BytePositionInLine is { } position ? $"Invalid JSON: {text} (line {(e.LineNumber ?? 0) + 1}, position {position})" : $"Invalid JSON: {text}";
    }
}
