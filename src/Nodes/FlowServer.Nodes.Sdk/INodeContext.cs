using Microsoft.Extensions.Logging;

namespace FlowServer.Nodes.Sdk;

/// <summary>
/// What the runtime offers a running node. One instance per node; thread-safe, so timers and
/// connection callbacks may use it too.
/// </summary>
public interface INodeContext
{
    /// <summary>The node's id in the flow document.</summary>
    string NodeId { get; }
    /// <summary>The node's type name.</summary>
    string NodeType { get; }
    /// <summary>The node's name, when it has one.</summary>
    string? NodeName { get; }
    /// <summary>Id of the tab the node is on (null for global config nodes).</summary>
    string? FlowId { get; }
    /// <summary>Number of output ports of this node.</summary>
    int OutputCount { get; }

    /// <summary>
    /// Sends a message out of port <paramref name="port"/>: the first wire gets it, further
    /// wires get clones. Completes when every target inbox has taken it; waits while a target
    /// inbox is full (backpressure) unless that target drops. A message sent from a stopped
    /// node is dropped and counted.
    /// </summary>
    ValueTask SendAsync(int port, FlowMessage message, CancellationToken cancellationToken = default);

    /// <summary>Sets the node's status shown in the editor and seen by status nodes.</summary>
    void SetStatus(NodeStatus status);

    /// <summary>
    /// Reports an error on this node. With a message, it goes to the catch nodes of the flow
    /// (Node-RED's <c>node.error(err, msg)</c>); without one, it is only logged and shown.
    /// </summary>
    void ReportError(string text, FlowMessage? message = null, Exception? exception = null);

    /// <summary>Logs a warning attributed to this node (server log and debug stream).</summary>
    void Warn(string text);

    /// <summary>Logs information attributed to this node.</summary>
    void Log(string text);

    /// <summary>Sends an entry to the live debug stream (the editor's debug sidebar).</summary>
    void PublishDebug(DebugEntry entry);

    /// <summary>The running config node with the given id. Throws when it is missing or of another type.</summary>
    T GetConfigNode<T>(string id) where T : FlowNode;

    /// <summary>
    /// Another running node of type <typeparamref name="T"/> by id, or null (used by link nodes
    /// to reach their partners across tabs). The instance changes when that node is redeployed.
    /// </summary>
    T? FindNode<T>(string id) where T : FlowNode;

    /// <summary>This node's own context store.</summary>
    IContextStore NodeContext { get; }
    /// <summary>The context shared by the nodes of this node's tab.</summary>
    IContextStore FlowContext { get; }
    /// <summary>The context shared by all nodes.</summary>
    IContextStore GlobalContext { get; }

    /// <summary>An environment variable as text: the tab's <c>env</c> first, then the process environment.</summary>
    string? GetEnv(string name);

    /// <summary>
    /// An environment variable with its type, as Node-RED's <c>env.get</c> gives it: a tab's
    /// <c>num</c>, <c>bool</c> and <c>json</c> entries as a number, a boolean and an object or
    /// array; everything else (and the process environment) as text.
    /// </summary>
    object? GetEnvValue(string name);

    /// <summary>
    /// The server's data directory (absolute; <c>--data-dir</c>), where a node keeps durable state
    /// of its own, by convention under <c>{DataDirectory}/{node type}/{node id}</c>. Set by the host
    /// from its configuration; the directory may not exist yet, so create what you need under it.
    /// </summary>
    string DataDirectory { get; }

    /// <summary>Cancelled when the node is being stopped.</summary>
    CancellationToken Stopping { get; }

    /// <summary>A logger named after the node type.</summary>
    ILogger Logger { get; }
}

/// <summary>A context store (node, flow or global scope). Keys may be paths (<c>a.b[0]</c>).</summary>
public interface IContextStore
{
    /// <summary>The value at the key, or null.</summary>
    object? Get(string key);
    /// <summary>Sets the value at the key; null removes it.</summary>
    void Set(string key, object? value);
    /// <summary>The top-level keys.</summary>
    IReadOnlyList<string> Keys();
}

/// <summary>An entry for the live debug stream, as Node-RED's debug sidebar shows it.</summary>
public sealed record DebugEntry(string? Topic, string Property, object? Value, string Level = "debug");
