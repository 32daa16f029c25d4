using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Common;

public sealed class DebugOptions : NodeOptions
{
    [Property("active", Editor = PropertyEditor.Checkbox)] public bool Active { get; set; } = true;
    [Property("tosidebar", Editor = PropertyEditor.Checkbox, Label = "Debug window")] public bool ToSidebar { get; set; } = true;
    [Property("console", Editor = PropertyEditor.Checkbox, Label = "System console")] public bool Console { get; set; }
    [Property("tostatus", Editor = PropertyEditor.Checkbox, Label = "Node status")] public bool ToStatus { get; set; }
    [Property("complete", Help = "Property to show, or \"true\" for the whole message")] public string Complete { get; set; } = "payload";
    [Property("targetType", Choices = ["msg", "full"])] public string TargetType { get; set; } = "msg";

    public bool WholeMessage => Complete == "true" || TargetType == "full";
    public PropertyPath? Path { get; private set; }

    public override IEnumerable<OptionError> Validate()
    {
        if (WholeMessage) yield break;
        if (!PropertyPath.TryParse(string.IsNullOrEmpty(Complete) ? "payload" : Complete, out var path, out var error))
            yield return new OptionError("complete", error!);
        Path = path;
    }
}

[NodeType("debug", Category = "common", Inputs = 1, Outputs = 0, Color = "#87a980", Icon = "debug",
    Help = """
    Shows a message property, or the whole message, in the editor's debug sidebar, the server
    log, and/or the node's status.

    ### Inputs
    : payload (any) : shown by default; choose another property or the whole message.

    ### Details
    The live debug stream is served on the `/comms` socket (topic `debug`).
    """)]
public sealed class DebugNode : FlowNode<DebugOptions>, IRunsInline
{
    public override ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        if (!Options.Active) return ValueTask.CompletedTask;
        var value = Options.WholeMessage ? message.Properties : Options.Path!.Get(message);
        var property = Options.WholeMessage ? "msg" : Options.Path!.Text;
        if (Options.ToSidebar) Context.PublishDebug(new DebugEntry(message.Topic, property, value));
        if (Options.Console) Context.Log(MessageValue.ToText(value));
        if (Options.ToStatus)
        {
            var text = MessageValue.ToText(value);
            Context.SetStatus(new NodeStatus("grey", "dot", text.Length > 32 ? text[..32] + "…" : text));
        }
        return ValueTask.CompletedTask;
    }
}
