using System.Threading.Channels;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Testing;

/// <summary>
/// A test-only node type (<c>test-capture</c>) that records every message it receives, so a
/// test can await what a flow produced. Wire a flow's output to it in the snippet.
/// </summary>
[NodeType("test-capture", Category = "test", Inputs = 1, Outputs = 0, Help = "Records messages for tests.")]
public sealed class CaptureNode : FlowNode
{
    readonly Channel<FlowMessage> _received = Channel.CreateUnbounded<FlowMessage>();

    public override ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        _received.Writer.TryWrite(message);
        return ValueTask.CompletedTask;
    }

    /// <summary>The next message, or a <see cref="TimeoutException"/> naming the node.</summary>
    public async Task<FlowMessage> NextAsync(TimeSpan? timeout = null)
    {
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(5));
        try { return await _received.Reader.ReadAsync(cancel.Token); }
        catch (OperationCanceledException) { throw new TimeoutException($"no message reached capture node '{Context.NodeId}' within {(timeout ?? TimeSpan.FromSeconds(5)).TotalSeconds} s"); }
    }

    /// <summary>Waits for <paramref name="count"/> messages.</summary>
    public async Task<List<FlowMessage>> TakeAsync(int count, TimeSpan? timeout = null)
    {
        var list = new List<FlowMessage>(count);
        var until = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (list.Count < count)
        {
            var left = until - DateTime.UtcNow;
            if (left <= TimeSpan.Zero) throw new TimeoutException($"capture node '{Context.NodeId}' got {list.Count} of {count} messages");
            list.Add(await NextAsync(left));
        }
        return list;
    }

    /// <summary>True when no message arrives within the window.</summary>
    public async Task<bool> StaysEmptyAsync(TimeSpan window)
    {
        using var cancel = new CancellationTokenSource(window);
        try { await _received.Reader.WaitToReadAsync(cancel.Token); return false; }
        catch (OperationCanceledException) { return true; }
    }

    public int Pending => _received.Reader.Count;
}
