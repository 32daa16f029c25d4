using System.Globalization;
using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Runtime;

/// <summary>
/// Validates a flow document against the node catalog and turns it into an immutable
/// <see cref="FlowPlan"/>. Collects every error instead of stopping at the first.
/// </summary>
public sealed class FlowCompiler(NodeCatalog catalog)
{
    // Objects of a flow document that are structure, not running nodes.
    static readonly HashSet<string> StructuralTypes = ["tab", "group"];
    static readonly string[] QueueOverflowChoices = ["wait", "drop-oldest", "drop-newest"];

    public NodeCatalog Catalog => catalog;

    public FlowPlan Compile(FlowDocument document, IReadOnlyDictionary<string, JsonObject> credentials)
    {
        var errors = new List<FlowError>();
        var byId = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        foreach (var node in document.Nodes)
        {
            var id = FlowDocument.IdOf(node)!;
            if (!byId.TryAdd(id, node)) errors.Add(Error(node, "id", $"is used by more than one node ('{id}')"));
        }

        var tabs = new Dictionary<string, TabInfo>(StringComparer.Ordinal);
        foreach (var node in document.Nodes.Where(n => FlowDocument.TypeOf(n) == "tab"))
        {
            var id = FlowDocument.IdOf(node)!;
            tabs[id] = new TabInfo(id, FlowDocument.Text(node, "label") ?? id, IsTrue(node, "disabled"), ReadEnv(node, errors));
        }

        // Each node compiles on its own (its options, wires and config references), reading the
        // document but writing nothing shared, so large documents compile on every core: the
        // 1000-node deploy's compile was half of its time on one core. Results are put back in
        // document order, so plans and error lists do not depend on the scheduling.
        var nodes = document.Nodes;
        var results = new (PlannedNode? Node, List<FlowError>? Errors)[nodes.Count];
        if (nodes.Count >= ParallelThreshold && Environment.ProcessorCount > 1)
        {
            // byId above read every node's id, so each node's top level is parsed already: the
            // threads only read what other nodes hold (their type), and no lazy parse races.
            try { Parallel.For(0, nodes.Count, i => results[i] = CompileNode(nodes[i], tabs, byId, credentials)); }
            catch (AggregateException e) when (e.InnerExceptions.Count == 1)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerExceptions[0]);
            }
        }
        else
            for (var i = 0; i < nodes.Count; i++) results[i] = CompileNode(nodes[i], tabs, byId, credentials);

        var planned = new List<PlannedNode>(nodes.Count);
        foreach (var (node, nodeErrors) in results)
        {
            if (nodeErrors is not null) errors.AddRange(nodeErrors);
            if (node is not null) planned.Add(node);
        }
        if (errors.Count > 0) throw new FlowDocumentException(errors);
        return new FlowPlan(planned, tabs);
    }

    // Below this many nodes a compile takes a few milliseconds at most, and handing the work to
    // the thread pool would cost more than it saves.
    const int ParallelThreshold = 200;

    // One node of the document: its plan, or null for structure and for nodes with errors; the errors found, or null.
    (PlannedNode? Node, List<FlowError>? Errors) CompileNode(JsonObject node, Dictionary<string, TabInfo> tabs, Dictionary<string, JsonObject> byId,
        IReadOnlyDictionary<string, JsonObject> credentials)
    {
        var type = FlowDocument.TypeOf(node)!;
        var id = FlowDocument.IdOf(node)!;
        if (StructuralTypes.Contains(type)) return (null, null);
        var errors = new List<FlowError>();
        if (type == "subflow" || type.StartsWith("subflow:", StringComparison.Ordinal))
        {
            errors.Add(Error(node, "type", "subflows are not supported yet; flatten the subflow before importing"));
            return (null, errors);
        }
        if (!catalog.TryGet(type, out var info))
        {
            errors.Add(Error(node, "type", $"unknown node type '{type}'"));
            return (null, errors);
        }
        var z = FlowDocument.Text(node, "z");
        if (!string.IsNullOrEmpty(z) && !tabs.ContainsKey(z)) errors.Add(Error(node, "z", $"refers to tab '{z}', which is not in the flow"));

        var optionErrors = new List<OptionError>();
        credentials.TryGetValue(id, out var nodeCredentials);
        var options = info.Binder.Bind(node, nodeCredentials, optionErrors);
        errors.AddRange(optionErrors.Select(e => Error(node, e.Field, e.Message)));

        var outputs = info.Descriptor.OutputsProperty is { } outputsProperty && node[outputsProperty] is { } countNode
            ? ReadCount(countNode, info.Descriptor.Outputs)
            : info.Descriptor.Outputs;
        var wires = ReadWires(node, info, outputs, byId, errors);

        var configRefs = new List<string>();
        foreach (var (field, refId, configType) in info.Binder.ConfigReferences(options))
        {
            if (!byId.TryGetValue(refId, out var target)) errors.Add(Error(node, field, $"refers to {configType} '{refId}', which is not in the flow"));
            else if (FlowDocument.TypeOf(target) != configType) errors.Add(Error(node, field, $"refers to '{refId}', a {FlowDocument.TypeOf(target)}, but needs a {configType}"));
            else configRefs.Add(refId);
        }

        var queue = ReadQueue(node, errors);
        var disabled = IsTrue(node, "d") || (z is not null && tabs.TryGetValue(z, out var tab) && tab.Disabled);
        var planned = new PlannedNode(id, type, FlowDocument.Text(node, "name"), string.IsNullOrEmpty(z) ? null : z, info, options,
            outputs, wires, configRefs.ToArray(), queue, disabled, new NodeFingerprint(node, nodeCredentials));
        return errors.Count > 0 ? (null, errors) : (planned, null);
    }

    static int ReadCount(JsonNode node, int fallback)
    {
        try { return node.Deserialize<int>(TolerantJson.Options); }
        catch (JsonException) { return fallback; }
    }

    string[][] ReadWires(JsonObject node, NodeTypeInfo info, int outputs, Dictionary<string, JsonObject> byId, List<FlowError> errors)
    {
        if (!node.TryGetPropertyValue("wires", out var wiresNode) || wiresNode is null) return [];
        if (info.IsConfig) return [];
        if (wiresNode is not JsonArray ports)
        {
            errors.Add(Error(node, "wires", "must be an array of arrays of node ids"));
            return [];
        }
        if (ports.Count > outputs && ports.Skip(outputs).Any(p => p is JsonArray a && a.Count > 0))
            errors.Add(Error(node, "wires", $"has {ports.Count} output ports but the node has {outputs}"));
        var result = new string[Math.Min(ports.Count, outputs)][];
        for (var port = 0; port < result.Length; port++)
        {
            if (ports[port] is not JsonArray targets)
            {
                errors.Add(Error(node, "wires", $"port {port} must be an array of node ids"));
                result[port] = [];
                continue;
            }
            var list = new List<string>(targets.Count);
            foreach (var target in targets)
            {
                var targetId = target is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;
                if (targetId is null) errors.Add(Error(node, "wires", $"port {port} holds {target?.ToJsonString() ?? "null"}, not a node id"));
                else if (!byId.TryGetValue(targetId, out var targetNode)) errors.Add(Error(node, "wires", $"port {port} is wired to '{targetId}', which is not in the flow"));
                else if (WithoutInput(targetNode) is { } kind) errors.Add(Error(node, "wires", $"port {port} is wired to the {kind} '{targetId}', which takes no input"));
                else list.Add(targetId);
            }
            result[port] = list.ToArray();
        }
        return result;
    }

    // What a wire target is when it cannot take messages (a tab, a group, a config or source node); null when it can, or when its type is reported on its own.
    string? WithoutInput(JsonObject target)
    {
        var type = FlowDocument.TypeOf(target)!;
        if (StructuralTypes.Contains(type)) return type;
        if (!catalog.TryGet(type, out var info)) return null;
        if (info.IsConfig) return $"{type} config node";
        return info.Descriptor.Inputs == 0 ? $"{type} node" : null;
    }

    static QueueSettings ReadQueue(JsonObject node, List<FlowError> errors)
    {
        int? capacity = null;
        if (node["queueSize"] is { } size && !(size is JsonValue sv && sv.GetValueKind() == JsonValueKind.String && string.IsNullOrEmpty(sv.GetValue<string>())))
        {
            try
            {
                capacity = size.Deserialize<int>(TolerantJson.Options);
                if (capacity < 1) { errors.Add(Error(node, "queueSize", $"must be at least 1, got {capacity}")); capacity = null; }
            }
            catch (JsonException) { errors.Add(Error(node, "queueSize", $"must be a whole number, got {size.ToJsonString()}")); }
        }
        var overflow = FlowDocument.Text(node, "queueOverflow");
        if (!string.IsNullOrEmpty(overflow) && !QueueOverflowChoices.Contains(overflow))
        {
            errors.Add(Error(node, "queueOverflow", $"must be one of {string.Join(", ", QueueOverflowChoices)}, got '{overflow}'"));
            overflow = null;
        }
        var mode = overflow switch
        {
            "drop-oldest" => QueueOverflow.DropOldest,
            "drop-newest" => QueueOverflow.DropNewest,
            _ => QueueOverflow.Wait,
        };
        return new QueueSettings(capacity, mode);
    }

    // A tab's env entries with Node-RED's types: num, bool and json become a number, a boolean and
    // an object (or array); str and the types evaluated elsewhere in Node-RED (env, jsonata, bin,
    // cred, date) stay text.
    static IReadOnlyDictionary<string, object?> ReadEnv(JsonObject tab, List<FlowError> errors)
    {
        var env = new Dictionary<string, object?>(StringComparer.Ordinal);
        if (tab["env"] is not JsonArray entries) return env;
        foreach (var entry in entries.OfType<JsonObject>())
        {
            var name = FlowDocument.Text(entry, "name");
            if (string.IsNullOrEmpty(name)) continue;
            var text = entry["value"] switch
            {
                JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
                null => "",
                var other => other.ToJsonString(),
            };
            env[name] = (FlowDocument.Text(entry, "type") ?? "str") switch
            {
                "num" when double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) => number,
                "num" => Invalid($"'{name}' is of type num, but '{text}' is not a number"),
                "bool" => text == "true",
                "json" => ParseJson(name, text),
                _ => text,
            };
        }
        return env;

        object? ParseJson(string name, string text)
        {
            try { return MessageJson.FromNode(JsonNode.Parse(text)); }
            catch (JsonException e) { return Invalid($"'{name}' is of type json, but its value is not JSON: {e.Message}"); }
        }

        string Invalid(string message)
        {
            errors.Add(Error(tab, "env", message));
            return "";
        }
    }

    static bool IsTrue(JsonObject node, string property) =>
        node[property] is JsonValue v && (v.GetValueKind() == JsonValueKind.True || (v.GetValueKind() == JsonValueKind.String && v.GetValue<string>() == "true"));

    static FlowError Error(JsonObject node, string? field, string message) =>
        new(FlowDocument.IdOf(node), FlowDocument.TypeOf(node), FlowDocument.Text(node, "name"), string.IsNullOrEmpty(field) ? null : field, message);
}

