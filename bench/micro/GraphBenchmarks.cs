using BenchmarkDotNet.Attributes;
using FlowServer.Nodes.Sdk;
using FlowServer.Runtime;
using Microsoft.Extensions.Logging.Abstractions;

namespace FlowServer.Benchmarks;

/// <summary>
/// Messages through a deployed graph, fed at its first node as mqtt in would, until the sink has
/// them all. One operation is one input message; "Allocated" is bytes per input message.
/// </summary>
[MemoryDiagnoser]
public class GraphBenchmarks
{
    public const int Messages = 20_000;

    [Params("change-chain", "switch-change", "function", "function-json", "function-batch", "fanout")]
    public string Scenario { get; set; } = "";

    /// <summary>Quick nodes on their sender's thread (the default) or always on their own drain.</summary>
    [Params(true, false)]
    public bool Inline { get; set; }

    FlowRuntime _runtime = null!;
    SinkNode _sink = null!;
    int _outputsPerInput;

    [GlobalSetup]
    public void Setup()
    {
        var (flow, outputs) = Flows.For(Scenario);
        _outputsPerInput = outputs;
        var catalog = new NodeCatalog([typeof(FlowServer.Nodes.NodesAssembly).Assembly, typeof(SinkNode).Assembly]);
        _runtime = new FlowRuntime(new RuntimeOptions { RunInline = Inline }, new RuntimeEvents(), NullLoggerFactory.Instance);
        var document = FlowDocument.Parse(flow, out var credentials, out _);
        _runtime.DeployAsync(new FlowCompiler(catalog).Compile(document, credentials), DeploymentType.Full).GetAwaiter().GetResult();
        _sink = (SinkNode)_runtime.Find("sink")!.Node;
    }

    [GlobalCleanup]
    public void Cleanup() => _runtime.StopAsync().GetAwaiter().GetResult();

    [Benchmark(OperationsPerInvoke = Messages)]
    public async Task Messages_through_the_graph()
    {
        var done = _sink.Expect(Messages * _outputsPerInput);
        for (var i = 0; i < Messages; i++)
        {
            object payload = Scenario switch
            {
                "function-json" => $$"""{"run":1234,"seq":{{i}},"ts":1764720000000,"value":{{i % 100}}}""", // as mqtt in (utf8) hands it over
                "function-batch" => Flows.Batch,
                _ => new Dictionary<string, object?> { ["run"] = "bench", ["seq"] = (double)i, ["ts"] = 1.7e12, ["value"] = (double)(i % 100) },
            };
            await _runtime.DeliverAsync("first", FlowMessage.WithPayload(payload, "bench/in"));
        }
        await done;
    }
}

/// <summary>The flows measured, in Node-RED flow JSON; the first node is "first", the last "sink".</summary>
static class Flows
{
    /// <summary>The function-batch scenario's payload.</summary>
    public static readonly string Batch = $$"""{"line":"site1/area2/line3","ts":1764720000000,"readings":[{{string.Join(",",
        Enumerable.Range(0, 50).Select(k => $$"""{"tag":"t{{k}}","value":{{(k * 1.5).ToString(System.Globalization.CultureInfo.InvariantCulture)}},"unit":"degC","quality":"{{(k % 7 == 0 ? "uncertain" : "good")}}"}"""))}}]}""";

    public static (string Json, int OutputsPerInput) For(string scenario) => scenario switch
    {
        // Five change nodes in a row, each setting a property.
        "change-chain" => ($$"""
            [{{string.Join(",", Enumerable.Range(0, 5).Select(i => $$"""
              {"id":"{{(i == 0 ? "first" : $"c{i}")}}","type":"change","rules":[{"t":"set","p":"step{{i}}","pt":"msg","to":"{{i}}","tot":"num"}],"wires":[["{{(i == 4 ? "sink" : $"c{i + 1}")}}"]]}
              """))}},
             {"id":"sink","type":"bench-sink"}]
            """, 1),
        // The bench's switch scenario: switch on payload.value > 50, a change on each side.
        "switch-change" => ("""
            [{"id":"first","type":"switch","property":"payload.value","propertyType":"msg","rules":[{"t":"gt","v":"50","vt":"num"},{"t":"else"}],"checkall":"false","outputs":2,"wires":[["hi"],["lo"]]},
             {"id":"hi","type":"change","rules":[{"t":"set","p":"payload.level","pt":"msg","to":"high","tot":"str"}],"wires":[["sink"]]},
             {"id":"lo","type":"change","rules":[{"t":"set","p":"payload.level","pt":"msg","to":"low","tot":"str"}],"wires":[["sink"]]},
             {"id":"sink","type":"bench-sink"}]
            """, 1),
        // One function node doing the bench's arithmetic.
        "function" => ("""
            [{"id":"first","type":"function","func":"msg.payload.scaled = msg.payload.value * 1.8 + 32;\nreturn msg;","outputs":1,"wires":[["sink"]]},
             {"id":"sink","type":"bench-sink"}]
            """, 1),
        // The MQTT bench's function flow: the script parses the JSON text itself.
        "function-json" => ("""
            [{"id":"first","type":"function","func":"const p = JSON.parse(msg.payload);\np.scaled = p.value * 1.8 + 32;\nmsg.payload = p;\nreturn msg;","outputs":1,"wires":[["sink"]]},
             {"id":"sink","type":"bench-sink"}]
            """, 1),
        // A batch of 50 readings as one JSON text (as a gateway or PLC poll hands it over),
        // parsed and summed up by the script: objects with the same keys, read in a loop.
        "function-batch" => ("""
            [{"id":"first","type":"function","func":"const b = JSON.parse(msg.payload);\nlet sum = 0, good = 0;\nfor (const r of b.readings) { sum += r.value; if (r.quality === 'good') good++; }\nmsg.payload = {line: b.line, count: b.readings.length, mean: sum / b.readings.length, good};\nreturn msg;","outputs":1,"wires":[["sink"]]},
             {"id":"sink","type":"bench-sink"}]
            """, 1),
        // A junction fanning out to ten function nodes (the first gets the message, the others clones).
        "fanout" => ($$"""
            [{"id":"first","type":"junction","wires":[[{{string.Join(",", Enumerable.Range(0, 10).Select(i => $"\"f{i}\""))}}]]},
             {{string.Join(",", Enumerable.Range(0, 10).Select(i => $$"""
              {"id":"f{{i}}","type":"function","func":"msg.payload.scaled = msg.payload.value * 1.8 + 32;\nmsg.payload.branch = {{i}};\nreturn msg;","outputs":1,"wires":[["sink"]]}
              """))}},
             {"id":"sink","type":"bench-sink"}]
            """, 10),
        _ => throw new ArgumentException($"unknown scenario {scenario}"),
    };
}

/// <summary>Counts messages and completes a task when the expected number has arrived.</summary>
[NodeType("bench-sink", Category = "bench", Help = "Counts messages for benchmarks.")]
public sealed class SinkNode : FlowNode, IRunsInline
{
    long _remaining;
    TaskCompletionSource _done = new();

    public Task Expect(long count)
    {
        _done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Interlocked.Exchange(ref _remaining, count);
        return _done.Task;
    }

    public override ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        if (Interlocked.Decrement(ref _remaining) == 0) _done.TrySetResult();
        return ValueTask.CompletedTask;
    }
}
