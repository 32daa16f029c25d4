using FlowServer.Nodes.Sdk;
using FlowServer.Testing;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Nodes;

public sealed class BatchNodeTests
{
    static readonly string[][] ToOut = [["out"]];
    static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    static object Batch(string mode = "count", int count = 3, int overlap = 0, double interval = 10, bool allowEmptySequence = false, object[]? topics = null) =>
        new { id = "b", type = "batch", name = "Batcher", mode, count, overlap, interval, allowEmptySequence, topics = topics ?? [new { topic = "" }], wires = ToOut };

    static Task<FlowTestHarness> StartBatchAsync(object batch) => StartAsync(Flow(batch, new { id = "out", type = "test-capture" }));

    static Dictionary<string, object?> Parts(FlowMessage message) => Assert.IsType<Dictionary<string, object?>>(message["parts"]);

    [Fact]
    public async Task Groups_every_count_messages_into_a_sequence()
    {
        await using var flow = await StartBatchAsync(Batch(count: 2));
        var first = FlowMessage.WithPayload(0.0);
        await flow.SendAsync("b", first);
        for (var i = 1; i < 5; i++) await flow.SendAsync("b", (double)i);
        var received = await flow.Capture("out").TakeAsync(4, Patience);

        Assert.Equal([0.0, 1.0, 2.0, 3.0], received.Select(m => (double)m.Payload!));
        Assert.Equal(first.MessageId, Parts(received[0])["id"]);
        Assert.Equal(Parts(received[0])["id"], Parts(received[1])["id"]);
        Assert.NotEqual(Parts(received[1])["id"], Parts(received[2])["id"]);
        Assert.Equal([0.0, 1.0], received.Take(2).Select(m => (double)Parts(m)["index"]!));
        Assert.All(received, m => Assert.Equal(2.0, Parts(m)["count"]));
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(200))); // 4 waits for a partner
    }

    [Fact]
    public async Task Overlap_repeats_the_last_messages_in_the_next_group()
    {
        await using var flow = await StartBatchAsync(Batch(count: 3, overlap: 1));
        for (var i = 0; i < 5; i++) await flow.SendAsync("b", (double)i);
        var received = await flow.Capture("out").TakeAsync(6, Patience);
        Assert.Equal([0.0, 1.0, 2.0, 2.0, 3.0, 4.0], received.Select(m => (double)m.Payload!));
    }

    [Fact]
    public async Task Reset_drops_the_messages_held_so_far()
    {
        await using var flow = await StartBatchAsync(Batch(count: 2));
        await flow.SendAsync("b", "dropped");
        var reset = new FlowMessage();
        reset["reset"] = true;
        await flow.SendAsync("b", reset);
        await flow.SendAsync("b", "a");
        await flow.SendAsync("b", "b");
        var received = await flow.Capture("out").TakeAsync(2, Patience);
        Assert.Equal(["a", "b"], received.Select(m => (string)m.Payload!));
    }

    [Fact]
    public async Task Interval_mode_sends_what_arrived_in_each_interval()
    {
        await using var flow = await StartBatchAsync(Batch(mode: "interval", interval: 0.3));
        await flow.SendAsync("b", "x");
        await flow.SendAsync("b", "y");
        var received = await flow.Capture("out").TakeAsync(2, Patience);
        Assert.Equal(["x", "y"], received.Select(m => (string)m.Payload!));
        Assert.Equal(2.0, Parts(received[1])["count"]);
        Assert.Equal(1.0, Parts(received[1])["index"]);
    }

    [Fact]
    public async Task Interval_mode_sends_an_empty_message_when_allowed()
    {
        await using var flow = await StartBatchAsync(Batch(mode: "interval", interval: 0.2, allowEmptySequence: true));
        var empty = await flow.NextAsync("out", Patience);
        Assert.Null(empty.Payload);
        Assert.True(empty.Properties.ContainsKey("payload"));
        Assert.Equal(1.0, Parts(empty)["count"]);
    }

    [Fact]
    public async Task Concat_mode_joins_sequences_of_the_listed_topics_in_order()
    {
        await using var flow = await StartBatchAsync(Batch(mode: "concat", topics: [new { topic = "a" }, new { topic = "b" }]));
        static FlowMessage Part(string topic, string id, int index, int count)
        {
            var m = FlowMessage.WithPayload($"{topic}{index}", topic);
            m["parts"] = new Dictionary<string, object?> { ["id"] = id, ["index"] = (double)index, ["count"] = (double)count };
            return m;
        }
        await flow.SendAsync("b", Part("b", "q", 0, 1));
        await flow.SendAsync("b", Part("a", "p", 0, 2));
        await flow.SendAsync("b", Part("other", "z", 0, 1));
        await flow.SendAsync("b", Part("a", "p", 1, 2));
        var received = await flow.Capture("out").TakeAsync(3, Patience);
        Assert.Equal(["a0", "a1", "b0"], received.Select(m => (string)m.Payload!));
        Assert.All(received, m => Assert.Equal(3.0, Parts(m)["count"]));
    }

    [Fact]
    public void Overlap_not_below_count_is_rejected()
    {
        var error = Assert.Single(Validate(Flow(Batch(count: 2, overlap: 2), new { id = "out", type = "test-capture" })));
        Assert.Equal(("b", "overlap"), (error.NodeId, error.Field));
        Assert.Contains("batch 'Batcher' (b)", error.Text);
    }

    [Fact]
    public void Zero_interval_is_rejected()
    {
        var error = Assert.Single(Validate(Flow(Batch(mode: "interval", interval: 0), new { id = "out", type = "test-capture" })));
        Assert.Equal("interval", error.Field);
    }
}
