using System.Text.Json.Nodes;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Runtime;

/// <summary>
/// The first message and the first deploy, rehearsed off to the side while the host is being
/// built. Start-up is JIT-bound and the host is built on one thread, so this uses the other core:
/// the node catalog is read (reflection over every node type), one message goes through a small
/// flow in a runtime of its own (json → function → switch → change), and a flow holding one node
/// of every catalog type (with its default options) is parsed, compiled and hashed. The flows of
/// a start-up, their first message and the first deploy from the editor or the admin API then
/// find that code compiled. Nothing of it is kept or stored.
/// </summary>
public static class StartupWarmup
{
    /// <summary>Starts reading the catalog at once and warms the deploy path after it; returns the catalog.</summary>
    public static Task<NodeCatalog> StartEarly()
    {
        // A thread of its own, not the pool's: it keeps a core busy for a few hundred ms, and with
        // one of the pool's two threads taken the start-up's own continuations waited for the pool to grow.
        var catalog = new TaskCompletionSource<NodeCatalog>(TaskCreationOptions.RunContinuationsAsynchronously);
        new Thread(() =>
        {
            NodeCatalog read;
            try { read = NodeCatalog.CreateDefault(); }
            catch (Exception e) { catalog.SetException(e); return; }
            catalog.SetResult(read);
            var compiler = new FlowCompiler(read);
            RunMessageAsync(compiler).GetAwaiter().GetResult(); // the first message's path first: a start-up's flows need it soonest
            Run(compiler);
            TierUp(compiler);
        }) { IsBackground = true, Name = "start-up warm-up" }.Start();
        return catalog.Task;
    }

    /// <summary>
    /// Has the deploy path's hot code optimised before the first deploy. The runtime starts code
    /// at a quick first tier and optimises a method once it has been called 30 times, but it
    /// counts calls only after 100 ms in which no new code was compiled, which a start-up never
    /// gives: what <see cref="Run"/> warmed stayed at the first tier, and so did much of
    /// System.Text.Json's parsing (its generic instantiations over its own structs are not
    /// precompiled). The first 1000-node deploy ran on that code: 140-150 ms, against 80-90 ms
    /// once optimised (bench/README.md, 2026-12-06 evening). So, once compiling has been quiet
    /// for a while, <see cref="Run"/> goes again a few times, spaced out: the runtime optimises
    /// in two steps (first with call counts for profile-guided optimisation), each swapped in
    /// in the background, and only calls made after a swap count towards the next step. Costs,
    /// once, ~0.6 s of one core in the seconds after start, and 3-5 MiB (the optimised code, and
    /// the rounds' garbage until the next collection).
    /// </summary>
    public static void TierUp(FlowCompiler compiler)
    {
        // Once a process: the code is shared by every host in it (tests start many).
        if (Interlocked.Exchange(ref s_tieredUp, 1) == 1) return;
        if (WaitForQuietCompiler(TimeSpan.FromSeconds(30))) RunRounds(compiler, 6, TimeSpan.FromMilliseconds(200));
    }

    static int s_tieredUp;

    /// <summary><see cref="Run"/>, <paramref name="rounds"/> times with <paramref name="spacing"/> between; returns what failed, if anything.</summary>
    public static Exception? RunRounds(FlowCompiler compiler, int rounds, TimeSpan spacing)
    {
        for (var round = 0; round < rounds; round++)
        {
            if (round > 0) Thread.Sleep(spacing);
            if (Run(compiler) is { } failure) return failure;
        }
        return null;
    }

    // True once no method was compiled for a while (longer than the runtime's 100 ms wait before it counts calls); false after the limit.
    static bool WaitForQuietCompiler(TimeSpan limit)
    {
        var quiet = TimeSpan.FromMilliseconds(250);
        var deadline = DateTime.UtcNow + limit;
        var compiled = System.Runtime.JitInfo.GetCompiledMethodCount();
        while (DateTime.UtcNow < deadline)
        {
            Thread.Sleep(quiet);
            var now = System.Runtime.JitInfo.GetCompiledMethodCount();
            if (now == compiled) return true;
            compiled = now;
        }
        return false;
    }

