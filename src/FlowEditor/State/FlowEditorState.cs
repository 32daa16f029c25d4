using System.Text.Json;
using System.Text.Json.Nodes;
using FlowServer.Editor.Properties;
using FlowServer.Editor.Services;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Editor.State;

/// <summary>
/// The flows being edited in one browser session: the whole document as Node-RED flow JSON
/// (tabs, nodes, config nodes), the current tab, undo/redo history, the nodes changed since
/// the last deploy and the errors to show on nodes. The canvas is a view of this state.
/// </summary>
public sealed class FlowEditorState(IEditorBackend backend)
{
    const int HistoryLimit = 100;
    static readonly JsonSerializerOptions Compact = new() { WriteIndented = false };
    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    readonly Stack<Snapshot> _undo = new();
    readonly Stack<Snapshot> _redo = new();
    Dictionary<string, string> _deployed = new(StringComparer.Ordinal);
    IReadOnlyDictionary<string, NodeDescriptor>? _types;
    DateTime _lastMove;

    sealed record Snapshot(string Json, string? Tab);

    public List<JsonObject> Nodes { get; private set; } = [];
    public string? CurrentTab { get; private set; }
    public string Revision { get; private set; } = "";

    /// <summary>Errors per node id (server validation or a refused deploy).</summary>
    public Dictionary<string, List<EditorError>> Errors { get; private set; } = new(StringComparer.Ordinal);

    /// <summary>Raised after every change: the canvas redraws when <c>structural</c> is true.</summary>
    public event Action<bool>? Changed;

    public IReadOnlyDictionary<string, NodeDescriptor> Types => _types ??= backend.Catalog.ToDictionary(d => d.Type, StringComparer.Ordinal);

    public IEnumerable<JsonObject> Tabs => Nodes.Where(n => TypeOf(n) == "tab");

    public IEnumerable<JsonObject> NodesOf(string? tab) => Nodes.Where(n => Text(n, "z") == tab && TypeOf(n) != "tab" && !IsConfig(n));

    public IEnumerable<JsonObject> ConfigNodes(string type) => Nodes.Where(n => TypeOf(n) == type);

    public JsonObject? Find(string? id) => id is null ? null : Nodes.FirstOrDefault(n => IdOf(n) == id);

    public bool CanUndo => _undo.Count > 0;
    public bool CanRedo => _redo.Count > 0;

    public bool IsDirty => ChangedNodeIds().Any() || _deployed.Keys.Any(id => Find(id) is null);

    /// <summary>Ids of nodes added or changed since the last deploy.</summary>
    public IEnumerable<string> ChangedNodeIds() =>
        Nodes.Where(n => !_deployed.TryGetValue(IdOf(n)!, out var json) || json != n.ToJsonString(Compact)).Select(n => IdOf(n)!);

    public bool IsChanged(string id) => Find(id) is { } n && (!_deployed.TryGetValue(id, out var json) || json != n.ToJsonString(Compact));

    public bool IsConfig(JsonObject node) => TypeOf(node) is { } t && Types.TryGetValue(t, out var d) && d.IsConfig;

    public NodeDescriptor? DescriptorOf(JsonObject node) => TypeOf(node) is { } t && Types.TryGetValue(t, out var d) ? d : null;

    /// <summary>Loads the deployed flows (at start and after a deploy elsewhere).</summary>
    public void LoadDeployed()
    {
        var (flows, rev) = backend.GetFlows();
        Nodes = flows.OfType<JsonObject>().Select(n => (JsonObject)n.DeepClone()).ToList();
        Revision = rev;
        // An empty server still shows one tab to draw on; an empty tab is not a change to deploy.
        if (!Tabs.Any()) Nodes.Insert(0, NewTab("Flow 1"));
        MarkDeployed();
        _undo.Clear();
        _redo.Clear();
        CurrentTab = Tabs.Select(IdOf).FirstOrDefault();
        Revalidate();
        Changed?.Invoke(true);
    }

    void MarkDeployed() => _deployed = Nodes.ToDictionary(n => IdOf(n)!, n => n.ToJsonString(Compact), StringComparer.Ordinal);

    public void SelectTab(string id)
    {
        CurrentTab = id;
        Changed?.Invoke(true);
    }

    /// <summary>Records the state before a change so that it can be undone.</summary>
    public void Checkpoint()
    {
        _undo.Push(new Snapshot(ToJson(Nodes, false), CurrentTab));
        if (_undo.Count > HistoryLimit)
        {
            var keep = _undo.Take(HistoryLimit).Reverse().ToList();
            _undo.Clear();
            foreach (var s in keep) _undo.Push(s);
        }
        _redo.Clear();
    }

    public void Undo() => Restore(_undo, _redo);
    public void Redo() => Restore(_redo, _undo);

