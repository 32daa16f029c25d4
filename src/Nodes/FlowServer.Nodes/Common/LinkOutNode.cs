using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Common;

public sealed class LinkOutOptions : NodeOptions
{
    [Property("mode", Editor = PropertyEditor.Select, Choices = ["link", "return"], Help = "link: send to the listed link in nodes; return: return to the link call that sent the message")]
    public string Mode { get; set; } = "link";

    [Property("links", Editor = PropertyEditor.NodeList, Help = "The link in nodes to send to")]
    public List<string>? Links { get; set; }
}

[NodeType("link out", Category = "common", Inputs = 1, Outputs = 0, Color = "#dddddd", Icon = "link-out",
    Help = """
    Creates virtual wires between flows.

    ### Details
    In *link* mode every message goes to each `link in` node listed in *links*, on any tab
    (the first gets the message, the others copies). Listed nodes that do not run are skipped.

    In *return* mode the message goes back to the `link call` node that sent it into this
    flow (the last entry of `msg._linkSource`). A message that did not come from a link call
    is reported as an error.
    """)]
public sealed class LinkOutNode : FlowNode<LinkOutOptions>, IRunsInline
{
    public override async ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        if (Options.Mode == "return")
        {
            await ReturnAsync(message, cancellationToken);
            return;
        }
        var targets = (Options.Links ?? []).Select(Context.FindNode<LinkInNode>).OfType<LinkInNode>().ToList();
        // Copies are made before the first target can change the original.
        var copies = targets.Select((_, i) => i == 0 ? message : message.Clone()).ToList();
        for (var i = 0; i < targets.Count; i++) await targets[i].DeliverAsync(copies[i], cancellationToken);
    }

    async ValueTask ReturnAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        if (message["_linkSource"] is not List<object?> { Count: > 0 } stack || stack[^1] is not Dictionary<string, object?> entry
            || entry.GetValueOrDefault("node") is not string callerId || entry.GetValueOrDefault("id") is not string eventId)
        {
            Context.ReportError("missing return node information: the message did not come from a link call", message);
            return;
        }
        stack.RemoveAt(stack.Count - 1);
        var caller = Context.FindNode<LinkCallNode>(callerId);
        if (caller is null)
        {
            Context.ReportError($"the link call node '{callerId}' that sent this message is not running", message);
            return;
        }
        await caller.ReturnAsync(eventId, message, cancellationToken);
    }
}