    /// <summary>
    /// One message through json → function → switch → change in a runtime of its own, stopped
    /// again: the first real message otherwise pays ~200 ms of JIT (the script engine, the JSON ↔ JS
    /// conversion, delivery). Returns what failed, if anything.
    /// </summary>
    public static async Task<Exception?> RunMessageAsync(FlowCompiler compiler)
    {
        try
        {
            var document = FlowDocument.Parse(MessageFlow, out var credentials, out _);
            var options = new RuntimeOptions { DataDirectory = Path.Combine(Path.GetTempPath(), "flowserver-warmup") }; // these nodes write nothing
            await using var runtime = new FlowRuntime(options, new RuntimeEvents(), Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
            await runtime.DeployAsync(compiler.Compile(document, credentials), DeploymentType.Full);
            await runtime.DeliverAsync("warmup-json", FlowMessage.WithPayload("""{"value":42.5,"unit":"C"}""", "warmup"));
            var last = runtime.Find("warmup-change")!;
            for (var i = 0; i < 100 && last.Received == 0; i++) await Task.Delay(10);
            return last.Received == 1 ? null : new InvalidOperationException("the warm-up message did not reach the end of its flow");
        }
        catch (Exception e) { return e; }
    }

    const string MessageFlow = """
        [{"id":"warmup-tab","type":"tab","label":"warm-up"},
         {"id":"warmup-json","type":"json","z":"warmup-tab","wires":[["warmup-function"]]},
         {"id":"warmup-function","type":"function","z":"warmup-tab","outputs":1,"wires":[["warmup-switch"]],
          "func":"msg.payload.scaled = msg.payload.value * 1.8 + 32;\nreturn msg;"},
         {"id":"warmup-switch","type":"switch","z":"warmup-tab","property":"payload.value","outputs":2,
          "rules":[{"t":"gt","v":"50","vt":"num"},{"t":"else"}],"wires":[["warmup-change"],["warmup-change"]]},
         {"id":"warmup-change","type":"change","z":"warmup-tab","wires":[[]],
          "rules":[{"t":"set","p":"payload.level","pt":"msg","to":"high","tot":"str"}]}]
        """;

    /// <summary>Parses, compiles and hashes <see cref="SampleFlow"/>; returns what failed, if anything (harmless: the first deploy is just slower).</summary>
    public static Exception? Run(FlowCompiler compiler)
    {
        try
        {
            var document = FlowDocument.Parse(SampleFlow(compiler.Catalog).ToJsonString(), out var credentials, out _);
            try { compiler.Compile(document, credentials); }
            catch (FlowDocumentException) { } // required options without defaults: reported, and the binders still ran
            FlowDocument.RevisionOf(document.ToJson());
            return null;
        }
        catch (Exception e) { return e; }
    }

    /// <summary>One tab, and one node of every type in the catalog with its default options.</summary>
    public static JsonArray SampleFlow(NodeCatalog catalog)
    {
        const string tab = "warmup-tab";
        var flow = new JsonArray(new JsonObject { ["id"] = tab, ["type"] = "tab", ["label"] = "warm-up" });
        var index = 0;
        foreach (var info in catalog.Types)
        {
            var descriptor = info.Descriptor;
            var node = new JsonObject { ["id"] = $"warmup-{index++}", ["type"] = descriptor.Type };
            if (!descriptor.IsConfig)
            {
                node["z"] = tab;
                node["wires"] = new JsonArray(Enumerable.Range(0, descriptor.Outputs).Select(_ => (JsonNode)new JsonArray()).ToArray());
            }
            foreach (var property in descriptor.Properties)
                if (property.Default is { } value && !node.ContainsKey(property.Name)) node[property.Name] = value.DeepClone();
            flow.Add(node);
        }
        return flow;
    }
}
