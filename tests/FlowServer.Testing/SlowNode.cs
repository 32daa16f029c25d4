using FlowServer.Nodes.Sdk;

namespace FlowServer.Testing;

public sealed class TestSlowOptions : NodeOptions
{
    [Property("ms", Editor = PropertyEditor.Number, Min = 0)] public double Milliseconds { get; set; } = 1;
    // Timer resolution makes tiny delays cost several ms each: pausing every nth message keeps tests fast.
    [Property("every", Editor = PropertyEditor.Number, Min = 1)] public int Every { get; set; } = 1;
}

/// <summary>Test-only (<c>test-slow</c>): waits <c>ms</c> milliseconds every <c>every</c> messages, then passes them on, so the inboxes before it fill up.</summary>
[NodeType("test-slow", Category = "test", Help = "Slows messages down for tests.")]
public sealed class SlowNode : FlowNode<TestSlowOptions>
{
    long _seen;

    public override async ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        if (++_seen % Options.Every == 0) await Task.Delay(TimeSpan.FromMilliseconds(Options.Milliseconds), cancellationToken);
        await Context.SendAsync(0, message, cancellationToken);
    }
}
