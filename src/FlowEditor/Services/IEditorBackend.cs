using System.Text.Json.Nodes;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Editor.Services;

/// <summary>
/// What the editor needs from the runtime. The host implements it over its flow service and
/// live events, so the editor never touches runtime internals and can be tested with a fake.
/// </summary>
public interface IEditorBackend
{
    /// <summary>Every node type the catalog knows, as descriptor data.</summary>
    IReadOnlyList<NodeDescriptor> Catalog { get; }

    /// <summary>The deployed flows (Node-RED flow JSON, credentials stripped) and their revision.</summary>
    (JsonArray Flows, string Revision) GetFlows();

    /// <summary>Compiles a flow document without deploying it; empty when valid.</summary>
    IReadOnlyList<EditorError> Validate(JsonArray flows);

    /// <summary>Deploys: <paramref name="type"/> is full, flows or nodes. Errors leave the running flows untouched.</summary>
    Task<DeployOutcome> DeployAsync(JsonArray flows, string type, CancellationToken cancellationToken = default);

    /// <summary>Triggers a running inject node; returns an error text or null.</summary>
    Task<string?> InjectAsync(string nodeId, CancellationToken cancellationToken = default);

    /// <summary>The last status of every node that has one.</summary>
    IReadOnlyDictionary<string, NodeStatus> Statuses { get; }

    /// <summary>Live debug messages, status changes and deploy notices until cancelled.</summary>
    IAsyncEnumerable<EditorEvent> WatchAsync(CancellationToken cancellationToken);
}

/// <summary>A validation error that names the node and field it belongs to.</summary>
public sealed record EditorError(string? NodeId, string? Type, string? Field, string Message, string Text);

/// <summary>The result of a deploy: the new revision, or the errors that refused it.</summary>
public sealed record DeployOutcome(string? Revision, IReadOnlyList<EditorError> Errors)
{
    public bool Succeeded => Errors.Count == 0;
}

/// <summary>A live event from the runtime.</summary>
public abstract record EditorEvent;

/// <summary>A message shown by a debug node (or a node's warning/error).</summary>
public sealed record DebugEvent(string? NodeId, string? FlowId, string? Name, string? Topic, string Property, string Level,
    string Message, string Format, DateTimeOffset Time) : EditorEvent;

/// <summary>A node's status changed; <see cref="NodeStatus.Clear"/> removes it.</summary>
public sealed record StatusEvent(string NodeId, NodeStatus Status) : EditorEvent;

/// <summary>Flows were deployed (by this editor, another one or the API).</summary>
public sealed record DeployedEvent(string Type) : EditorEvent;
