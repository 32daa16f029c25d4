namespace FlowServer.Runtime;

/// <summary>Settings of the flow runtime.</summary>
public sealed class RuntimeOptions
{
    /// <summary>Inbox capacity of a node unless its <c>queueSize</c> says otherwise.</summary>
    public int DefaultQueueCapacity { get; set; } = 1000;
    /// <summary>Let nodes that implement IRunsInline run on their sender's thread when they are idle.</summary>
    public bool RunInline { get; set; } = true;
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
}
