using System.Collections.Concurrent;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Common;

public sealed class LinkInOptions : NodeOptions
{
    [Property("links", Editor = PropertyEditor.NodeList, Help = "The link out nodes wired to this node (kept for the editor; the link out side decides)")]
    public List<string>? Links { get; set; }
}

[NodeType("link in", Category = "common", Inputs = 0, Outputs = 1, Color = "#dddddd", Icon = "link-in",
    Help = """
    Creates virtual wires between flows.

    ### Details
    Messages sent by a `link out` node (in *link* mode) that lists this node, or by a
    `link call` node that targets it, leave this node's output. The nodes may be on any tab.
    A `link call` can find this node by its id or, with a dynamic target, by its name.
    """)]
public sealed class LinkInNode : FlowNode<LinkInOptions>
{
    // Running link in nodes, so that a dynamic link call can find one by name.
    static readonly ConcurrentDictionary<LinkInNode, byte> Running = new();

    /// <summary>This node's id.</summary>
    public string Id => Context.NodeId;

    /// <summary>This node's name, when it has one.</summary>
    public string? Name => Context.NodeName;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        Running[this] = 0;
        return Task.CompletedTask;
    }

    public override Task StopAsync(CancellationToken cancellationToken)
    {
        Running.TryRemove(this, out _);
        return Task.CompletedTask;
    }

    /// <summary>Called by link out and link call nodes: sends the message out of this node.</summary>
    public ValueTask DeliverAsync(FlowMessage message, CancellationToken cancellationToken) => Context.SendAsync(0, message, cancellationToken);

    /// <summary>
    /// The running link in nodes named <paramref name="name"/> that <paramref name="context"/>'s
    /// runtime runs (the registry is process-wide; FindNode tells this runtime's nodes apart).
    /// </summary>
    public static List<LinkInNode> FindByName(INodeContext context, string name) =>
        Running.Keys.Where(node => node.Name == name && ReferenceEquals(context.FindNode<LinkInNode>(node.Id), node)).ToList();
}
