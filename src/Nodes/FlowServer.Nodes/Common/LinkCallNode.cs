using System.Collections.Concurrent;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Common;

public sealed class LinkCallOptions : NodeOptions
{
    [Property("links", Editor = PropertyEditor.NodeList, Help = "The link in node to call (static target)")]
    public List<string>? Links { get; set; }

    [Property("linkType", Editor = PropertyEditor.Select, Choices = ["static", "dynamic"], Help = "static: the listed node; dynamic: the link in whose id or name is in msg.target")]
    public string LinkType { get; set; } = "static";

    [Property("timeout", Editor = PropertyEditor.Number, Min = 0, Help = "Seconds to wait for the return before reporting a timeout error (0 = 30)")]
    public double Timeout { get; set; } = 30;

    public override IEnumerable<OptionError> Validate()
    {
        if (LinkType == "static" && (Links is null || Links.Count == 0))
            yield return new OptionError("links", "a static link call needs a target link in node");
    }
}

[NodeType("link call", Category = "common", Inputs = 1, Outputs = 1, Color = "#dddddd", Icon = "link-call",
    Help = """
    Calls a flow that starts with a `link in` node and passes on the response.

    ### Inputs
    : target (string) : with a dynamic link type, the id or the name of the `link in` node to call.

    ### Outputs
    : msg (object) : the message that a `link out` node in *return* mode sent back.

    ### Details
    The called flow must end in a `link out` node set to *return*. The node pushes
    `{id, node}` onto `msg._linkSource` to find its way back (and removes it on return), so
    calls can nest. When no response arrives within *timeout* seconds, an error is reported
    with the original message, so a catch node can handle it. Several calls may be under way
    at once.
    """)]
public sealed class LinkCallNode : FlowNode<LinkCallOptions>
{
    readonly ConcurrentDictionary<string, PendingCall> _pending = new(StringComparer.Ordinal);

    sealed record PendingCall(FlowMessage Original, CancellationTokenSource Timer);

    public override async ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        var target = FindTarget(message, out var problem);
        if (target is null)
        {
            Context.ReportError(problem!, message);
            return;
        }

        var eventId = FlowMessage.NewMessageId();
        var timer = CancellationTokenSource.CreateLinkedTokenSource(Context.Stopping);
        _pending[eventId] = new PendingCall(message.Clone(), timer);
        var timeout = TimeSpan.FromSeconds(Options.Timeout > 0 ? Options.Timeout : 30);
        _ = WatchTimeoutAsync(eventId, timeout, timer.Token);

        if (message["_linkSource"] is not List<object?> stack) message["_linkSource"] = stack = [];
        stack.Add(new Dictionary<string, object?> { ["id"] = eventId, ["node"] = Context.NodeId });
        await target.DeliverAsync(message, cancellationToken);
    }

    LinkInNode? FindTarget(FlowMessage message, out string? problem)
    {
        problem = null;
        if (Options.LinkType != "dynamic")
        {
            var id = Options.Links![0];
            var node = Context.FindNode<LinkInNode>(id);
            if (node is null) problem = $"target link in node '{id}' is not running";
            return node;
        }
        if (message["target"] is not string { Length: > 0 } target)
        {
            problem = "msg.target must name the link in node to call (its id or name)";
            return null;
        }
        if (Context.FindNode<LinkInNode>(target) is { } byId) return byId;
        var named = LinkInNode.FindByName(Context, target);
        if (named.Count == 1) return named[0];
        problem = named.Count == 0
            ? $"target link in node '{target}' not found"
            : $"{named.Count} link in nodes are named '{target}': call one by id";
        return null;
    }

    async Task WatchTimeoutAsync(string eventId, TimeSpan timeout, CancellationToken token)
    {
        try { await Task.Delay(timeout, token); }
        catch (OperationCanceledException) { return; }
        if (_pending.TryRemove(eventId, out var call))
        {
            call.Timer.Dispose();
            Context.ReportError($"timeout: no response within {MessageValue.FormatNumber(timeout.TotalSeconds)} s", call.Original);
        }
    }

    /// <summary>Called by a link out node in return mode with the response to call <paramref name="eventId"/>.</summary>
    public async ValueTask ReturnAsync(string eventId, FlowMessage message, CancellationToken cancellationToken)
    {
        if (!_pending.TryRemove(eventId, out var call))
        {
            Context.Warn("a response arrived after its call timed out; it was dropped");
            return;
        }
        call.Timer.Cancel();
        call.Timer.Dispose();
        if (message["_linkSource"] is List<object?> { Count: 0 }) message.Properties.Remove("_linkSource");
        await Context.SendAsync(0, message, cancellationToken);
    }

    public override Task StopAsync(CancellationToken cancellationToken)
    {
        foreach (var call in _pending.Values) call.Timer.Cancel();
        _pending.Clear();
        return Task.CompletedTask;
    }
}