    void Restore(Stack<Snapshot> from, Stack<Snapshot> to)
    {
        if (from.Count == 0) return;
        to.Push(new Snapshot(ToJson(Nodes, false), CurrentTab));
        var snapshot = from.Pop();
        Nodes = JsonNode.Parse(snapshot.Json)!.AsArray().OfType<JsonObject>().Select(n => (JsonObject)n.DeepClone()).ToList();
        CurrentTab = Find(snapshot.Tab) is not null ? snapshot.Tab : Tabs.Select(IdOf).FirstOrDefault();
        AfterChange(true);
    }

    /// <summary>Call after changing nodes in place (positions, properties): revalidates and notifies.</summary>
    public void AfterChange(bool structural)
    {
        Revalidate();
        Changed?.Invoke(structural);
    }

    // ---- tabs ----
    public JsonObject AddTab()
    {
        Checkpoint();
        var tab = NewTab($"Flow {Tabs.Count() + 1}");
        Nodes.Add(tab);
        CurrentTab = IdOf(tab);
        AfterChange(true);
        return tab;
    }

    JsonObject NewTab(string label) => new() { ["id"] = NewId(), ["type"] = "tab", ["label"] = label, ["disabled"] = false, ["info"] = "" };

    public void RenameTab(string id, string label)
    {
        if (Find(id) is not { } tab || Text(tab, "label") == label) return;
        Checkpoint();
        tab["label"] = label;
        AfterChange(false);
    }

    public void ToggleTabDisabled(string id)
    {
        if (Find(id) is not { } tab) return;
        Checkpoint();
        tab["disabled"] = !(tab["disabled"]?.GetValueKind() == JsonValueKind.True);
        AfterChange(true);
    }

    public void DeleteTab(string id)
    {
        Checkpoint();
        Nodes.RemoveAll(n => IdOf(n) == id || Text(n, "z") == id);
        if (!Tabs.Any()) Nodes.Insert(0, NewTab("Flow 1"));
        if (CurrentTab == id) CurrentTab = Tabs.Select(IdOf).FirstOrDefault();
        RemoveDanglingWires();
        AfterChange(true);
    }

    // ---- nodes and wires ----
    /// <summary>A new node of a type with its descriptor's defaults, on the current tab (or none for config nodes).</summary>
    public JsonObject CreateNode(string type, double x, double y)
    {
        var descriptor = Types[type];
        var node = new JsonObject { ["id"] = NewId(), ["type"] = type };
        if (!descriptor.IsConfig) node["z"] = CurrentTab;
        node["name"] = "";
        foreach (var p in descriptor.Properties)
            if (p.Name != "name") node[p.Name] = p.Default?.DeepClone();
        if (!descriptor.IsConfig)
        {
            node["x"] = Math.Round(x);
            node["y"] = Math.Round(y);
            node["wires"] = new JsonArray(Enumerable.Range(0, descriptor.Outputs).Select(_ => (JsonNode)new JsonArray()).ToArray());
        }
        return node;
    }

    public JsonObject AddNode(string type, double x, double y)
    {
        Checkpoint();
        var node = CreateNode(type, x, y);
        Nodes.Add(node);
        AfterChange(true);
        return node;
    }

    public void RemoveNodes(IReadOnlyCollection<string> ids)
    {
        if (ids.Count == 0) return;
        Checkpoint();
        Nodes.RemoveAll(n => ids.Contains(IdOf(n)!));
        RemoveDanglingWires();
        AfterChange(true);
    }

    public void MoveNode(string id, double x, double y)
    {
        if (Find(id) is not { } node) return;
        if (Number(node, "x") == Math.Round(x) && Number(node, "y") == Math.Round(y)) return;
        // A multi-node drag moves every node at once: one undo step for all of them.
        if (DateTime.UtcNow - _lastMove > TimeSpan.FromMilliseconds(300)) Checkpoint();
        _lastMove = DateTime.UtcNow;
        node["x"] = Math.Round(x);
        node["y"] = Math.Round(y);
        // A position is never invalid: no compile of the whole document on every drag.
        Changed?.Invoke(false);
    }

    public static double Number(JsonObject node, string property) => JsonText.AsNumber(node[property]) ?? 0;

    /// <summary>Output port count: the node's outputs property when its type has one, else the descriptor's.</summary>
    public int OutputCount(JsonObject node)
    {
        var d = DescriptorOf(node);
        if (d?.OutputsProperty is { } prop && node[prop] is not null) return (int)Number(node, prop);
        if (d is null) return node["wires"] is JsonArray w ? w.Count : 0;
        return d.Outputs;
    }

    public static IEnumerable<(int Port, string Target)> WiresOf(JsonObject node)
    {
        if (node["wires"] is not JsonArray ports) yield break;
        for (var i = 0; i < ports.Count; i++)
            if (ports[i] is JsonArray targets)
                foreach (var t in targets)
                    if (t?.GetValueKind() == JsonValueKind.String) yield return (i, t.GetValue<string>());
    }

