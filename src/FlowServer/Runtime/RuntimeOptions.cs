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
    /// <summary>How long a node may take to drain its inbox and stop.</summary>
    public TimeSpan StopDeadline { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>How long a node's start may take before it is reported as failed.</summary>
    public TimeSpan StartDeadline { get; set; } = TimeSpan.FromSeconds(10);
}
