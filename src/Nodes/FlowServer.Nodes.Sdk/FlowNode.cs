namespace FlowServer.Nodes.Sdk;

/// <summary>
/// Base of every node type. The runtime creates one instance per node object of a deployed
/// flow, calls <see cref="Attach"/>, then <see cref="StartAsync"/>, then
/// <see cref="ReceiveAsync"/> once per message in arrival order (never concurrently), and
/// finally <see cref="StopAsync"/>.
/// </summary>
public abstract class FlowNode
{
    INodeContext? _context;

    /// <summary>The runtime services of this node: send, status, log, errors, context. Set before <see cref="StartAsync"/>.</summary>
    protected INodeContext Context => _context ?? throw new InvalidOperationException("The node is not attached to a runtime yet.");

    /// <summary>The bound options (a <see cref="NoOptions"/> when the type has none).</summary>
    public NodeOptions RawOptions { get; private set; } = new NoOptions();

    /// <summary>
    /// Called by the runtime once, right after construction, with the node's context and its
    /// validated options. Node types do not call it.
    /// </summary>
    public void Attach(INodeContext context, NodeOptions options)
    {
        _context = context;
        RawOptions = options;
        OnAttached();
    }

    /// <summary>Hook for typed option access; called at the end of <see cref="Attach"/>.</summary>
    protected virtual void OnAttached() { }

    /// <summary>
    /// Called by the runtime before the first message: open connections, start timers. An
    /// exception is reported as an error on the node (status red); the rest of the flow starts.
    /// The token is cancelled when the start takes longer than the runtime's deadline.
    /// </summary>
    public virtual Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// Called by the runtime for each message from the node's inbox, one at a time, in order.
    /// An exception becomes an error on this node, routed to the catch nodes of its flow with
    /// the message; the next message is processed as usual. The token is cancelled when the
    /// node is being stopped and its drain deadline has passed.
    /// </summary>
    public virtual ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>
    /// Called by the runtime after the inbox has drained (or the drain deadline passed): stop
    /// timers, flush, close connections. The token is cancelled when the stop's grace after its
    /// deadline is spent; the runtime then stops waiting and the task is left to finish on its
    /// own. An exception is logged and does not prevent other nodes from stopping.
    /// </summary>
    public virtual Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>A node type with a typed options class.</summary>
public abstract class FlowNode<TOptions> : FlowNode where TOptions : NodeOptions, new()
{
    /// <summary>The node's options, bound and validated at deploy.</summary>
    protected TOptions Options => (TOptions)RawOptions;
}

/// <summary>
/// A config node: a shared service (a broker connection, a database pool) that other nodes
/// reference by id. Started before its users and stopped after them. It has no wires.
/// </summary>
public abstract class ConfigNode<TOptions> : FlowNode<TOptions> where TOptions : NodeOptions, new();

/// <summary>
/// A node with figures of its own beyond the runtime's per-node counters (a buffer level, polls
/// skipped). They are served at <c>/metrics</c> as <c>flowserver_{Name}</c> with the node's labels.
/// </summary>
public interface IMetricsSource
{
    IEnumerable<NodeMetric> Metrics { get; }
}

/// <summary>One figure of a node: a Prometheus metric name (without prefix), help text, <c>counter</c> or <c>gauge</c>, and value.</summary>
public readonly record struct NodeMetric(string Name, string Help, string Type, double Value);

/// <summary>
/// Marks a node type whose <see cref="FlowNode.ReceiveAsync"/> is short and CPU-bound (or waits
/// only for backpressure, as a publish window) and that never holds a lock or semaphore of its
/// own while sending from a timer or callback. The runtime may then run it on the sender's thread
/// when its inbox is empty and it is idle, saving a thread hop per node. Order and one-at-a-time
/// delivery hold either way.
/// </summary>
public interface IRunsInline;

/// <summary>A node that can be triggered from outside, as <c>POST /inject/:id</c> does for inject nodes.</summary>
public interface IInjectable
{
    /// <summary>Called by the admin API; sends the node's message as a button press would.</summary>
    Task InjectAsync(CancellationToken cancellationToken);
}

/// <summary>
/// A node that receives errors of other nodes (catch). The runtime calls it for errors raised on
/// nodes in its scope; it decides by returning false that it does not handle the error.
/// </summary>
public interface IErrorListener
{
    /// <summary>True when this listener only takes errors no other listener took (Node-RED's <c>uncaught</c>).</summary>
    bool OnlyUncaught { get; }
    /// <summary>Whether the error of node <paramref name="sourceId"/> is in this listener's scope.</summary>
    bool Covers(string sourceId);
}

/// <summary>
/// A node that receives status changes of other nodes on its tab (status). The runtime sends
/// it <c>msg.status = {fill, shape, text, source:{id, type, name}}</c> on its output.
/// </summary>
public interface IStatusListener
{
    /// <summary>Whether status changes of node <paramref name="sourceId"/> are in scope.</summary>
    bool Covers(string sourceId);
}

/// <summary>
/// A node that learns when other nodes on its tab finished a message (complete). The runtime
/// sends it the finished message on its output after the watched node's ReceiveAsync returned
/// without error.
/// </summary>
public interface ICompletionListener
{
    /// <summary>Whether completions of node <paramref name="sourceId"/> are in scope.</summary>
    bool Covers(string sourceId);
}

/// <summary>
/// An error a node raises on purpose, with a message fit for the flow author (the runtime logs
/// it without a stack trace and routes it to catch nodes like any other error).
/// </summary>
public sealed class FlowNodeException(string message) : Exception(message);