    public bool AddWire(string source, int port, string target, bool checkpoint = true)
    {
        if (Find(source) is not { } node || Find(target) is null || source == target) return false;
        if (WiresOf(node).Contains((port, target))) return false;
        if (checkpoint) Checkpoint();
        var wires = node["wires"] as JsonArray ?? new JsonArray();
        node["wires"] = wires;
        while (wires.Count <= port) wires.Add(new JsonArray());
        ((JsonArray)wires[port]!).Add(target);
        AfterChange(false);
        return true;
    }

    public void RemoveWire(string source, int port, string target)
    {
        if (Find(source)?["wires"] is not JsonArray wires || port >= wires.Count || wires[port] is not JsonArray targets) return;
        var existing = targets.FirstOrDefault(t => t?.GetValue<string>() == target);
        if (existing is null) return;
        Checkpoint();
        targets.Remove(existing);
        AfterChange(true);
    }

    void RemoveDanglingWires()
    {
        var ids = Nodes.Select(IdOf).ToHashSet();
        foreach (var n in Nodes)
            if (n["wires"] is JsonArray ports)
                foreach (var port in ports.OfType<JsonArray>())
                    foreach (var t in port.ToList())
                        if (t is null || !ids.Contains(t.GetValue<string>())) port.Remove(t);
    }

    /// <summary>Replaces a node's properties with an edited copy (from the property panel).</summary>
    public void ReplaceNode(JsonObject edited)
    {
        var index = Nodes.FindIndex(n => IdOf(n) == IdOf(edited));
        Checkpoint();
        var outputs = OutputCount(edited);
        if (edited["wires"] is JsonArray wires)
        {
            // Fewer outputs drop the wires of the removed ports.
            while (wires.Count > outputs) wires.RemoveAt(wires.Count - 1);
            while (wires.Count < outputs) wires.Add(new JsonArray());
        }
        if (index >= 0) Nodes[index] = edited;
        else Nodes.Add(edited);
        AfterChange(true);
    }

    // ---- import / export ----
    /// <summary>
    /// Adds nodes from Node-RED flow JSON (an export, a selection or a single object). Ids that
    /// already exist are renamed and the wires, config references and tab membership follow
    /// them. Nodes without a tab land on the current tab; returns the ids of the imported nodes.
    /// </summary>
    public IReadOnlyList<string> Import(string json, double offsetX = 0, double offsetY = 0)
    {
        var root = JsonNode.Parse(json) ?? throw new FormatException("the text is empty");
        var items = root switch
        {
            JsonArray array => array.OfType<JsonObject>().ToList(),
            JsonObject single when single["flows"] is JsonArray flows => flows.OfType<JsonObject>().ToList(),
            JsonObject single => [single],
            _ => throw new FormatException("expected a JSON array of nodes"),
        };
        items = items.Select(n => (JsonObject)n.DeepClone()).ToList();
        if (items.Any(n => string.IsNullOrEmpty(IdOf(n)) || string.IsNullOrEmpty(TypeOf(n))))
            throw new FormatException("every node needs an id and a type");

        var existing = Nodes.Select(n => IdOf(n)!).ToHashSet(StringComparer.Ordinal);
        var renames = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var n in items)
            if (existing.Contains(IdOf(n)!) || renames.ContainsKey(IdOf(n)!)) renames[IdOf(n)!] = NewId();
            else renames[IdOf(n)!] = IdOf(n)!;

