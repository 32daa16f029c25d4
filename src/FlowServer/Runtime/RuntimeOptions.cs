namespace FlowServer.Runtime;

/// <summary>Settings of the flow runtime.</summary>
public sealed class RuntimeOptions
{
    /// <summary>Inbox capacity of a node unless its <c>queueSize</c> says otherwise.</summary>
    public int DefaultQueueCapacity { get; set; } = 1000;
    /// <summary>Let nodes that implement IRunsInline run on their sender's thread when they are idle.</summary>
    public bool RunInline { get; set; } = true;
    /// <summary>The server's data directory, offered to nodes as <c>INodeContext.DataDirectory</c> for durable state.</summary>
    public string DataDirectory { get; set; } = "./data";
    /// <summary>
    /// How long a stop (shutdown, or the nodes a deploy replaces) may take to drain inboxes and
    /// stop nodes, all nodes together. Past it, messages in hand are cancelled and queued ones dropped.
    /// </summary>
    public TimeSpan StopDeadline { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>
    /// What a stop may take beyond <see cref="StopDeadline"/>, all nodes together, for cancelled
    /// nodes to finish and the rest to close their connections. The stop returns by deadline + grace.
    /// </summary>
    public TimeSpan StopGrace { get; set; } = TimeSpan.FromMilliseconds(500);
    /// <summary>How long a node's start may take before it is reported as failed.</summary>
    public TimeSpan StartDeadline { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>
    /// When set, a full compacting collection runs this long after the last deploy, giving back
    /// the memory of the replaced flows and of the deploy itself (see MemoryCompaction). Off by default.
    /// </summary>
    public TimeSpan? CompactMemoryAfterDeploy { get; set; }
}
