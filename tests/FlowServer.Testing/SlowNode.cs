using FlowServer.Nodes.Sdk;

namespace FlowServer.Testing;

public sealed class TestSlowOptions : NodeOptions
{
    [Property("ms", Editor = PropertyEditor.Number, Min = 0)] public double Milliseconds { get; set; } = 1;
}

/// <summary>Test-only (<c>test-slow</c>): waits <c>ms</c> milliseconds per message, then passes it on, so the inboxes before it fill up.</summary>
[NodeType("test-slow", Category = "test", Help = "Slows messages down for tests.")]
public sealed class SlowNode : FlowNode<TestSlowOptions>
{
    public override async ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        await Task.Delay(TimeSpan.FromMilliseconds(Options.Milliseconds), cancellationToken);
        await Context.SendAsync(0, message, cancellationToken);
    }
}
