using System.Text.Json;
using System.Text.Json.Serialization;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Common;

public sealed class CatchOptions : NodeOptions
{
    /// <summary>Node-RED writes null for "all nodes", an array of ids for "selected nodes", or "group".</summary>
    [Property("scope", Editor = PropertyEditor.NodeList, Help = "Empty for all nodes of the tab, or the ids of the nodes to watch")]
    public JsonElement? Scope { get; set; }

    [Property("uncaught", Editor = PropertyEditor.Checkbox, Label = "Ignore errors handled by other catch nodes")]
    public bool Uncaught { get; set; }

    [JsonIgnore] public HashSet<string>? Ids { get; private set; }

    public override IEnumerable<OptionError> Validate()
    {
        var errors = NodeScope.Parse(Scope, out var ids);
        Ids = ids;
        return errors;
    }
}

[NodeType("catch", Category = "common", Inputs = 0, Outputs = 1, Color = "#e49191", Icon = "alert",
    Help = """
    Catches errors thrown by nodes on the same tab.

    ### Outputs
    : error.message (string) : the error text.
    : error.source (object) : `id`, `type`, `name` of the node that raised it, and `count`.

    ### Details
    With no scope it catches every node of its tab; with a list, only those nodes. With
    *uncaught* it only takes errors no other catch node took. A message that loops through the
    same failing node more than 9 times is stopped.
    """)]
public sealed class CatchNode : FlowNode<CatchOptions>, IErrorListener
{
    public bool OnlyUncaught => Options.Uncaught;

    public bool Covers(string sourceId) => NodeScope.Covers(Options.Ids, sourceId);
}
