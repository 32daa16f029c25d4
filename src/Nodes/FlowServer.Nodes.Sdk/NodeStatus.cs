namespace FlowServer.Nodes.Sdk;

/// <summary>
/// A node's status as the editor shows it under the node: Node-RED's
/// <c>{fill: red|green|yellow|blue|grey, shape: ring|dot, text}</c>. <see cref="Clear"/> removes it.
/// </summary>
public sealed record NodeStatus(string? Fill, string? Shape, string? Text)
{
    /// <summary>No status.</summary>
    public static readonly NodeStatus Clear = new(null, null, null);
    /// <summary>Green dot.</summary>
    public static NodeStatus Ok(string text) => new("green", "dot", text);
    /// <summary>Yellow ring.</summary>
    public static NodeStatus Pending(string text) => new("yellow", "ring", text);
    /// <summary>Red ring.</summary>
    public static NodeStatus Failed(string text) => new("red", "ring", text);
    /// <summary>Grey ring.</summary>
    public static NodeStatus Idle(string text) => new("grey", "ring", text);
}
