using FlowServer.Nodes.Sdk;

namespace FlowServer.Testing;

public sealed class TestFailOptions : NodeOptions
{
    [Property("text")] public string Text { get; set; } = "boom";
}

/// <summary>Test-only (<c>test-fail</c>): throws for every message whose payload is not "pass"; passes the others on.</summary>
[NodeType("test-fail", Category = "test", Help = "Throws for tests.")]
public sealed class FailNode : FlowNode<TestFailOptions>
{
    public override ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        if (message.Payload as string == "pass") return Context.SendAsync(0, message, cancellationToken);
        throw new FlowNodeException(Options.Text);
    }
}

public sealed class TestMarkOptions : NodeOptions
{
    [Property("mark", Required = true)] public string Mark { get; set; } = "";
}

/// <summary>Test-only (<c>test-mark</c>): appends its mark to <c>msg.marks</c> (an array) and passes the message on.</summary>
[NodeType("test-mark", Category = "test", Help = "Marks messages for tests.")]
public sealed class MarkNode : FlowNode<TestMarkOptions>
{
    public static int Instances;

    public MarkNode() => Interlocked.Increment(ref Instances);

    public int Seen;

    public override ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        Seen++;
        if (message["marks"] is not List<object?> marks) message["marks"] = marks = [];
        marks.Add(Options.Mark);
        return Context.SendAsync(0, message, cancellationToken);
    }
}

/// <summary>Test-only (<c>test-gate</c>): holds every message until the test opens it, so inboxes fill up.</summary>
[NodeType("test-gate", Category = "test", Help = "Holds messages for tests.")]
public sealed class GateNode : FlowNode
{
    readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Open() => _open.TrySetResult();

    public override async ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        await _open.Task.WaitAsync(cancellationToken);
        await Context.SendAsync(0, message, cancellationToken);
    }
}

/// <summary>Test-only (<c>test-broken</c>): cannot even be created, so a deploy that contains it fails in the runtime, after it compiled.</summary>
[NodeType("test-broken", Category = "test", Help = "Fails to be created, for tests.")]
public sealed class BrokenNode : FlowNode
{
    public BrokenNode() => throw new InvalidOperationException("test-broken cannot be created");
}

/// <summary>Test-only (<c>test-stuck</c>): holds every message until the test opens it and ignores cancellation, as a hung node would.</summary>
[NodeType("test-stuck", Category = "test", Help = "Hangs on messages for tests.")]
public sealed class StuckNode : FlowNode
{
    readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Open() => _open.TrySetResult();

    public override async ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        await _open.Task;
        await Context.SendAsync(0, message, CancellationToken.None);
    }
}

/// <summary>
/// Test-only (<c>test-inline</c>): a node the runtime may run on the sender's thread. It records
/// the thread it ran on and whether two messages ever overlapped in it, optionally holds every
/// message until the test opens it, and appends its mark to <c>msg.marks</c>.
/// </summary>
[NodeType("test-inline", Category = "test", Help = "Runs inline for tests.")]
public sealed class InlineNode : FlowNode<TestMarkOptions>, IRunsInline
{
    readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
    int _inside;

    /// <summary>When true, messages wait for <see cref="Open"/>.</summary>
    public bool Hold { get; set; }
    public bool Overlapped { get; private set; }
    public int LastThread { get; private set; }

    public void Open() => _open.TrySetResult();

    public override async ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        if (Interlocked.Increment(ref _inside) > 1) Overlapped = true;
        LastThread = Environment.CurrentManagedThreadId;
        if (Hold) await _open.Task.WaitAsync(cancellationToken);
        if (message["marks"] is not List<object?> marks) message["marks"] = marks = [];
        marks.Add(Options.Mark);
        Thread.SpinWait(50); // widen the window in which a second message could overlap
        Interlocked.Decrement(ref _inside);
        await Context.SendAsync(0, message, cancellationToken);
    }
}
