using FlowServer.Nodes.Sdk;
using FlowServer.Testing;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Nodes;

public sealed class CompleteNodeTests
{
    [Fact]
    public async Task Fires_with_a_copy_of_the_message_when_a_watched_node_finished_it()
    {
        await using var flow = await StartAsync(Flow(
            new { id = "m", type = "test-mark", mark = "done", wires = new[] { new[] { "out" } } },
            new { id = "other", type = "test-mark", mark = "x", wires = new[] { Array.Empty<string>() } },
            new { id = "out", type = "test-capture" },
            new { id = "cmp", type = "complete", scope = new[] { "m" }, uncaught = false, wires = new[] { new[] { "completed" } } },
            new { id = "completed", type = "test-capture" }));

        await flow.SendAsync("other", "not watched");
        await flow.SendAsync("m", "watched", "t");
        var completed = await flow.NextAsync("completed");
        var sent = await flow.NextAsync("out");
        Assert.Equal("watched", completed.Payload);
        Assert.Equal("t", completed.Topic);
        Assert.Equal(sent.MessageId, completed.MessageId);
        Assert.NotSame(sent, completed);
        Assert.True(await flow.Capture("completed").StaysEmptyAsync(TimeSpan.FromMilliseconds(150)));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task A_message_that_failed_does_not_complete()
    {
        await using var flow = await StartAsync(Flow(
            new { id = "f", type = "test-fail", text = "no", wires = new[] { Array.Empty<string>() } },
            new { id = "cmp", type = "complete", scope = new[] { "f" }, wires = new[] { new[] { "completed" } } },
            new { id = "completed", type = "test-capture" }));

        await flow.SendAsync("f", "boom");
        await flow.SendAsync("f", "pass");
        Assert.Equal("pass", (await flow.NextAsync("completed")).Payload);
        Assert.True(await flow.Capture("completed").StaysEmptyAsync(TimeSpan.FromMilliseconds(150)));
    }

    [Fact]
    public async Task Without_a_scope_nothing_is_watched_as_in_node_red()
    {
        await using var flow = await StartAsync(Flow(
            new { id = "m", type = "test-mark", mark = "x", wires = new[] { Array.Empty<string>() } },
            new { id = "cmp", type = "complete", scope = (string[]?)null, wires = new[] { new[] { "completed" } } },
            new { id = "completed", type = "test-capture" }));
        await flow.SendAsync("m", "y");
        Assert.True(await flow.Capture("completed").StaysEmptyAsync(TimeSpan.FromMilliseconds(200)));
    }
}
