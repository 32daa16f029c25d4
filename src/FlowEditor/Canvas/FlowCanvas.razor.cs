using System.Text.Json;
using System.Text.Json.Nodes;
using Blazor.Diagrams;
using Blazor.Diagrams.Core.Anchors;
using Blazor.Diagrams.Core.Behaviors;
using Blazor.Diagrams.Core.Geometry;
using Blazor.Diagrams.Core.Models;
using Blazor.Diagrams.Core.Models.Base;
using Blazor.Diagrams.Options;
using FlowServer.Editor.Services;
using FlowServer.Editor.State;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Web;
using Microsoft.JSInterop;
using KeyboardEventArgs = Blazor.Diagrams.Core.Events.KeyboardEventArgs;

namespace FlowServer.Editor.Canvas;

/// <summary>
/// The canvas: a view of the current tab drawn with Z.Blazor.Diagrams. Structural changes in the
/// state redraw it; moves and new links made on the canvas are written back to the state.
/// </summary>
public partial class FlowCanvas : IDisposable
{
    [Inject] FlowEditorState State { get; set; } = null!;
    [Inject] EditorSession Session { get; set; } = null!;
    [Inject] IEditorBackend Backend { get; set; } = null!;
    [Inject] IJSRuntime Js { get; set; } = null!;

    /// <summary>Opens the property panel of a node (double-click).</summary>
    [Parameter] public EventCallback<string> OnEdit { get; set; }

    BlazorDiagram Diagram { get; set; } = null!;
    readonly Dictionary<string, FlowNodeModel> _models = new(StringComparer.Ordinal);
    bool _rebuilding;
    FlowSelectionBehavior _selection = null!;

    string? BoxStyle => _selection.Box is var (a, b)
        ? FormattableString.Invariant($"left:{Math.Min(a.X, b.X) - Diagram.Container!.Left}px;top:{Math.Min(a.Y, b.Y) - Diagram.Container.Top}px;width:{Math.Abs(a.X - b.X)}px;height:{Math.Abs(a.Y - b.Y)}px")
        : null;

    protected override void OnInitialized()
    {
        var options = new BlazorDiagramOptions
        {
            AllowMultiSelection = true,
            GridSize = 10,
            Links = { RequireTarget = true, EnableSnapping = true, SnappingRadius = 20, DefaultColor = "#999", DefaultSelectedColor = "#ff7f0e" },
            Zoom = { Enabled = true, Minimum = 0.3, Maximum = 2 },
        };
        Diagram = new BlazorDiagram(options);
        Diagram.RegisterComponent<FlowNodeModel, FlowNodeWidget>();
        // Keys are handled here so that deletes, copy and paste go through the state (and undo).
        Diagram.UnregisterBehavior<KeyboardShortcutsBehavior>();
        Diagram.UnregisterBehavior<SelectionBehavior>();
        _selection = new FlowSelectionBehavior(Diagram);
        _selection.BoxChanged += () => InvokeAsync(StateHasChanged);
        Diagram.RegisterBehavior(_selection);
        // Dragging moves the selected nodes, so it must run after the click has selected one:
        // registered before the selection, a drag on an unselected node did not move it.
        Diagram.UnregisterBehavior<DragMovablesBehavior>();
        Diagram.RegisterBehavior(new DragMovablesBehavior(Diagram));
        Diagram.KeyDown += OnKeyDown;
        Diagram.Links.Added += OnLinkAdded;
        Diagram.SelectionChanged += OnSelectionChanged;
        // The library reports any two clicks within 500 ms as a double click, even on two
        // different nodes; a node's editor opens only for two clicks on the same node.
        Diagram.PointerClick += OnClick;
        State.Changed += OnStateChanged;
        Session.StatusChanged += OnStatusChanged;
        Session.SelectionRequested += ShowSelection;
        Rebuild();
    }

    void OnStateChanged(bool structural)
    {
        if (structural) Rebuild();
        else RefreshModels();
    }

