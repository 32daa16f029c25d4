using FlowServer.Nodes.Sdk;
using FlowServer.Runtime;
using FlowServer.Testing;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Nodes;

public sealed class FunctionNodeTests
{
    static Task<FlowTestHarness> StartFunctionAsync(string func, int outputs = 1, object? extra = null, double timeout = 0)
    {
        var wires = Enumerable.Range(0, outputs).Select(i => new[] { $"out{i}" }).ToArray();
        var nodes = new List<object>
        {
            new { id = "fn", type = "function", name = "Fn", func, outputs, timeout, wires },
            new { id = "caught", type = "test-capture" },
            new { id = "catcher", type = "catch", wires = new[] { new[] { "caught" } } },
        };
        for (var i = 0; i < outputs; i++) nodes.Add(new { id = $"out{i}", type = "test-capture" });
        if (extra is not null) nodes.Add(extra);
        return StartAsync(Flow(nodes.ToArray()));
    }

    [Fact]
    public async Task Return_msg_sends_the_changed_message_with_its_id()
    {
        await using var flow = await StartFunctionAsync("msg.payload = msg.payload * 2; msg.extra = {a: [1, 'x', true, null]}; return msg;");
        var input = FlowMessage.WithPayload(21.0, "t");
        await flow.SendAsync("fn", input);
        var output = await flow.NextAsync("out0");

        Assert.Equal(42.0, output.Payload);
        Assert.Equal("t", output.Topic);
        Assert.Equal(input.MessageId, output.MessageId);
        Assert.Equal(new Dictionary<string, object?> { ["a"] = new List<object?> { 1.0, "x", true, null } }, output["extra"]);
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Return_null_or_nothing_sends_nothing()
    {
        await using var flow = await StartFunctionAsync("if (msg.payload === 'null') return null; if (msg.payload === 'none') return; return msg;");
        await flow.SendAsync("fn", "null");
        await flow.SendAsync("fn", "none");
        await flow.SendAsync("fn", "pass");

        Assert.Equal("pass", (await flow.NextAsync("out0")).Payload);
        Assert.True(await flow.Capture("out0").StaysEmptyAsync(TimeSpan.FromMilliseconds(100)));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task An_array_sends_one_entry_per_output_and_inner_arrays_send_several()
    {
        await using var flow = await StartFunctionAsync("""
            return [
              [{payload: 1}, null, {payload: 2}],
              null,
              {payload: 'third'}
            ];
            """, outputs: 3);
        await flow.SendAsync("fn", "go");

        var first = await flow.Capture("out0").TakeAsync(2);
        Assert.Equal([1.0, 2.0], first.Select(m => m.Payload));
        Assert.Equal("third", (await flow.NextAsync("out2")).Payload);
        Assert.True(await flow.Capture("out1").StaysEmptyAsync(TimeSpan.FromMilliseconds(100)));
        Assert.True(await flow.Capture("out0").StaysEmptyAsync(TimeSpan.FromMilliseconds(10)));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Node_send_sends_before_the_returned_message()
    {
        await using var flow = await StartFunctionAsync("""
            for (let i = 0; i < 3; i++) node.send({payload: 'sent' + i});
            node.send([null, {payload: 'second output'}]);
            msg.payload = 'returned';
            return msg;
            """, outputs: 2);
        var input = FlowMessage.WithPayload("x");
        await flow.SendAsync("fn", input);

        var first = await flow.Capture("out0").TakeAsync(4);
        Assert.Equal(["sent0", "sent1", "sent2", "returned"], first.Select(m => m.Payload));
        Assert.All(first, m => Assert.Equal(input.MessageId, m.MessageId));
        Assert.Equal("second output", (await flow.NextAsync("out1")).Payload);
        flow.AssertNoErrors();
    }

    // A getter runs script while its message is being converted, and that script may send a message
    // of its own, which is converted in the middle of the first: neither may lose or mix properties.
    [Fact]
    public async Task A_getter_that_sends_while_its_message_is_converted_loses_nothing()
    {
        await using var flow = await StartFunctionAsync("""
            const inner = {a: 1, b: 2};
            Object.defineProperty(inner, 'c', {enumerable: true, get() { node.send({payload: {x: 'inner'}, topic: 'first'}); return 3; }});
            inner.d = 4;
            msg.payload = {before: true, inner, after: true};
            return msg;
            """);
        await flow.SendAsync("fn", "x");
        var sent = await flow.Capture("out0").TakeAsync(2);
        Assert.Equal("first", sent[0].Topic);
        Assert.Equal("inner", ((Dictionary<string, object?>)sent[0].Payload!)["x"]);
        var payload = (Dictionary<string, object?>)sent[1].Payload!;
        Assert.Equal(["before", "inner", "after"], payload.Keys);
        Assert.Equal(new Dictionary<string, object?> { ["a"] = 1.0, ["b"] = 2.0, ["c"] = 3.0, ["d"] = 4.0 }, (Dictionary<string, object?>)payload["inner"]!);
        flow.AssertNoErrors();
    }

    // The message reaches the script, and comes back, with its keys in the order JavaScript gives
    // them (integer-like keys first, ascending, as in Node-RED), whether the host, JSON.parse or the
    // script made the object; what is not enumerable, and what is undefined or a function, stays out.
    [Fact]
    public async Task Objects_cross_the_script_with_javascripts_key_order_and_only_enumerable_values()
    {
        await using var flow = await StartFunctionAsync("""
            msg.seen = Object.keys(msg.payload);
            msg.parsed = JSON.parse('{"z":1,"10":2,"a":3,"2":4}');
            msg.made = {y: 1, 3: 2, b: undefined, f() {}, c: 3};
            Object.defineProperty(msg.made, 'hidden', {value: 4, enumerable: false});
            msg.made.later = 5;
            return msg;
            """);
        var fromHost = new Dictionary<string, object?> { ["b"] = 1.0, ["2"] = 2.0, ["a"] = 3.0, ["1"] = 4.0 };
        await flow.SendAsync("fn", fromHost);
        var output = await flow.NextAsync("out0");
        Assert.Equal(["1", "2", "b", "a"], (List<object?>)output["seen"]!);
        Assert.Equal(["1", "2", "b", "a"], ((Dictionary<string, object?>)output.Payload!).Keys);
        Assert.Equal(["2", "10", "z", "a"], ((Dictionary<string, object?>)output["parsed"]!).Keys);
        Assert.Equal(new Dictionary<string, object?> { ["3"] = 2.0, ["y"] = 1.0, ["c"] = 3.0, ["later"] = 5.0 }, (Dictionary<string, object?>)output["made"]!);
        Assert.Equal(["3", "y", "c", "later"], ((Dictionary<string, object?>)output["made"]!).Keys);
        flow.AssertNoErrors();
    }

    // Performance, not behaviour: the message and JSON.parse's objects are made in Jint's hidden
    // classes (no descriptor or dictionary per property, and scripts reading them hit one layout).
    [Fact]
    public void The_message_and_json_parse_objects_are_made_with_shared_layouts()
    {
        var engine = new Jint.Engine();
        var message = (Jint.Native.Object.ObjectInstance)new FlowServer.Nodes.Function.JsConverter(engine).ToJs(
            new Dictionary<string, object?> { ["topic"] = "t", ["payload"] = new Dictionary<string, object?> { ["value"] = 1.0 } });
        var parsed = (Jint.Native.Object.ObjectInstance)new FlowServer.Nodes.Function.ScriptJsonParser(engine).Parse("""{"value":1,"nested":{"x":2}}""");
        Assert.True(engine.Advanced.HasSharedShape(message));
        Assert.True(engine.Advanced.HasSharedShape((Jint.Native.Object.ObjectInstance)message.Get("payload")));
        Assert.True(engine.Advanced.HasSharedShape(parsed));
        Assert.True(engine.Advanced.HasSharedShape((Jint.Native.Object.ObjectInstance)parsed.Get("nested")));
    }

    [Fact]
    public async Task Context_flow_and_global_keep_values_across_messages()
    {
        await using var flow = await StartFunctionAsync("""
            const n = (context.get('n') || 0) + 1;
            context.set('n', n);
            flow.set('list', (flow.get('list') || []).concat([msg.payload]));
            global.set('last', {value: msg.payload});
            msg.payload = {n, list: flow.get('list'), keys: context.keys(), last: global.get('last').value};
            return msg;
            """);
        await flow.SendAsync("fn", "a");
        await flow.SendAsync("fn", "b");
        var outputs = await flow.Capture("out0").TakeAsync(2);

        var second = Assert.IsType<Dictionary<string, object?>>(outputs[1].Payload);
        Assert.Equal(2.0, second["n"]);
        Assert.Equal(new List<object?> { "a", "b" }, second["list"]);
        Assert.Equal(new List<object?> { "n" }, second["keys"]);
        Assert.Equal("b", second["last"]);
        Assert.Equal(new List<object?> { "a", "b" }, flow.Runtime.Find("fn")!.FlowContext.Get("list"));
        Assert.Equal(new Dictionary<string, object?> { ["value"] = "b" }, flow.Runtime.Find("fn")!.GlobalContext.Get("last"));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Node_status_shows_as_a_status_event_and_reaches_status_listeners()
    {
        await using var flow = await StartFunctionAsync("node.status({fill: 'green', shape: 'dot', text: 'got ' + msg.payload}); return msg;");
        await flow.SendAsync("fn", 7.0);
        await flow.NextAsync("out0");

        Assert.Equal(new NodeStatus("green", "dot", "got 7"), flow.Runtime.Find("fn")!.Status);
        Assert.Equal(new NodeStatus("green", "dot", "got 7"), flow.Runtime.Events.Statuses["fn"]);
    }

    [Fact]
    public async Task A_thrown_error_reaches_the_catch_node_with_message_and_source()
    {
        await using var flow = await StartFunctionAsync("if (msg.payload === 'bad') throw new Error('nope: ' + msg.payload); return msg;");
        await flow.SendAsync("fn", "bad", "t1");
        await flow.SendAsync("fn", "good");

        var caught = await flow.NextAsync("caught");
        var error = Assert.IsType<Dictionary<string, object?>>(caught["error"]);
        Assert.Equal("Error: nope: bad", (string)error["message"]!); // the error's toString(), as Node-RED reports it
        Assert.Equal("fn", ((Dictionary<string, object?>)error["source"]!)["id"]);
        Assert.Equal("bad", caught.Payload);
        Assert.Equal("t1", caught.Topic);
        Assert.Equal("good", (await flow.NextAsync("out0")).Payload);
    }

    [Fact]
    public async Task Thrown_errors_read_as_Node_RED_reports_them_with_the_line_of_a_reference_error()
    {
        // As Node-RED: the error's toString(), and line/column only for a ReferenceError.
        await using var flow = await StartFunctionAsync("const a = 1;\nif (msg.payload === 'ref') return missingName;\nreturn msg.nothing.there;");
        await flow.SendAsync("fn", "ref");
        var reference = await flow.WaitForErrorAsync("ReferenceError");
        Assert.Contains("missingName", reference);
        Assert.Contains("(line 2, col ", reference);
        flow.ClearErrors();
        await flow.SendAsync("fn", "x");
        var type = await flow.WaitForErrorAsync("TypeError: ");
        Assert.Contains("there", type);
        Assert.DoesNotContain("(line ", type);
    }

    [Fact]
    public async Task Node_error_with_a_message_goes_to_catch_and_the_function_goes_on()
    {
        await using var flow = await StartFunctionAsync("node.error('careful', msg); msg.payload = 'after'; return msg;");
        await flow.SendAsync("fn", "in");

        var caught = await flow.NextAsync("caught");
        Assert.Equal("careful", ((Dictionary<string, object?>)caught["error"]!)["message"]);
        Assert.Equal("after", (await flow.NextAsync("out0")).Payload);
    }

    [Fact]
    public async Task A_runaway_loop_times_out_with_an_error_naming_the_node_and_the_next_message_is_processed()
    {
        await using var flow = await StartFunctionAsync("if (msg.payload === 'loop') { while (true) {} } return msg;", timeout: 0.3);
        await flow.SendAsync("fn", "loop");
        await flow.SendAsync("fn", "next");

        var error = await flow.WaitForErrorAsync("timed out");
        Assert.Contains("'Fn' (fn)", error);
        Assert.Equal("next", (await flow.NextAsync("out0")).Payload);
        var caught = await flow.NextAsync("caught");
        Assert.Equal("loop", caught.Payload);
    }

    [Fact]
    public async Task A_try_catch_in_the_script_cannot_swallow_the_timeout()
    {
        await using var flow = await StartFunctionAsync("try { while (true) {} } catch (e) { msg.payload = 'swallowed'; } return msg;", timeout: 0.2);
        await flow.SendAsync("fn", "x");
        await flow.WaitForErrorAsync("timed out");
        Assert.True(await flow.Capture("out0").StaysEmptyAsync(TimeSpan.FromMilliseconds(100)));
    }

    [Fact]
    public async Task Infinite_recursion_is_an_error_not_a_crash()
    {
        await using var flow = await StartFunctionAsync("if (msg.payload === 'deep') { const f = n => f(n + 1) + 1; f(0); } return msg;");
        await flow.SendAsync("fn", "deep");
        await flow.SendAsync("fn", "after");

        var error = await flow.WaitForErrorAsync("Maximum call stack");
        Assert.Contains("(fn)", error);
        Assert.Equal("after", (await flow.NextAsync("out0")).Payload);
    }

    [Fact]
    public async Task Buffers_round_trip_as_byte_arrays()
    {
        await using var flow = await StartFunctionAsync("""
            const incoming = msg.payload;
            msg.wasBuffer = Buffer.isBuffer(incoming) && incoming instanceof Uint8Array;
            msg.text = incoming.toString();
            msg.hex = incoming.toString('hex');
            msg.payload = Buffer.concat([incoming, Buffer.from('!')]);
            msg.fromHex = Buffer.from('0aff', 'hex');
            return msg;
            """);
        await flow.SendAsync("fn", "hi"u8.ToArray());
        var output = await flow.NextAsync("out0");

        Assert.Equal(true, output["wasBuffer"]);
        Assert.Equal("hi", output["text"]);
        Assert.Equal("6869", output["hex"]);
        Assert.Equal("hi!"u8.ToArray(), Assert.IsType<byte[]>(output.Payload));
        Assert.Equal(new byte[] { 0x0a, 0xff }, output["fromHex"]);
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Initialize_runs_once_at_start_and_finalize_at_stop()
    {
        var json = Flow(
            new { id = "fn", type = "function", initialize = "context.set('base', 100); global.set('started', true);", finalize = "global.set('stopped', context.get('base'));",
                  func = "msg.payload = context.get('base') + msg.payload; return msg;", wires = new[] { new[] { "out" } } },
            new { id = "out", type = "test-capture" });
        var flow = await StartAsync(json);
        var global = flow.Runtime.Find("fn")!.GlobalContext;
        await flow.SendAsync("fn", 1.0);
        Assert.Equal(101.0, (await flow.NextAsync("out")).Payload);
        Assert.Equal(true, global.Get("started"));
        flow.AssertNoErrors();

        await flow.DisposeAsync();
        Assert.Equal(100.0, global.Get("stopped"));
    }

    [Fact]
    public async Task Finalize_runs_at_stop_even_when_no_message_came_and_a_node_without_messages_stops_quietly()
    {
        // The script engine is made on first need: On Stop code must still run without any message.
        var json = Flow(
            new { id = "fn", type = "function", finalize = "global.set('stopped', 'yes');", func = "return msg;", wires = new[] { new[] { "out" } } },
            new { id = "idle", type = "function", func = "return msg;", wires = new[] { new[] { "out" } } },
            new { id = "out", type = "test-capture" });
        var flow = await StartAsync(json);
        var global = flow.Runtime.Find("fn")!.GlobalContext;
        await flow.DisposeAsync();
        Assert.Equal("yes", global.Get("stopped"));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Env_red_util_and_console_are_available()
    {
        var json = $$"""
            [{"id":"tab1","type":"tab","env":[{"name":"LINE","value":"L3","type":"str"}]},
             {"id":"fn","type":"function","z":"tab1","func":"console.log('hello'); const copy = RED.util.cloneMessage(msg); copy.payload = env.get('LINE') + ' ' + node.id + ' ' + node.outputCount; if (msg.payload === 'timer') setTimeout(() => {}, 10); return copy;","wires":[["out"]]},
             {"id":"out","type":"test-capture","z":"tab1"}]
            """;
        await using var flow = await StartAsync(json);
        await flow.SendAsync("fn", "x");
        Assert.Equal("L3 fn 1", (await flow.NextAsync("out")).Payload);
        flow.AssertNoErrors();

        await flow.SendAsync("fn", "timer"); // setTimeout exists (FunctionTimerTests covers it)
        Assert.Equal("L3 fn 1", (await flow.NextAsync("out")).Payload);
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Env_get_gives_typed_tab_variables_as_Node_RED_does()
    {
        var json = """
            [{"id":"tab1","type":"tab","env":[
               {"name":"LIMIT","value":"2.5","type":"num"},{"name":"ON","value":"true","type":"bool"},{"name":"OFF","value":"false","type":"bool"},
               {"name":"TAGS","value":"{\"line\":3,\"cells\":[\"a\",\"b\"]}","type":"json"},{"name":"SITE","value":"7","type":"str"}]},
             {"id":"fn","type":"function","z":"tab1","func":"msg.payload = [typeof env.get('LIMIT'), env.get('LIMIT') * 2, env.get('ON') === true, env.get('OFF') === false, env.get('TAGS').cells[1], typeof env.get('SITE'), env.get('MISSING') === undefined]; return msg;","wires":[["out"]]},
             {"id":"ch","type":"change","z":"tab1","rules":[{"t":"set","p":"payload","pt":"msg","to":"TAGS","tot":"env"}],"wires":[["out"]]},
             {"id":"out","type":"test-capture","z":"tab1"}]
            """;
        await using var flow = await StartAsync(json);
        await flow.SendAsync("fn", "x");
        Assert.Equal(new List<object?> { "number", 5.0, true, true, "b", "string", true }, (await flow.NextAsync("out")).Payload);
        // The change node's env type takes the typed value too: an object, not its JSON text.
        await flow.SendAsync("ch", "x");
        var tags = Assert.IsType<Dictionary<string, object?>>((await flow.NextAsync("out")).Payload);
        Assert.Equal(3.0, tags["line"]);
        flow.AssertNoErrors();
    }

    [Fact]
    public void A_tab_env_value_that_does_not_match_its_type_is_refused_naming_the_tab_and_field()
    {
        var errors = Validate("""
            [{"id":"tab1","type":"tab","label":"Line 1","env":[{"name":"LIMIT","value":"high","type":"num"},{"name":"TAGS","value":"{oops","type":"json"}]}]
            """);
        Assert.Contains(errors, e => e.NodeId == "tab1" && e.Field == "env" && e.Message.Contains("'LIMIT' is of type num, but 'high' is not a number"));
        Assert.Contains(errors, e => e.NodeId == "tab1" && e.Field == "env" && e.Message.Contains("'TAGS' is of type json"));
    }

    [Fact]
    public async Task Await_works_in_the_function_body()
    {
        await using var flow = await StartFunctionAsync("const v = await Promise.resolve(5); msg.payload = v * 2; return msg;");
        await flow.SendAsync("fn", 0.0);
        Assert.Equal(10.0, (await flow.NextAsync("out0")).Payload);
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task The_script_has_no_access_to_the_server()
    {
        await using var flow = await StartFunctionAsync("msg.payload = [typeof System, typeof importNamespace, typeof require, typeof process].join(','); return msg;");
        await flow.SendAsync("fn", "x");
        Assert.Equal("undefined,undefined,undefined,undefined", (await flow.NextAsync("out0")).Payload);
    }

    // The function node keeps one JSON parser per engine instead of Jint's parser per call; what
    // JSON.parse gives (values, SyntaxErrors, depth limit, reviver, its name and length) must be
    // exactly what Jint's own JSON.parse gives, message after message.
    const string ParseEach = """
        const out = [];
        for (const text of msg.payload) {
          try { out.push(JSON.stringify(JSON.parse(text))); } catch (e) { out.push(e.name + ': ' + e.message); }
        }
        out.push(JSON.stringify(JSON.parse('{"a":[1,2],"b":3}', (k, v) => Array.isArray(v) ? v.length : typeof v === 'number' ? v * 10 : v)));
        out.push(JSON.parse.name + JSON.parse.length + typeof JSON.parse(JSON.stringify({d: new Date(0)})).d);
        const o = JSON.parse('{"b":1,"2":2,"1":3,"__proto__":4}');
        out.push(Object.keys(o).join() + Object.is(JSON.parse('-0'), -0) + Object.getPrototypeOf(o).hasOwnProperty('toString') + Array.isArray(JSON.parse('[1]')));
        msg.payload = out;
        return msg;
        """;

    [Fact]
    public async Task Json_parse_gives_what_jints_own_json_parse_gives()
    {
        object?[] texts =
        [
            """{"a":1,"b":[true,null,"x",-0,1.5e3],"c":{"d":"\u00e9\ud83d\ude00"}}""", """{"a":1,"a":2}""", """ [ 1 , 2 ] """,
            """{"__proto__":{"x":1},"constructor":2}""", "1e400", "\"text\"", "{\"a\":1,}", "{a:1}", "", "[1,2", "tru", "[1] x",
            new string('[', 100) + new string(']', 100), new string('[', 2000) + new string(']', 2000), 42.0, true, null,
            """{"level":"high","value":1}""", """{"level":"low","value":2}""", """{"level":"high","value":3,"extra":[{"level":"x"}]}""",
            // integer-like keys come first in ascending order; escaped keys; a repeated key keeps its first place
            """{"b":1,"2":2,"1":3,"a":4,"4294967295":5,"01":6}""", """{"a\u0062":1,"ab":2,"x":3}""", """{"a":1,"b":2,"a":3}""",
            // lone surrogates escaped and raw, control characters, numbers at the edges of a double
            "\"\\ud800\"", "\"\ud800\"", "\"a\u0001b\"", "12345678901234567890", "-0.0e-0", "1E2", "5e-324", "-1e309", "\t[1,\n2]\r",
            "[]", "{}", "[[],{}]", "\"\"", new string('[', 64) + new string(']', 64), new string('[', 65) + new string(']', 65),
            // texts past the parser's kept buffer (4,096 characters): valid, with a raw lone surrogate, cut short
            "[" + string.Join(",", Enumerable.Range(0, 2000)) + "]", "[\"" + new string('x', 5000) + "\ud800\"]", "[" + string.Join(",", Enumerable.Range(0, 2000)),
            // the names the parser keeps: repeated in items, non-ASCII, past 32 characters, escaped, more than 256 distinct
            """[{"tag":"a","v":1},{"tag":"b","v":2},{"v":3,"tag":"c"}]""", """{"t\u00e9mp\ud83d\ude00":1,"témp😀":2,"tag":3}""",
            "{\"" + new string('k', 33) + "\":1,\"" + new string('k', 32) + "\":2,\"" + new string('k', 31) + "\":3}",
            "{" + string.Join(",", Enumerable.Range(0, 300).Select(i => $"\"name{i}\":{i}")) + ",\"name7\":\"again\",\"tag\":1}",
        ];
        await using var flow = await StartFunctionAsync(ParseEach);
        var expected = new List<object?>();
        var reference = new Jint.Engine();
        reference.SetValue("input", Jint.Native.JsValue.FromObject(reference, texts));
        var result = Jint.JsValueExtensions.AsArray(reference.Evaluate("(function (msg) {" + ParseEach + "})({payload: input}).payload"));
        foreach (var item in result) expected.Add(Jint.JsValueExtensions.AsString(item));
        Assert.Contains(expected, e => e is string t && t.StartsWith("SyntaxError", StringComparison.Ordinal)); // the errors are compared too

        for (var round = 0; round < 3; round++) // the kept parser's interned keys and values must not leak between messages
        {
            await flow.SendAsync("fn", texts.ToList());
            Assert.Equal(expected, (await flow.NextAsync("out0")).Payload);
        }
        flow.AssertNoErrors();
    }

    [Fact]
    public void A_syntax_error_refuses_the_deploy_naming_node_and_field()
    {
        var errors = Validate(Flow(new { id = "fn", type = "function", name = "Broken", func = "return msg;;; }{", initialize = "let = ;" }));
        Assert.Contains(errors, e => e is { NodeId: "fn", Field: "func" } && e.Text.Contains("function 'Broken' (fn): func has a syntax error"));
        Assert.Contains(errors, e => e is { NodeId: "fn", Field: "initialize" });
    }

    [Fact]
    public void Default_options_are_valid()
    {
        Assert.Empty(Validate(Flow(new { id = "fn", type = "function" })));
        Assert.True(Catalog.TryGet("function", out var info));
        Assert.Equal("outputs", info.Descriptor.OutputsProperty);
        Assert.All(info.Descriptor.Properties, p => Assert.False(string.IsNullOrEmpty(p.Help)));
    }
}