/// <summary>What the compiler produced: the nodes to run, with everything resolved.</summary>
public sealed record FlowPlan(IReadOnlyList<PlannedNode> Nodes, IReadOnlyDictionary<string, TabInfo> Tabs)
{
    public static FlowPlan Empty { get; } = new([], new Dictionary<string, TabInfo>());
}

/// <summary>A tab: label, disabled flag, env variables.</summary>
public sealed record TabInfo(string Id, string Label, bool Disabled, IReadOnlyDictionary<string, object?> Env);

/// <summary>One node of a plan: options bound and checked, wires resolved to ids.</summary>
public sealed record PlannedNode(
    string Id,
    string Type,
    string? Name,
    string? FlowId,
    NodeTypeInfo Info,
    NodeOptions Options,
    int Outputs,
    string[][] Wires,
    string[] ConfigReferences,
    QueueSettings Queue,
    bool Disabled,
    NodeFingerprint Fingerprint);

/// <summary>
/// What decides whether a node must restart on a "nodes" or "flows" deploy: everything in its
/// JSON but its position and wires, and its credentials. Written out only when a deploy compares
/// it (a full deploy never does; writing it for every node was a tenth of a 1000-node compile):
/// the node's JSON is still as deployed then, since documents are replaced, never changed.
/// </summary>
public sealed class NodeFingerprint(JsonObject node, JsonObject? credentials)
{
    string? _text;

    public string Text => _text ??= Write(node, credentials); // a race writes the same text twice

    public bool SameAs(NodeFingerprint other) => Text == other.Text;

    static string Write(JsonObject node, JsonObject? credentials)
    {
        // Written straight from the node (a deep copy per node was a tenth of a 1000-node deploy).
        var output = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(output))
        {
            writer.WriteStartObject();
            foreach (var (name, value) in node)
            {
                if (name is "x" or "y" or "wires") continue;
                writer.WritePropertyName(name);
                if (value is null) writer.WriteNullValue();
                else value.WriteTo(writer);
            }
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(output.WrittenSpan) + (credentials?.ToJsonString() ?? "");
    }
}

/// <summary>How a node's inbox behaves when full.</summary>
public enum QueueOverflow { Wait, DropOldest, DropNewest }

/// <summary>Inbox capacity (null = the runtime default) and overflow behaviour of one node.</summary>
public sealed record QueueSettings(int? Capacity, QueueOverflow Overflow);
