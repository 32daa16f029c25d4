using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Common;

public sealed class CompleteOptions : NodeOptions
{
    [Property("scope", Editor = PropertyEditor.NodeList, Help = "The ids of the nodes to watch")]
    public List<string>? Scope { get; set; }

    [Property("uncaught", Editor = PropertyEditor.Checkbox, Help = "Accepted for compatibility; has no effect")]
    public bool Uncaught { get; set; }

    public HashSet<string> Ids { get; private set; } = [];

    public override IEnumerable<OptionError> Validate()
    {
        Ids = (Scope ?? []).ToHashSet(StringComparer.Ordinal);
        return [];
    }
}

[NodeType("complete", Category = "common", Inputs = 0, Outputs = 1, Color = "#c0edc0", Icon = "alert",
    Help = """
    Triggers a flow when another node completes its handling of a message.

    ### Outputs
    : msg (object) : a copy of the message the watched node finished, as that node left it.

    ### Details
    Watches the listed nodes of its own tab (an empty list watches nothing, as in Node-RED).
    A node has completed a message when it finished processing it without an error; a node
    that raises an error for a message does not complete it (a catch node sees the error).

    Differences from Node-RED: nodes that hold messages and send them later (delay, trigger,
    link call) complete when they have taken the message in, not when they send it on.
    """)]
public sealed class CompleteNode : FlowNode<CompleteOptions>, ICompletionListener
{
    public bool Covers(string sourceId) => Options.Ids.Contains(sourceId);
}