    /// <summary>
    /// Redraws the current tab from the state, keeping the selection. A node that is still there
    /// with the same shape keeps its model (and renderer): replacing every model on each change
    /// let the diagram's resize observers call renderers that were already disposed.
    /// </summary>
    public void Rebuild()
    {
        _rebuilding = true;
        var selected = Session.Selected.ToHashSet();
        try
        {
            Diagram.Batch(() =>
            {
                Diagram.Links.Clear();
                var nodes = State.NodesOf(State.CurrentTab).ToDictionary(n => FlowEditorState.IdOf(n)!, StringComparer.Ordinal);
                foreach (var (id, stale) in _models.Where(m => !nodes.TryGetValue(m.Key, out var node) || !HasShapeOf(m.Value, node)).ToList())
                {
                    Diagram.Nodes.Remove(stale);
                    _models.Remove(id);
                }
                foreach (var (id, node) in nodes)
                {
                    if (_models.TryGetValue(id, out var model))
                    {
                        var (x, y) = TopLeft(node, model.Width, model.BoxHeight);
                        if (model.Position.X != x || model.Position.Y != y) model.SetPosition(x, y);
                        Update(model, node);
                        model.Refresh();
                        continue;
                    }
                    model = CreateModel(node);
                    _models[id] = model;
                    Diagram.Nodes.Add(model);
                }
                foreach (var node in nodes.Values)
                {
                    var source = _models[FlowEditorState.IdOf(node)!];
                    foreach (var (port, target) in FlowEditorState.WiresOf(node))
                        if (port < source.Outputs.Count && _models.TryGetValue(target, out var t) && t.Input is not null)
                            Diagram.Links.Add(new LinkModel(source.Outputs[port], t.Input));
                }
                foreach (var (id, model) in _models)
                {
                    if (selected.Contains(id) && !model.Selected) Diagram.SelectModel(model, false);
                    else if (!selected.Contains(id) && model.Selected) Diagram.UnselectModel(model);
                }
            });
        }
        finally { _rebuilding = false; }
        Session.Select(_models.Keys.Where(selected.Contains));
    }

    // Ports and size are fixed when a model is made: a node whose type, ports or label changed gets a new one.
    bool HasShapeOf(FlowNodeModel model, JsonObject node) =>
        model.Type == FlowEditorState.TypeOf(node) && model.Outputs.Count == State.OutputCount(node)
        && (model.Input is not null) == ((State.DescriptorOf(node)?.Inputs ?? 1) > 0) && model.Label == State.LabelOf(node);

    static (double X, double Y) TopLeft(JsonObject node, double width, double height) =>
        (FlowEditorState.Number(node, "x") - width / 2, FlowEditorState.Number(node, "y") - height / 2);

    void ShowSelection()
    {
        _rebuilding = true;
        try
        {
            Diagram.UnselectAll();
            foreach (var id in Session.Selected)
                if (_models.TryGetValue(id, out var model)) Diagram.SelectModel(model, false);
        }
        finally { _rebuilding = false; }
    }

    FlowNodeModel CreateModel(JsonObject node)
    {
        var descriptor = State.DescriptorOf(node);
        var label = State.LabelOf(node);
        var width = FlowNodeModel.WidthFor(label);
        var outputs = State.OutputCount(node);
        var height = Math.Max(FlowNodeModel.Height, outputs * FlowNodeModel.PortSpacing + 6);
        var (x, y) = TopLeft(node, width, height);
        var model = new FlowNodeModel(FlowEditorState.IdOf(node)!, FlowEditorState.TypeOf(node)!, descriptor, label,
            descriptor?.Inputs ?? 1, outputs, new Point(x, y))
        {
            Command = OnNodeCommand,
        };
        Update(model, node);
        model.Moved += OnMoved;
        return model;
    }