        var importedTabs = items.Where(n => TypeOf(n) == "tab").Select(n => IdOf(n)!).ToHashSet();
        Checkpoint();
        foreach (var n in items)
        {
            n["id"] = renames[IdOf(n)!];
            if (Text(n, "z") is { } z)
            {
                if (renames.TryGetValue(z, out var nz) && importedTabs.Contains(z)) n["z"] = nz;
                else if (TypeOf(n) != "tab" && !IsConfig(n)) n["z"] = CurrentTab;
            }
            else if (TypeOf(n) != "tab" && !IsConfig(n) && n.ContainsKey("x")) n["z"] = CurrentTab;
            RenameReferences(n, renames);
            if (offsetX != 0 || offsetY != 0)
                if (n.ContainsKey("x")) { n["x"] = Number(n, "x") + offsetX; n["y"] = Number(n, "y") + offsetY; }
        }
        Nodes.AddRange(items);
        RemoveDanglingWires();
        if (items.FirstOrDefault(n => TypeOf(n) == "tab") is { } firstTab) CurrentTab = IdOf(firstTab);
        AfterChange(true);
        return items.Select(n => IdOf(n)!).ToList();
    }

    // Wires, config-node references (any string property equal to a renamed id) and node lists follow renamed ids.
    static void RenameReferences(JsonObject node, Dictionary<string, string> renames)
    {
        foreach (var (key, value) in node.ToList())
        {
            if (key is "id" or "z" or "type") continue;
            if (value is JsonValue v && v.GetValueKind() == JsonValueKind.String && renames.TryGetValue(v.GetValue<string>(), out var renamed) && renamed != v.GetValue<string>())
                node[key] = renamed;
            else if (value is JsonArray array && (key is "wires" or "scope" or "links"))
                RenameArray(array, renames);
        }
    }

    static void RenameArray(JsonArray array, Dictionary<string, string> renames)
    {
        for (var i = 0; i < array.Count; i++)
        {
            if (array[i] is JsonArray inner) RenameArray(inner, renames);
            else if (array[i] is JsonValue v && v.GetValueKind() == JsonValueKind.String && renames.TryGetValue(v.GetValue<string>(), out var renamed))
                array[i] = renamed;
        }
    }

    /// <summary>Nodes for an export: the given ids plus the config nodes they reference.</summary>
    public List<JsonObject> ExportNodes(IEnumerable<string> ids)
    {
        var picked = ids.Select(Find).OfType<JsonObject>().ToList();
        var configIds = new HashSet<string>(StringComparer.Ordinal);
        foreach (var n in picked)
            foreach (var (_, value) in n)
                if (value is JsonValue v && v.GetValueKind() == JsonValueKind.String && Find(v.GetValue<string>()) is { } target && IsConfig(target))
                    configIds.Add(IdOf(target)!);
        picked.AddRange(configIds.Where(id => picked.All(p => IdOf(p) != id)).Select(Find).OfType<JsonObject>());
        return picked;
    }

    public IEnumerable<string> TabExportIds(string tab) =>
        new[] { tab }.Concat(Nodes.Where(n => Text(n, "z") == tab).Select(n => IdOf(n)!));

    public static string ToJson(IEnumerable<JsonObject> nodes, bool indented) =>
        new JsonArray(nodes.Select(n => (JsonNode)n.DeepClone()).ToArray()).ToJsonString(indented ? Indented : Compact);

    /// <summary>
    /// Flow JSON that leaves the editor (export, download, clipboard). Credentials stay behind,
    /// as in Node-RED: they go to the server only with a deploy.
    /// </summary>
    public static string ToExportJson(IEnumerable<JsonObject> nodes, bool indented) =>
        new JsonArray(nodes.Select(n =>
        {
            var copy = (JsonObject)n.DeepClone();
            copy.Remove("credentials");
            return (JsonNode)copy;
        }).ToArray()).ToJsonString(indented ? Indented : Compact);

    public JsonArray ToDocument() => new(Nodes.Select(n => (JsonNode)n.DeepClone()).ToArray());

    // ---- validation and deploy ----
    public void Revalidate()
    {
        var errors = backend.Validate(ToDocument());
        Errors = errors.Where(e => e.NodeId is not null).GroupBy(e => e.NodeId!).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
        GeneralErrors = errors.Where(e => e.NodeId is null).ToList();
    }

    public IReadOnlyList<EditorError> GeneralErrors { get; private set; } = [];

    public IReadOnlyList<EditorError> ErrorsOf(string id) => Errors.TryGetValue(id, out var list) ? list : [];

    public async Task<DeployOutcome> DeployAsync(string type)
    {
        var outcome = await backend.DeployAsync(ToDocument(), type);
        if (outcome.Succeeded)
        {
            Revision = outcome.Revision ?? Revision;
            MarkDeployed();
            Errors = new(StringComparer.Ordinal);
            GeneralErrors = [];
        }
        else
        {
            Errors = outcome.Errors.Where(e => e.NodeId is not null).GroupBy(e => e.NodeId!).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);
            GeneralErrors = outcome.Errors.Where(e => e.NodeId is null).ToList();
        }
        Changed?.Invoke(false);
        return outcome;
    }

    public static string? IdOf(JsonObject node) => Text(node, "id");
    public static string? TypeOf(JsonObject node) => Text(node, "type");
    public static string? Text(JsonObject node, string property) =>
        node[property] is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;

    /// <summary>A Node-RED style id: 16 hex digits.</summary>
    public static string NewId() => Convert.ToHexStringLower(Guid.NewGuid().ToByteArray().AsSpan(0, 8));

    /// <summary>The label a node shows: its name, else its type's palette label.</summary>
    public string LabelOf(JsonObject node)
    {
        var name = Text(node, "name");
        if (!string.IsNullOrWhiteSpace(name)) return name;
        if (TypeOf(node) == "comment" || TypeOf(node) == "tab") return Text(node, "label") ?? TypeOf(node)!;
        return DescriptorOf(node)?.PaletteLabel ?? TypeOf(node) ?? "?";
    }
}
