using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Common;

public sealed class CommentOptions : NodeOptions
{
    [Property("info", Editor = PropertyEditor.TextArea, Help = "Markdown shown in the info sidebar")]
    public string Info { get; set; } = "";
}

[NodeType("comment", Category = "common", Inputs = 0, Outputs = 0, Color = "#ffffff", Icon = "comment",
    Help = """
    A note on the canvas. It does nothing at run time.
    """)]
public sealed class CommentNode : FlowNode<CommentOptions>;

[NodeType("junction", Category = "common", Inputs = 1, Outputs = 1, Color = "#dddddd",
    Help = """
    A wire junction: passes every message on unchanged.
    """)]
public sealed class JunctionNode : FlowNode, IRunsInline
{
    public override ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken) =>
        Context.SendAsync(0, message, cancellationToken);
}