    void Update(FlowNodeModel model, JsonObject node)
    {
        var errors = State.ErrorsOf(model.NodeId);
        model.Invalid = errors.Count > 0 || model.Descriptor is null;
        model.ErrorText = model.Descriptor is null ? $"unknown node type '{model.Type}'" : string.Join("\n", errors.Select(e => e.Field is null ? e.Message : $"{e.Field}: {e.Message}"));
        model.ChangedSinceDeploy = State.IsChanged(model.NodeId);
        model.Disabled = node["d"]?.GetValueKind() == JsonValueKind.True;
        model.DebugActive = model.Type == "debug" ? node["active"]?.GetValueKind() != JsonValueKind.False : null;
        model.Status = Session.Statuses.GetValueOrDefault(model.NodeId);
        model.Label = State.LabelOf(node);
    }

    void RefreshModels()
    {
        foreach (var model in _models.Values)
            if (State.Find(model.NodeId) is { } node)
            {
                Update(model, node);
                model.Refresh();
            }
    }

    void OnStatusChanged(string id)
    {
        if (!_models.TryGetValue(id, out var model)) return;
        model.Status = Session.Statuses.GetValueOrDefault(id);
        model.Refresh();
    }

    void OnMoved(MovableModel moved)
    {
        if (_rebuilding || moved is not FlowNodeModel model) return;
        State.MoveNode(model.NodeId, model.Position.X + model.Width / 2, model.Position.Y + model.BoxHeight / 2);
    }

    void OnLinkAdded(BaseLinkModel link)
    {
        if (_rebuilding) return;
        link.TargetAttached += OnLinkAttached;
    }

    // A link drawn on the canvas becomes a wire; drawn from an input to an output, it is turned round.
    void OnLinkAttached(BaseLinkModel link)
    {
        if (link.Source.Model is not FlowPortModel a || link.Target.Model is not FlowPortModel b) return;
        var (output, input) = a.IsInput ? (b, a) : (a, b);
        if (output.IsInput || !input.IsInput || !State.AddWire(output.Node.NodeId, output.Index, input.Node.NodeId) || a.IsInput)
            _ = InvokeAsync(Rebuild);
    }

    void OnSelectionChanged(SelectableModel changed)
    {
        if (_rebuilding) return;
        Session.Select(Diagram.Nodes.OfType<FlowNodeModel>().Where(n => n.Selected).Select(n => n.NodeId));
    }

    void OnClick(Model? model, Blazor.Diagrams.Core.Events.PointerEventArgs args) => _lastClicked = model;

    // A double click is the browser's, timed where the user clicked: timing the two clicks by
    // when they reached the server missed double clicks whenever the server was busy. Events of a
    // circuit arrive in order, so the diagram has seen both clicks (and which node they hit) first.
    Task OnDoubleClickAsync(Microsoft.AspNetCore.Components.Web.MouseEventArgs args) =>
        _lastClicked is FlowNodeModel node && !args.ShiftKey && !args.CtrlKey ? OnEdit.InvokeAsync(node.NodeId) : Task.CompletedTask;

    Model? _lastClicked;

    async void OnNodeCommand(FlowNodeModel model, string command)
    {
        try
        {
            if (command == "inject")
            {
                if (State.IsChanged(model.NodeId)) { Session.Notify("Deploy the flow before injecting this node", true); return; }
                var error = await Backend.InjectAsync(model.NodeId);
                Session.Notify(error is null ? $"Injected: {model.Label}" : $"Inject failed: {error}", error is not null);
            }
            else if (command == "toggle" && State.Find(model.NodeId) is { } node)
            {
                State.Checkpoint();
                node["active"] = node["active"]?.GetValueKind() == JsonValueKind.False;
                State.AfterChange(false);
            }
        }
        catch (Exception e) { Session.Notify(e.Message, true); }
    }

    async Task OnDropAsync(DragEventArgs e)
    {
        if (Session.DraggedType is not { } type || !State.Types.ContainsKey(type)) return;
        Session.DraggedType = null;
        var point = Diagram.GetRelativeMousePoint(e.ClientX, e.ClientY);
        var descriptor = State.Types[type];
        if (descriptor.IsConfig) return;
        var node = State.AddNode(type, point.X + FlowNodeModel.WidthFor(descriptor.PaletteLabel) / 2, point.Y);
        Session.Select([FlowEditorState.IdOf(node)!]);
        Rebuild();
        await Task.CompletedTask;
    }

