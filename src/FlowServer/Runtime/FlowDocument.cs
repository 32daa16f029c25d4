using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FlowServer.Runtime;

/// <summary>
/// A flow document: Node-RED's flow JSON, an array of node objects. Every property of every
/// object is kept verbatim, so what was posted is what <c>GET /flows</c> returns; credentials
/// are split off on parse and never stored in the document.
/// </summary>
public sealed class FlowDocument
{
    public FlowDocument(IReadOnlyList<JsonObject> nodes) => Nodes = nodes;

    public static FlowDocument Empty { get; } = new([]);

    /// <summary>The node objects (tabs, config nodes and wired nodes), in document order.</summary>
    public IReadOnlyList<JsonObject> Nodes { get; }

    /// <summary>The document as compact JSON text.</summary>
    public string ToJson()
    {
        // Written straight from the nodes: no deep copy of the whole document first.
        var output = new ArrayBufferWriter<byte>(4096);
        using (var writer = new Utf8JsonWriter(output))
        {
            writer.WriteStartArray();
            foreach (var node in Nodes) node.WriteTo(writer);
            writer.WriteEndArray();
        }
        return Encoding.UTF8.GetString(output.WrittenSpan);
    }

    /// <summary>A deep copy as a JSON array (for responses).</summary>
    public JsonArray ToJsonArray() => new(Nodes.Select(n => (JsonNode)n.DeepClone()).ToArray());

    /// <summary>The revision id: SHA-256 of the document's JSON, as Node-RED's <c>rev</c>.</summary>
    public string ComputeRevision() => RevisionOf(ToJson());

    /// <summary>The revision id of a document's JSON text, as <see cref="ToJson"/> wrote it.</summary>
    public static string RevisionOf(string json) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(json)));

    public JsonObject? Find(string id) => Nodes.FirstOrDefault(n => IdOf(n) == id);

    public static string? IdOf(JsonObject node) => Text(node, "id");
    public static string? TypeOf(JsonObject node) => Text(node, "type");

    public static string? Text(JsonObject node, string property) =>
        node.TryGetPropertyValue(property, out var value) && value is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;

    /// <summary>
    /// Parses a posted body: a v1 array, or a v2 object <c>{flows, rev?, credentials?}</c>.
    /// Credentials found inline (<c>credentials</c> on a node) or in the top-level map are
    /// moved into <paramref name="credentials"/>. Throws <see cref="FlowDocumentException"/>.
    /// </summary>
    public static FlowDocument Parse(string json, out Dictionary<string, JsonObject> credentials, out string? revision)
    {
        JsonNode? root;
        try { root = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { MaxDepth = 256 }); }
        catch (JsonException e)
        {
            throw new FlowDocumentException([new FlowError(null, null, null, null, $"malformed flow JSON: {CleanJsonMessage(e)}")]);
        }
        return FromNode(root, out credentials, out revision);
    }

    /// <summary>
    /// As <see cref="Parse"/>, from parsed JSON. The document takes the node objects out of
    /// <paramref name="root"/> (its array is left empty) instead of copying them: its callers
    /// hand it JSON of their own, which was then copied a second time. Pass a copy to keep the original.
    /// </summary>
    public static FlowDocument FromNode(JsonNode? root, out Dictionary<string, JsonObject> credentials, out string? revision)
    {
        credentials = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        revision = null;
        JsonArray? array;
        if (root is JsonObject wrapper)
        {
            revision = wrapper["rev"] is JsonValue r && r.GetValueKind() == JsonValueKind.String ? r.GetValue<string>() : null;
            array = wrapper["flows"] as JsonArray;
            if (array is null) throw new FlowDocumentException([new FlowError(null, null, null, "flows", "the body must be a flow array or an object with a 'flows' array")]);
            if (wrapper["credentials"] is JsonObject map)
                foreach (var (id, value) in map)
                    if (value is JsonObject c) credentials[id] = (JsonObject)c.DeepClone();
        }
        else
        {
            array = root as JsonArray;
            if (array is null) throw new FlowDocumentException([new FlowError(null, null, null, null, "the body must be a JSON array of nodes")]);
        }

        var errors = new List<FlowError>();
        var entries = array.ToArray();
        array.Clear(); // detaches the entries, so that they can be the document's own
        var nodes = new List<JsonObject>(entries.Length);
        for (var i = 0; i < entries.Length; i++)
        {
            if (entries[i] is not JsonObject node)
            {
                errors.Add(new FlowError(null, null, null, null, $"entry {i} is not a JSON object"));
                continue;
            }
            var id = IdOf(node);
            if (string.IsNullOrEmpty(id)) errors.Add(new FlowError(null, TypeOf(node), Text(node, "name"), "id", $"entry {i} has no 'id'"));
            if (string.IsNullOrEmpty(TypeOf(node))) errors.Add(new FlowError(id, null, Text(node, "name"), "type", $"entry {i} has no 'type'"));
            if (node["credentials"] is JsonObject inline && id is not null)
            {
                var merged = credentials.TryGetValue(id, out var existing) ? existing : new JsonObject();
                foreach (var (key, value) in inline) merged[key] = value?.DeepClone();
                credentials[id] = merged;
            }
            node.Remove("credentials");
            nodes.Add(node);
        }
        if (errors.Count > 0) throw new FlowDocumentException(errors);
        return new FlowDocument(nodes);
    }

    static string CleanJsonMessage(JsonException e)
    {
        var line = e.LineNumber is { } l ? $" (line {l + 1}, position {e.BytePositionInLine + 1})" : "";
        var message = e.Message;
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        if (cut > 0) message = message[..cut];
        cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        if (cut > 0) message = message[..cut];
        return message.TrimEnd('.', ' ') + line;
    }
}

/// <summary>One problem in a flow document, naming the node and field it concerns.</summary>
public sealed record FlowError(string? NodeId, string? Type, string? Name, string? Field, string Message)
{
    /// <summary>A sentence such as <c>mqtt in 'Line 3' (a1b2): topic is required</c>.</summary>
    public string Text
    {
        get
        {
            var who = NodeId is null ? "flow" : $"{Type ?? "node"}{(string.IsNullOrEmpty(Name) ? "" : $" '{Name}'")} ({NodeId})";
            return string.IsNullOrEmpty(Field) || Message.StartsWith(Field, StringComparison.Ordinal)
                ? $"{who}: {Message}"
                : $"{who}: {Field} {Message}";
        }
    }
}

/// <summary>Raised when a flow document cannot be parsed or compiled; carries every error found.</summary>
public sealed class FlowDocumentException(IReadOnlyList<FlowError> errors)
    : Exception(string.Join("; ", errors.Select(e => e.Text)))
{
    public IReadOnlyList<FlowError> Errors { get; } = errors;
}
