using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using FlowServer.Editor.Services;
using FlowServer.Nodes.Sdk;
using FlowServer.Runtime;

namespace FlowServer.Editor;

/// <summary>The editor's view of the runtime: the same flow service and events the admin API uses.</summary>
public sealed class EditorBackend(FlowService flows, FlowRuntime runtime, RuntimeEvents events) : IEditorBackend
{
    IReadOnlyList<NodeDescriptor>? _catalog;

    public IReadOnlyList<NodeDescriptor> Catalog => _catalog ??= flows.Catalog.Types.Select(t => t.Descriptor).ToList();

    public (JsonArray Flows, string Revision) GetFlows() => (flows.Document.ToJsonArray(), flows.Revision);

    public IReadOnlyList<EditorError> Validate(JsonArray document)
    {
        try
        {
            var parsed = FlowDocument.FromNode(document.DeepClone(), out var credentials, out _);
            return flows.Validate(parsed, credentials).Select(ToEditor).ToList();
        }
        catch (FlowDocumentException e) { return e.Errors.Select(ToEditor).ToList(); }
    }

    public async Task<DeployOutcome> DeployAsync(JsonArray document, string type, CancellationToken cancellationToken = default)
    {
        var deployment = type switch
        {
            "flows" => DeploymentType.Flows,
            "nodes" => DeploymentType.Nodes,
            _ => DeploymentType.Full,
        };
        try
        {
            var parsed = FlowDocument.FromNode(document.DeepClone(), out var credentials, out _);
            var rev = await flows.DeployAsync(parsed, credentials, deployment, null, cancellationToken);
            return new DeployOutcome(rev, []);
        }
        catch (FlowDocumentException e) { return new DeployOutcome(null, e.Errors.Select(ToEditor).ToList()); }
    }

    public async Task<string?> InjectAsync(string nodeId, CancellationToken cancellationToken = default)
    {
        var host = runtime.Find(nodeId);
        if (host is null) return "the node is not deployed";
        if (host.Node is not IInjectable injectable) return $"{host.NodeType} cannot be injected";
        await injectable.InjectAsync(cancellationToken);
        return null;
    }

    public IReadOnlyDictionary<string, NodeStatus> Statuses => events.Statuses;

    public async IAsyncEnumerable<EditorEvent> WatchAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var subscription = events.Subscribe(500);
        await foreach (var item in subscription.Reader.ReadAllAsync(cancellationToken))
        {
            var converted = Convert(item);
            if (converted is not null) yield return converted;
        }
    }

    static EditorEvent? Convert(RuntimeEvent item)
    {
        if (item.Topic == "debug" && item.Data is IReadOnlyDictionary<string, object?> d)
        {
            string? Text(string key) => d.TryGetValue(key, out var v) ? v?.ToString() : null;
            var time = d.TryGetValue("timestamp", out var ts) && ts is long ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : DateTimeOffset.UtcNow;
            return new DebugEvent(Text("id"), Text("z"), Text("name"), Text("topic"), Text("property") ?? "payload", Text("level") ?? "debug",
                Text("msg") ?? "", Text("format") ?? "", time);
        }
        if (item.Topic.StartsWith("status/", StringComparison.Ordinal) && item.Data is NodeStatus status)
            return new StatusEvent(item.Topic["status/".Length..], status);
        if (item.Topic.StartsWith("notification/runtime-deploy", StringComparison.Ordinal))
            return new DeployedEvent(item.Data is IReadOnlyDictionary<string, object?> n && n.TryGetValue("type", out var t) ? t?.ToString() ?? "full" : "full");
        return null;
    }

    static EditorError ToEditor(FlowError e) => new(e.NodeId, e.Type, e.Field, e.Message, e.Text);
}