    void OnKeyDown(KeyboardEventArgs e)
    {
        var ctrl = e.CtrlKey;
        switch (e.Key)
        {
            case "Delete" or "Backspace": DeleteSelection(); break;
            case "z" or "Z" when ctrl && !e.ShiftKey: State.Undo(); break;
            case "y" or "Y" when ctrl: State.Redo(); break;
            case "z" or "Z" when ctrl && e.ShiftKey: State.Redo(); break;
            case "c" or "C" when ctrl: _ = CopyAsync(false); break;
            case "x" or "X" when ctrl: _ = CopyAsync(true); break;
            case "v" or "V" when ctrl: _ = PasteAsync(); break;
            case "a" or "A" when ctrl: SelectAll(); break;
        }
    }

    public void DeleteSelection()
    {
        var nodes = Diagram.Nodes.OfType<FlowNodeModel>().Where(n => n.Selected).Select(n => n.NodeId).ToList();
        var links = Diagram.Links.Where(l => l.Selected).ToList();
        if (nodes.Count > 0)
        {
            State.RemoveNodes(nodes);
            return;
        }
        foreach (var link in links)
            if (link.Source.Model is FlowPortModel s && link.Target.Model is FlowPortModel t)
                State.RemoveWire(s.Node.NodeId, s.Index, t.Node.NodeId);
    }

    public async Task CopyAsync(bool cut)
    {
        var ids = Session.Selected.ToList();
        if (ids.Count == 0) return;
        Session.Clipboard = ids.Select(State.Find).OfType<JsonObject>().Select(n => (JsonObject)n.DeepClone()).ToList();
        // The system clipboard gets Node-RED JSON too, so a selection pastes into Node-RED or another tab.
        await Js.InvokeAsync<bool>("flowEditor.copyText", FlowEditorState.ToExportJson(State.ExportNodes(ids), false));
        Session.Notify($"Copied {ids.Count} node{(ids.Count == 1 ? "" : "s")}");
        if (cut) State.RemoveNodes(ids);
    }

    /// <summary>
    /// Pastes flow JSON from the system clipboard (copied here, in another tab or in Node-RED),
    /// or this session's own clipboard when the browser does not allow reading it.
    /// </summary>
    public async Task PasteAsync()
    {
        string? text = null;
        try { text = await Js.InvokeAsync<string?>("flowEditor.readText"); }
        catch (JSException) { }
        var nodes = ParseNodes(text) ?? Session.Clipboard.Select(n => (JsonObject)n.DeepClone()).ToList();
        if (nodes.Count == 0) return;
        // Pasted nodes land on the current tab, shifted so they do not hide the originals.
        foreach (var n in nodes) n.Remove("z");
        // A config node that is already here is shared, not duplicated.
        nodes.RemoveAll(n => State.IsConfig(n) && State.Find(FlowEditorState.IdOf(n)) is not null);
        var ids = State.Import(FlowEditorState.ToJson(nodes.Where(n => FlowEditorState.TypeOf(n) != "tab"), false), 20, 20);
        Session.Select(ids);
        Rebuild();
    }

    static List<JsonObject>? ParseNodes(string? text)
    {
        if (string.IsNullOrWhiteSpace(text) || text.TrimStart()[0] is not ('[' or '{')) return null;
        try
        {
            var root = JsonNode.Parse(text);
            var nodes = (root as JsonArray ?? [root]).OfType<JsonObject>().ToList();
            return nodes.Count > 0 && nodes.All(n => FlowEditorState.IdOf(n) is not null && FlowEditorState.TypeOf(n) is not null) ? nodes : null;
        }
        catch (JsonException) { return null; }
    }

    void SelectAll()
    {
        foreach (var m in _models.Values) Diagram.SelectModel(m, false);
        Session.Select(_models.Keys);
    }

    public void Dispose()
    {
        State.Changed -= OnStateChanged;
        Session.StatusChanged -= OnStatusChanged;
        Session.SelectionRequested -= ShowSelection;
    }
}
