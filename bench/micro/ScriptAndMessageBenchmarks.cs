using BenchmarkDotNet.Attributes;
using FlowServer.Nodes.Sdk;
using Jint;
using Jint.Native;

namespace FlowServer.Benchmarks;

/// <summary>What one function-node call costs in Jint alone, what cloning a message costs (fan-out does it per extra wire), and what writing a payload as JSON costs (mqtt out does it per message).</summary>
[MemoryDiagnoser]
public class ScriptAndMessageBenchmarks
{
    Engine _engine = null!;
    JsValue _handler = null!;
    FlowMessage _reading = null!;
    Dictionary<string, object?> _output = null!;

    [GlobalSetup]
    public void Setup()
    {
        _engine = new Engine(o => o.LimitRecursion(1000).TimeoutInterval(TimeSpan.FromSeconds(1)));
        _handler = _engine.Evaluate("(function (msg) { msg.payload.scaled = msg.payload.value * 1.8 + 32; return msg; })");
        _output = new() { ["run"] = 1234567.0, ["seq"] = 42.0, ["ts"] = 1764720000000.0, ["value"] = 61.0, ["scaled"] = 61 * 1.8 + 32, ["branch"] = 3.0 };
        _reading = FlowMessage.WithPayload(new Dictionary<string, object?> { ["run"] = "bench", ["seq"] = 42.0, ["ts"] = 1.7e12, ["value"] = 61.5 }, "bench/in");
    }

    /// <summary>Calling a prepared handler with a small message object built in JS (no .NET ↔ JS conversion).</summary>
    [Benchmark]
    public JsValue Jint_call()
    {
        var payload = new JsObject(_engine);
        payload.FastSetDataProperty("value", 61.5);
        payload.FastSetDataProperty("seq", 42);
        var msg = new JsObject(_engine);
        msg.FastSetDataProperty("payload", payload);
        return _engine.Invoke(_handler, JsValue.Undefined, [msg]);
    }

    /// <summary>A deep copy of a typical reading message (topic, _msgid, payload of four fields).</summary>
    [Benchmark]
    public FlowMessage Message_clone() => _reading.Clone();

    /// <summary>The fan-out flow's output payload (five whole numbers and one fraction) as UTF-8 JSON.</summary>
    [Benchmark]
    public byte[] Payload_to_json() => MessageJson.SerializeToUtf8(_output);
}
