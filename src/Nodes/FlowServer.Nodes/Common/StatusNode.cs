using System.Text.Json;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Common;

public sealed class StatusOptions : NodeOptions
{
    /// <summary>Node-RED writes null for "all nodes", an array of ids for "selected nodes", or "group".</summary>
    [Property("scope", Editor = PropertyEditor.NodeList, Help = "Empty for all nodes of the tab, or the ids of the nodes to watch")]
    public JsonElement? Scope { get; set; }

    public HashSet<string>? Ids { get; private set; }

    public override IEnumerable<OptionError> Validate()
    {
        var errors = NodeScope.Parse(Scope, out var ids);
        Ids = ids;
        return errors;
    }
}

[NodeType("status", Category = "common", Inputs = 0, Outputs = 1, Color = "#94c1d0", Icon = "status",
    Help = """
    Reports status messages from other nodes on the same tab.

    ### Outputs
    : status.text (string) : the status text.
    : status.fill (string) : the status colour: red, green, yellow, blue or grey.
    : status.shape (string) : the status shape: ring or dot.
    : status.source (object) : `id`, `type` and `name` of the node that set the status.

    ### Details
    With no scope it reports every node of its tab; with a list, only those nodes. A status
    change is reported as it happens, without holding up the node that set it. A cleared
    status arrives with null fill, shape and text.
    """)]
public sealed class StatusNode : FlowNode<StatusOptions>, IStatusListener
{
    public bool Covers(string sourceId) => NodeScope.Covers(Options.Ids, sourceId);
}
