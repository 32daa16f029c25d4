using FlowServer.Nodes.Sdk;
using FlowServer.Testing;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Nodes;

/// <summary>Catch scopes as Node-RED routes errors: all, selected, uncaught; and the loop guard.</summary>
public sealed class CatchNodeTests
{
    static Dictionary<string, object?> ErrorOf(FlowMessage message) => Assert.IsType<Dictionary<string, object?>>(message["error"]);

    [Fact]
    public async Task Every_catch_node_with_scope_all_gets_the_error_with_the_message()
    {
        await using var flow = await StartAsync(Flow(
            new { id = "bad", type = "test-fail", name = "Breaker", text = "it broke" },
            new { id = "all1", type = "catch", scope = (string[]?)null, uncaught = false, wires = new[] { new[] { "c1" } } },
            new { id = "all2", type = "catch", scope = (string[]?)null, uncaught = false, wires = new[] { new[] { "c2" } } },
            new { id = "c1", type = "test-capture" },
            new { id = "c2", type = "test-capture" }));
        await flow.SendAsync("bad", "boom", "t/1");

        foreach (var capture in new[] { "c1", "c2" })
        {
            var caught = await flow.NextAsync(capture);
            Assert.Equal(("boom", "t/1"), (caught.Payload, caught.Topic));
            var error = ErrorOf(caught);
            Assert.Equal("it broke", error["message"]);
            Assert.Equal("Breaker", Assert.IsType<Dictionary<string, object?>>(error["source"])["name"]);
        }
    }

    [Fact]
    public async Task A_selected_scope_only_sees_its_nodes()
    {
        await using var flow = await StartAsync(Flow(
            new { id = "f1", type = "test-fail", text = "one" },
            new { id = "f2", type = "test-fail", text = "two" },
            new { id = "scoped", type = "catch", scope = new[] { "f2" }, uncaught = false, wires = new[] { new[] { "c" } } },
            new { id = "c", type = "test-capture" }));
        await flow.SendAsync("f1", "x");
        await flow.SendAsync("f2", "y");
        Assert.Equal("two", ErrorOf(await flow.NextAsync("c"))["message"]);
        Assert.True(await flow.Capture("c").StaysEmptyAsync(TimeSpan.FromMilliseconds(200)));
    }

    [Fact]
    public async Task Uncaught_only_gets_errors_no_other_catch_node_took()
    {
        await using var flow = await StartAsync(Flow(
            new { id = "watched", type = "test-fail", text = "watched error" },
            new { id = "unwatched", type = "test-fail", text = "unwatched error" },
            new { id = "scoped", type = "catch", scope = new[] { "watched" }, uncaught = false, wires = new[] { new[] { "c-scoped" } } },
            new { id = "rest", type = "catch", scope = (string[]?)null, uncaught = true, wires = new[] { new[] { "c-rest" } } },
            new { id = "c-scoped", type = "test-capture" },
            new { id = "c-rest", type = "test-capture" }));
        await flow.SendAsync("watched", "a");
        await flow.SendAsync("unwatched", "b");

        Assert.Equal("watched error", ErrorOf(await flow.NextAsync("c-scoped"))["message"]);
        Assert.Equal("unwatched error", ErrorOf(await flow.NextAsync("c-rest"))["message"]);
        Assert.True(await flow.Capture("c-rest").StaysEmptyAsync(TimeSpan.FromMilliseconds(200)), "uncaught also got an error another catch node took");
        Assert.True(await flow.Capture("c-scoped").StaysEmptyAsync(TimeSpan.FromMilliseconds(10)));
    }

    [Fact]
    public async Task Uncaught_with_a_selected_scope_only_gets_uncaught_errors_of_its_nodes()
    {
        await using var flow = await StartAsync(Flow(
            new { id = "mine", type = "test-fail", text = "mine" },
            new { id = "other", type = "test-fail", text = "other" },
            new { id = "rest", type = "catch", scope = new[] { "mine" }, uncaught = true, wires = new[] { new[] { "c" } } },
            new { id = "c", type = "test-capture" }));
        await flow.SendAsync("other", "a");
        await flow.SendAsync("mine", "b");
        Assert.Equal("mine", ErrorOf(await flow.NextAsync("c"))["message"]);
        Assert.True(await flow.Capture("c").StaysEmptyAsync(TimeSpan.FromMilliseconds(200)), "an uncaught catch node took an error from outside its scope");
    }

    [Fact]
    public async Task An_error_without_a_message_reaches_no_catch_node()
    {
        await using var flow = await StartAsync(Flow(
            new { id = "fn", type = "function", func = "node.error('only logged'); node.error('with message', msg); return null;", wires = new[] { Array.Empty<string>() } },
            new { id = "all", type = "catch", scope = (string[]?)null, wires = new[] { new[] { "c" } } },
            new { id = "c", type = "test-capture" }));
        await flow.SendAsync("fn", "m");
        Assert.Equal("with message", ErrorOf(await flow.NextAsync("c"))["message"]);
        Assert.True(await flow.Capture("c").StaysEmptyAsync(TimeSpan.FromMilliseconds(200)));
        Assert.Contains(flow.Errors, e => e.Contains("only logged", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_message_looping_through_a_failing_node_and_its_catch_is_stopped()
    {
        // The catch feeds the failing node again: Node-RED counts the hops in msg.error.source.count and stops the loop.
        await using var flow = await StartAsync(Flow(
            new { id = "bad", type = "test-fail", text = "again" },
            new { id = "all", type = "catch", scope = (string[]?)null, wires = new[] { new[] { "bad", "c" } } },
            new { id = "c", type = "test-capture" }));
        await flow.SendAsync("bad", "loop");
        var counts = new List<object?>();
        while (await flow.Capture("c").StaysEmptyAsync(TimeSpan.FromMilliseconds(500)) is false)
            counts.Add(Assert.IsType<Dictionary<string, object?>>(ErrorOf(await flow.NextAsync("c"))["source"])["count"]);
        Assert.InRange(counts.Count, 9, 11);
        Assert.Equal(Enumerable.Range(1, counts.Count).Select(i => (object?)(double)i), counts);
    }
}
