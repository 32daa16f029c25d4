using FlowServer.Nodes.Sdk;
using FlowServer.Runtime;
using FlowServer.Testing;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Runtime;

public sealed class RuntimeTests
{
    [Fact]
    public async Task Messages_follow_wires_in_order()
    {
        await using var flow = await StartAsync(Flow(
            new { id = "a", type = "test-mark", mark = "A", wires = new[] { new[] { "b" } } },
            new { id = "b", type = "test-mark", mark = "B", wires = new[] { new[] { "out" } } },
            new { id = "out", type = "test-capture" }));

        for (var i = 0; i < 100; i++) await flow.SendAsync("a", (double)i);
        var received = await flow.Capture("out").TakeAsync(100);

        Assert.Equal(Enumerable.Range(0, 100).Select(i => (double)i), received.Select(m => (double)m.Payload!));
        Assert.All(received, m => Assert.Equal(new List<object?> { "A", "B" }, m["marks"]));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task A_burst_of_deploys_is_followed_by_one_memory_compaction_once_they_settled()
    {
        var options = new RuntimeOptions { CompactMemoryAfterDeploy = TimeSpan.FromSeconds(1) };
        await using var flow = await StartAsync(Flow(new { id = "a", type = "test-capture" }), options);
        for (var i = 0; i < 3; i++) await flow.DeployAsync(Flow(new { id = $"a{i}", type = "test-capture" }));
        Assert.Equal(0, flow.Runtime.MemoryCompactions); // every deploy pushed it back

        var fullCollections = GC.CollectionCount(GC.MaxGeneration);
        for (var i = 0; i < 100 && flow.Runtime.MemoryCompactions == 0; i++) await Task.Delay(50);
        Assert.Equal(1, flow.Runtime.MemoryCompactions);
        Assert.True(GC.CollectionCount(GC.MaxGeneration) > fullCollections);
        await Task.Delay(1500);
        Assert.Equal(1, flow.Runtime.MemoryCompactions); // none without a deploy
    }

    [Fact]
    public async Task First_wire_gets_the_message_and_further_wires_get_clones()
    {
        await using var flow = await StartAsync(Flow(
            new { id = "src", type = "junction", wires = new[] { new[] { "m1", "m2" } } },
            new { id = "m1", type = "test-mark", mark = "one", wires = new[] { new[] { "out1" } } },
            new { id = "m2", type = "test-mark", mark = "two", wires = new[] { new[] { "out2" } } },
            new { id = "out1", type = "test-capture" },
            new { id = "out2", type = "test-capture" }));

        var original = FlowMessage.WithPayload(new Dictionary<string, object?> { ["v"] = 1.0 });
        await flow.SendAsync("src", original);
        var one = await flow.NextAsync("out1");
        var two = await flow.NextAsync("out2");

        Assert.Same(original, one);
        Assert.NotSame(original, two);
        Assert.NotSame(one.Payload, two.Payload);
        Assert.Equal(new List<object?> { "one" }, one["marks"]);
        Assert.Equal(new List<object?> { "two" }, two["marks"]);
        Assert.Equal(one.MessageId, two.MessageId);
    }

    [Fact]
    public async Task An_error_goes_to_the_catch_node_of_its_tab_with_its_source()
    {
        await using var flow = await StartAsync(Flow(
            new { id = "bad", type = "test-fail", name = "Breaker", text = "it broke", wires = new[] { new[] { "after" } } },
            new { id = "after", type = "test-capture" },
            new { id = "catcher", type = "catch", scope = (string[]?)null, wires = new[] { new[] { "caught" } } },
            new { id = "caught", type = "test-capture" }));

        await flow.SendAsync("bad", "boom", "t/1");
        await flow.SendAsync("bad", "pass");
        var caught = await flow.NextAsync("caught");
        var passed = await flow.NextAsync("after");

        var error = Assert.IsType<Dictionary<string, object?>>(caught["error"]);
        Assert.Equal("it broke", error["message"]);
        var source = Assert.IsType<Dictionary<string, object?>>(error["source"]);
        Assert.Equal("bad", source["id"]);
        Assert.Equal("test-fail", source["type"]);
        Assert.Equal("Breaker", source["name"]);
        Assert.Equal("boom", caught.Payload);
        Assert.Equal("t/1", caught.Topic);
        Assert.Equal("pass", passed.Payload); // the node kept working after its error
        Assert.Equal(1, flow.Runtime.Find("bad")!.Errors);
    }

    [Fact]
    public async Task Catch_with_a_scope_only_sees_its_nodes_and_uncaught_takes_the_rest()
    {
        await using var flow = await StartAsync(Flow(
            new { id = "f1", type = "test-fail", text = "one" },
            new { id = "f2", type = "test-fail", text = "two" },
            new { id = "scoped", type = "catch", scope = new[] { "f1" }, wires = new[] { new[] { "c1" } } },
            new { id = "rest", type = "catch", uncaught = true, wires = new[] { new[] { "c2" } } },
            new { id = "c1", type = "test-capture" },
            new { id = "c2", type = "test-capture" }));

        await flow.SendAsync("f1", "x");
        await flow.SendAsync("f2", "y");

        Assert.Equal("one", ((Dictionary<string, object?>)(await flow.NextAsync("c1"))["error"]!)["message"]);
        Assert.Equal("two", ((Dictionary<string, object?>)(await flow.NextAsync("c2"))["error"]!)["message"]);
        Assert.True(await flow.Capture("c1").StaysEmptyAsync(TimeSpan.FromMilliseconds(200)));
        Assert.True(await flow.Capture("c2").StaysEmptyAsync(TimeSpan.FromMilliseconds(10)));
    }

    [Fact]
    public async Task Catch_on_another_tab_does_not_see_the_error()
    {
        var json = $$"""
        [{"id":"t1","type":"tab"},{"id":"t2","type":"tab"},
         {"id":"bad","type":"test-fail","z":"t1","wires":[]},
         {"id":"c","type":"catch","z":"t2","wires":[["out"]]},
         {"id":"out","type":"test-capture","z":"t2"}]
        """;
        await using var flow = await StartAsync(json);
        await flow.SendAsync("bad", "x");
        await flow.WaitForErrorAsync("boom");
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(200)));
    }

    [Fact]
    public async Task A_full_inbox_makes_the_sender_wait_and_nothing_is_lost()
    {
        await using var flow = await StartAsync(Flow(
            new { id = "gate", type = "test-gate", queueSize = 5, wires = new[] { new[] { "out" } } },
            new { id = "out", type = "test-capture" }));

        var host = flow.Runtime.Find("gate")!;
        // One message is held by the node, five wait in its inbox; the seventh send must wait.
        for (var i = 0; i < 6; i++) await flow.SendAsync("gate", (double)i);
        await WaitUntil(() => host.InboxDepth == 5);
        var blocked = flow.SendAsync("gate", 6.0).AsTask();
        await Task.Delay(200);
        Assert.False(blocked.IsCompleted);

        ((GateNode)host.Node).Open();
        await blocked;
        var received = await flow.Capture("out").TakeAsync(7);
        Assert.Equal(Enumerable.Range(0, 7).Select(i => (double)i), received.Select(m => (double)m.Payload!));
        Assert.Equal(0, host.Dropped);
    }

    [Theory]
    [InlineData("drop-oldest", new double[] { 0, 3, 4, 5, 6, 7 })]
    [InlineData("drop-newest", new double[] { 0, 1, 2, 3, 4, 5 })]
    public async Task A_dropping_node_counts_what_it_drops(string overflow, double[] expected)
    {
        await using var flow = await StartAsync(Flow(
            new { id = "gate", type = "test-gate", queueSize = 5, queueOverflow = overflow, wires = new[] { new[] { "out" } } },
            new { id = "out", type = "test-capture" }));
        var host = flow.Runtime.Find("gate")!;

        await flow.SendAsync("gate", 0.0);
        await WaitUntil(() => host.Received == 1); // message 0 is held by the node
        for (var i = 1; i < 8; i++) await flow.SendAsync("gate", (double)i); // never waits
        Assert.Equal(2, host.Dropped);

        ((GateNode)host.Node).Open();
        var received = await flow.Capture("out").TakeAsync(6);
        Assert.Equal(expected, received.Select(m => (double)m.Payload!));
    }

    [Fact]
    public async Task Disabled_nodes_and_tabs_do_not_run()
    {
        var json = """
        [{"id":"t1","type":"tab"},{"id":"t2","type":"tab","disabled":true},
         {"id":"a","type":"test-mark","mark":"A","z":"t1","wires":[["off","out"]]},
         {"id":"off","type":"test-mark","mark":"OFF","z":"t1","d":true,"wires":[["out"]]},
         {"id":"out","type":"test-capture","z":"t1"},
         {"id":"other","type":"test-mark","mark":"X","z":"t2","wires":[]}]
        """;
        await using var flow = await StartAsync(json);
        Assert.Null(flow.Runtime.Find("off"));
        Assert.Null(flow.Runtime.Find("other"));
        await flow.SendAsync("a", 1.0);
        var message = await flow.NextAsync("out");
        Assert.Equal(new List<object?> { "A" }, message["marks"]);
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(100)));
    }

    [Fact]
    public async Task Nodes_deploy_keeps_unchanged_nodes_and_their_state()
    {
        const string template = """
        [{"id":"t1","type":"tab"},{"id":"t2","type":"tab"},
         {"id":"keep","type":"test-mark","mark":"K","z":"t1","x":10,"y":10,"wires":[["out"]]},
         {"id":"out","type":"test-capture","z":"t1"},
         {"id":"change","type":"test-mark","mark":"MARK","z":"t2","wires":[]}]
        """;
        await using var flow = await StartAsync(template.Replace("MARK", "v1"));
        var keep = flow.Runtime.Find("keep")!;
        var change = flow.Runtime.Find("change")!;
        flow.Runtime.Find("keep")!.NodeContext.Set("count", 5.0);

        // Moved on the canvas (x/y) and the other tab edited: only "change" restarts.
        var report = await flow.DeployAsync(template.Replace("MARK", "v2").Replace("\"x\":10", "\"x\":99"), DeploymentType.Nodes);

        Assert.Same(keep, flow.Runtime.Find("keep"));
        Assert.NotSame(change, flow.Runtime.Find("change"));
        Assert.Equal(1, report.Started);
        Assert.Equal(1, report.Stopped);
        Assert.Equal(5.0, flow.Runtime.Find("keep")!.NodeContext.Get("count"));

        var full = await flow.DeployAsync(template.Replace("MARK", "v2"), DeploymentType.Full);
        Assert.NotSame(keep, flow.Runtime.Find("keep"));
        Assert.Equal(3, full.Started);
    }

    // What a nodes deploy compares is written out when it compares it, from the deployed JSON and
    // credentials: a change of credentials alone restarts the node, and an unchanged deploy after
    // that restarts nothing.
    [Fact]
    public async Task Nodes_deploy_restarts_a_node_whose_credentials_alone_changed_and_nothing_when_nothing_changed()
    {
        const string template = """
        [{"id":"t1","type":"tab"},
         {"id":"db","type":"postgreSQLConfig","host":"127.0.0.1","database":"plant","credentials":{"user":"plc","password":"PASSWORD"}},
         {"id":"keep","type":"test-mark","mark":"K","z":"t1","wires":[]}]
        """;
        await using var flow = await StartAsync(template.Replace("PASSWORD", "one"));
        var db = flow.Runtime.Find("db");
        var keep = flow.Runtime.Find("keep");

        var changed = await flow.DeployAsync(template.Replace("PASSWORD", "two"), DeploymentType.Nodes);
        Assert.Equal(1, changed.Started);
        Assert.NotSame(db, flow.Runtime.Find("db"));
        Assert.Same(keep, flow.Runtime.Find("keep"));

        db = flow.Runtime.Find("db");
        var unchanged = await flow.DeployAsync(template.Replace("PASSWORD", "two"), DeploymentType.Nodes);
        Assert.Equal(0, unchanged.Started);
        Assert.Same(db, flow.Runtime.Find("db"));
    }

    [Fact]
    public async Task Rewired_node_keeps_running_and_sends_to_its_new_target()
    {
        const string template = """
        [{"id":"t1","type":"tab"},
         {"id":"src","type":"junction","z":"t1","wires":[["TARGET"]]},
         {"id":"a","type":"test-capture","z":"t1"},
         {"id":"b","type":"test-capture","z":"t1"}]
        """;
        await using var flow = await StartAsync(template.Replace("TARGET", "a"));
        var src = flow.Runtime.Find("src");
        await flow.DeployAsync(template.Replace("TARGET", "b"), DeploymentType.Nodes);
        Assert.Same(src, flow.Runtime.Find("src"));
        await flow.SendAsync("src", "hello");
        Assert.Equal("hello", (await flow.NextAsync("b")).Payload);
        Assert.True(await flow.Capture("a").StaysEmptyAsync(TimeSpan.FromMilliseconds(100)));
    }

    [Fact]
    public async Task Flows_deploy_restarts_every_node_of_a_changed_tab_only()
    {
        const string template = """
        [{"id":"t1","type":"tab"},{"id":"t2","type":"tab"},
         {"id":"a1","type":"test-mark","mark":"MARK","z":"t1","wires":[]},
         {"id":"a2","type":"test-mark","mark":"same","z":"t1","wires":[]},
         {"id":"b1","type":"test-mark","mark":"same","z":"t2","wires":[]}]
        """;
        await using var flow = await StartAsync(template.Replace("MARK", "v1"));
        var a2 = flow.Runtime.Find("a2");
        var b1 = flow.Runtime.Find("b1");
        await flow.DeployAsync(template.Replace("MARK", "v2"), DeploymentType.Flows);
        Assert.NotSame(a2, flow.Runtime.Find("a2"));
        Assert.Same(b1, flow.Runtime.Find("b1"));
    }

    [Fact]
    public async Task Stop_drains_queued_messages_before_the_deadline()
    {
        await using var flow = await StartAsync(Flow(
            new { id = "a", type = "test-mark", mark = "A", wires = new[] { new[] { "out" } } },
            new { id = "out", type = "test-capture" }));
        var capture = flow.Capture("out");
        for (var i = 0; i < 500; i++) await flow.SendAsync("a", (double)i);
        await flow.Runtime.StopAsync();
        Assert.Equal(500, capture.Pending);
    }

    [Fact]
    public async Task Stop_gives_up_on_a_held_node_at_the_deadline_and_counts_what_it_left()
    {
        var options = new RuntimeOptions { StopDeadline = TimeSpan.FromMilliseconds(300) };
        await using var flow = await StartAsync(Flow(
            new { id = "gate", type = "test-gate", queueSize = 5, wires = new[] { new[] { "out" } } },
            new { id = "out", type = "test-capture" }), options);
        var host = flow.Runtime.Find("gate")!;
        var capture = flow.Capture("out");
        for (var i = 0; i < 6; i++) await flow.SendAsync("gate", (double)i); // one in hand, five queued
        await WaitUntil(() => host.InboxDepth == 5);

        var stop = System.Diagnostics.Stopwatch.StartNew();
        await flow.Runtime.StopAsync();
        stop.Stop();

        Assert.InRange(stop.Elapsed, TimeSpan.FromMilliseconds(250), options.StopDeadline + options.StopGrace + TimeSpan.FromSeconds(1));
        Assert.Equal(6, host.Dropped); // the cancelled one and the five that waited
        Assert.Equal(0, capture.Pending);
    }

    [Fact]
    public async Task Hung_nodes_cannot_stretch_a_stop_beyond_its_deadline_and_grace()
    {
        // Before the grace was shared, every hung node added its own second.
        var options = new RuntimeOptions { StopDeadline = TimeSpan.FromMilliseconds(300), StopGrace = TimeSpan.FromMilliseconds(300) };
        var ids = Enumerable.Range(1, 4).Select(i => $"stuck{i}").ToList();
        await using var flow = await StartAsync(Flow(ids.Select(id => (object)new { id, type = "test-stuck", wires = new[] { new[] { "out" } } })
            .Append(new { id = "out", type = "test-capture" }).ToArray()), options);
        foreach (var id in ids)
            for (var i = 0; i < 3; i++) await flow.SendAsync(id, (double)i); // one in hand, two queued
        await WaitUntil(() => ids.All(id => flow.Runtime.Find(id)!.InboxDepth == 2));
        var hosts = ids.Select(id => flow.Runtime.Find(id)!).ToList();

        var stop = System.Diagnostics.Stopwatch.StartNew();
        await flow.Runtime.StopAsync();
        stop.Stop();

        Assert.InRange(stop.Elapsed, TimeSpan.FromMilliseconds(250), options.StopDeadline + options.StopGrace + TimeSpan.FromSeconds(1));
        Assert.All(hosts, host => Assert.Equal(2, host.Dropped));
        foreach (var host in hosts) ((StuckNode)host.Node).Open();
    }

    [Fact]
    public async Task An_idle_inline_node_runs_on_the_senders_thread_within_the_send()
    {
        await using var flow = await StartAsync(InlineToCapture);
        var node = Held(flow);

        // The send only completes once the node has run: it runs inside it.
        var send = flow.SendAsync("a", 1.0).AsTask();
        Assert.False(send.IsCompleted);
        node.Open();
        await send;
        Assert.Equal(new List<object?> { "A" }, (await flow.NextAsync("out"))["marks"]);

        var thread = Environment.CurrentManagedThreadId;
        await flow.SendAsync("a", 2.0);
        Assert.Equal(thread, node.LastThread);
    }

    [Fact]
    public async Task Junctions_and_link_out_pass_a_message_on_within_the_send()
    {
        // junction → link out → link in → inline node "a": every hop runs on the sender's
        // thread, so the send completes only once "a" has run (a junction used to wake a pool
        // thread for each message: bench/README.md).
        await using var flow = await StartAsync(Flow(
            new { id = "j", type = "junction", wires = new[] { new[] { "lo" } } },
            new { id = "lo", type = "link out", mode = "link", links = new[] { "li" } },
            new { id = "li", type = "link in", wires = new[] { new[] { "a" } } },
            new { id = "a", type = "test-inline", mark = "A", wires = new[] { new[] { "out" } } },
            new { id = "out", type = "test-capture" }));
        var node = Held(flow);

        var send = flow.SendAsync("j", 1.0).AsTask();
        Assert.False(send.IsCompleted);
        node.Open();
        await send;
        Assert.Equal(1.0, (await flow.NextAsync("out")).Payload);

        var thread = Environment.CurrentManagedThreadId;
        await flow.SendAsync("j", 2.0);
        Assert.Equal(thread, node.LastThread);
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task A_nodes_processing_time_leaves_out_the_nodes_it_ran_inline()
    {
        // change → function (60 ms of script) → capture, all inline on the sender's thread: the
        // function's 60 ms count once, for the function, not again for the change node around it.
        await using var flow = await StartAsync(Flow(
            new { id = "chg", type = "change", rules = new[] { new { t = "set", p = "topic", pt = "msg", to = "t", tot = "str" } }, wires = new[] { new[] { "fn" } } },
            new { id = "fn", type = "function", func = "var t = Date.now(); while (Date.now() - t < 60) {} return msg;", outputs = 1, wires = new[] { new[] { "out" } } },
            new { id = "out", type = "test-capture" }));

        for (var i = 0; i < 3; i++) await flow.SendAsync("chg", (double)i);
        await flow.Capture("out").TakeAsync(3);

        var change = flow.Runtime.Find("chg")!.ProcessingTime;
        var function = flow.Runtime.Find("fn")!.ProcessingTime;
        Assert.True(function >= TimeSpan.FromMilliseconds(170), $"function {function.TotalMilliseconds} ms");
        Assert.True(change < TimeSpan.FromMilliseconds(60), $"change {change.TotalMilliseconds} ms, function {function.TotalMilliseconds} ms");
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Without_inline_delivery_the_send_returns_before_the_node_runs()
    {
        await using var flow = await StartAsync(InlineToCapture, new RuntimeOptions { RunInline = false });
        var node = Held(flow);

        await flow.SendAsync("a", 1.0); // queued: the node runs on its own drain
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(100)));
        node.Open();
        Assert.Equal(1.0, (await flow.NextAsync("out")).Payload);
    }

    [Fact]
    public async Task Concurrent_senders_to_inline_nodes_keep_order_and_one_message_at_a_time()
    {
        await using var flow = await StartAsync(Flow(
            new { id = "a", type = "test-inline", mark = "A", wires = new[] { new[] { "b" } } },
            new { id = "b", type = "test-inline", mark = "B", wires = new[] { new[] { "out" } } },
            new { id = "out", type = "test-capture" }));
        const int senders = 4, each = 2000;

        await Task.WhenAll(Enumerable.Range(0, senders).Select(s => Task.Run(async () =>
        {
            for (var i = 0; i < each; i++) await flow.SendAsync("a", s * 100_000.0 + i);
        })));
        var received = await flow.Capture("out").TakeAsync(senders * each);

        Assert.False(((InlineNode)flow.Runtime.Find("a")!.Node).Overlapped);
        Assert.False(((InlineNode)flow.Runtime.Find("b")!.Node).Overlapped);
        for (var s = 0; s < senders; s++)
        {
            var mine = received.Select(m => (double)m.Payload!).Where(v => (int)(v / 100_000) == s).ToList();
            Assert.Equal(Enumerable.Range(0, each).Select(i => s * 100_000.0 + i), mine);
        }
        Assert.All(received, m => Assert.Equal(new List<object?> { "A", "B" }, m["marks"]));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task A_long_chain_of_inline_nodes_delivers_everything_without_exhausting_the_stack()
    {
        const int length = 300;
        var nodes = Enumerable.Range(0, length).Select(i => (object)new
        {
            id = $"n{i}", type = "test-inline", mark = $"{i}", wires = new[] { new[] { i + 1 < length ? $"n{i + 1}" : "out" } },
        }).Append(new { id = "out", type = "test-capture" }).ToArray();
        await using var flow = await StartAsync(Flow(nodes));

        for (var i = 0; i < 50; i++) await flow.SendAsync("n0", (double)i);
        var received = await flow.Capture("out").TakeAsync(50);

        Assert.Equal(Enumerable.Range(0, 50).Select(i => (double)i), received.Select(m => (double)m.Payload!));
        Assert.All(received, m => Assert.Equal(length, ((List<object?>)m["marks"]!).Count));
    }

    [Fact]
    public async Task A_quick_node_that_drops_on_overflow_never_holds_up_its_sender()
    {
        await using var flow = await StartAsync(Flow(
            new { id = "a", type = "test-inline", mark = "A", queueSize = 2, queueOverflow = "drop-oldest", wires = new[] { new[] { "out" } } },
            new { id = "out", type = "test-capture" }));
        var node = Held(flow);
        var host = flow.Runtime.Find("a")!;

        // Inline, the first send would run the held node and wait with it; queued, it returns.
        var first = flow.SendAsync("a", 0.0).AsTask();
        Assert.True(await Task.WhenAny(first, Task.Delay(TimeSpan.FromSeconds(5))) == first, "the sender waited for the node");
        await WaitUntil(() => host.Received == 1);
        for (var i = 1; i <= 5; i++) await flow.SendAsync("a", (double)i);
        Assert.Equal(3, host.Dropped); // capacity 2: 1 and 2 made room for 4 and 5

        node.Open();
        var received = await flow.Capture("out").TakeAsync(3);
        Assert.Equal(new[] { 0.0, 4.0, 5.0 }, received.Select(m => (double)m.Payload!));
    }

    [Fact]
    public async Task Stop_waits_for_a_message_that_an_inline_node_is_processing()
    {
        await using var flow = await StartAsync(InlineToCapture);
        var node = Held(flow);
        var capture = flow.Capture("out");
        var send = Task.Run(async () => await flow.SendAsync("a", 1.0));
        await WaitUntil(() => flow.Runtime.Find("a")!.Received == 1);

        var stop = flow.Runtime.StopAsync();
        await Task.Delay(100);
        Assert.False(stop.IsCompleted); // still processing: stop waits for it
        node.Open();
        await stop;
        await send;
        Assert.Equal(1, capture.Pending);
    }

    // The shape the inline tests share: inline node "a" (mark A) wired to a capture "out".
    static readonly string InlineToCapture = Flow(
        new { id = "a", type = "test-inline", mark = "A", wires = new[] { new[] { "out" } } },
        new { id = "out", type = "test-capture" });

    // Node "a", made to hold each message until the test opens it.
    static InlineNode Held(FlowTestHarness flow)
    {
        var node = (InlineNode)flow.Runtime.Find("a")!.Node;
        node.Hold = true;
        return node;
    }

    static Task WaitUntil(Func<bool> condition) => Poll.UntilAsync(condition, TimeSpan.FromSeconds(5));
}
