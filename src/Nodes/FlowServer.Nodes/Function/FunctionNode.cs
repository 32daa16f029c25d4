using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Acornima.Ast;
using FlowServer.Nodes.Sdk;
using Jint;
using Jint.Native;
using Jint.Native.Json;
using Jint.Native.Object;
using Jint.Runtime;
using Jint.Runtime.Interop;

namespace FlowServer.Nodes.Function;

public sealed class FunctionOptions : NodeOptions
{
    /// <summary>
    /// Used when <c>timeout</c> is 0. Node-RED has no limit, but a runaway script would block its
    /// node forever, and (running on its sender's thread) whatever feeds it, such as an mqtt in.
    /// </summary>
    public const double DefaultTimeoutSeconds = 5;

    [Property("func", Editor = PropertyEditor.Code, Label = "On Message", Help = "JavaScript run for every message; `msg` is the message, `return msg` sends it on")]
    public string Func { get; set; } = "\nreturn msg;";

    [Property("outputs", Editor = PropertyEditor.Number, Min = 0, Max = 64, Help = "Number of outputs; return an array with one entry per output")]
    public int Outputs { get; set; } = 1;

    [Property("timeout", Editor = PropertyEditor.Number, Min = 0, Help = "Seconds one run may take, waiting for its promise or node.done() included; 0 means the server default of 5 s")]
    public double Timeout { get; set; }

    [Property("initialize", Editor = PropertyEditor.Code, Label = "On Start", Help = "JavaScript run once when the node starts")]
    public string Initialize { get; set; } = "";

    [Property("finalize", Editor = PropertyEditor.Code, Label = "On Stop", Help = "JavaScript run once when the node stops")]
    public string Finalize { get; set; } = "";

    [Property("libs", Editor = PropertyEditor.Hidden, Help = "External modules (kept for import; not loaded)")]
    public JsonElement? Libs { get; set; }

    [Property("noerr", Editor = PropertyEditor.Hidden, Help = "Editor lint error count (kept for import)")]
    public int NoErr { get; set; }

    [JsonIgnore] public Prepared<Script> Handler { get; private set; }
    [JsonIgnore] public Prepared<Script>? Setup { get; private set; }
    [JsonIgnore] public Prepared<Script>? Cleanup { get; private set; }
    [JsonIgnore] public bool HandlerIsAsync { get; private set; }
    /// <summary>The code calls <c>node.done()</c>: a run then finishes when it does (Node-RED's rule).</summary>
    [JsonIgnore] public bool HandlerCallsDone { get; private set; }
    /// <summary>Length of the wrapper text before the body on line 1 (error columns are shifted by it).</summary>
    [JsonIgnore] public int HandlerPrefixLength { get; private set; }

    /// <summary>The wall-time limit of one run.</summary>
    [JsonIgnore] public TimeSpan RunLimit => TimeSpan.FromSeconds(Timeout > 0 ? Timeout : DefaultTimeoutSeconds);

    public override IEnumerable<OptionError> Validate()
    {
        var errors = new List<OptionError>();
        // Parsed at deploy, so a syntax error refuses the deploy and the node starts without parsing.
        // The body stays on the wrapper's first line so that line numbers match the editor's.
        HandlerIsAsync = UsesAwait(Func);
        HandlerCallsDone = CallsNodeDone(Func);
        var prefix = HandlerIsAsync ? "(async function (msg) {" : "(function (msg) {";
        HandlerPrefixLength = prefix.Length;
        if (Prepare("func", Func, prefix, errors) is { } handler) Handler = handler;
        if (!string.IsNullOrWhiteSpace(Initialize)) Setup = Prepare("initialize", Initialize, "(async function () {", errors);
        if (!string.IsNullOrWhiteSpace(Finalize)) Cleanup = Prepare("finalize", Finalize, "(function () {", errors);
        return errors;
    }

    // Node-RED runs every body as an async function; a plain function is much cheaper, so only
    // bodies that may await pay for the promise.
    static bool UsesAwait(string code) => code.Contains("await", StringComparison.Ordinal);

    // As Node-RED: a call node.done() in the code (not in a comment or a string) means the code
    // says itself when it has finished with a message.
    static bool CallsNodeDone(string code)
    {
        if (!NodeDoneText.IsMatch(code)) return false;
        try
        {
            var program = new Acornima.Parser().ParseScript("(async function () {" + code + "\n})");
            return program.DescendantNodes().OfType<CallExpression>().Any(call =>
                call.Callee is MemberExpression { Object: Identifier { Name: "node" }, Property: Identifier { Name: "done" } });
        }
        catch (Acornima.ParseErrorException) { return false; } // the syntax error is reported by Prepare
    }

    static readonly System.Text.RegularExpressions.Regex NodeDoneText = new(@"node\.done\s*\(");

    // Prepared scripts are immutable and shared by engines; flows repeat the same code in many
    // nodes (copied nodes, generated flows), so a deploy parses each distinct text once.
    static readonly System.Collections.Concurrent.ConcurrentDictionary<(string Field, string Text), Prepared<Script>> PreparedScripts = new();
    const int MaxPreparedScripts = 2000;

    static Prepared<Script>? Prepare(string field, string code, string prefix, List<OptionError> errors)
    {
        var text = prefix + code + "\n})";
        if (PreparedScripts.TryGetValue((field, text), out var cached)) return cached;
        try
        {
            var prepared = Engine.PrepareScript(text, source: field);
            if (PreparedScripts.Count >= MaxPreparedScripts) PreparedScripts.Clear();
            PreparedScripts[(field, text)] = prepared;
            return prepared;
        }
        catch (Exception e) when (e is ScriptPreparationException or Acornima.ParseErrorException or JavaScriptException)
        {
            errors.Add(new OptionError(field, $"has a syntax error: {(e.InnerException ?? e).Message}"));
            return null;
        }
    }
}

[NodeType("function", Category = "function", Inputs = 1, Outputs = 1, OutputsProperty = "outputs", Color = "#fdd0a2", Icon = "function",
    Help = """
    A JavaScript function run against each message.

    ### Inputs
    : msg (object) : the message, as `msg` in the code.

    ### Outputs
    : msg (object) : whatever the code returns or passes to `node.send`.

    ### Details
    The *On Message* code is the body of `function (msg) { … }`. `return msg` sends the message
    on; `return null` (or nothing) sends nothing; with several outputs return an array with one
    entry per output, where an entry may itself be an array of messages or `null`.

    Available to the code: `node` (`id`, `name`, `outputCount`, `send(msg)`, `done()`,
    `error(err, msg)`, `warn`, `log`, `status({fill, shape, text})`, `on('close', fn)`),
    `context`, `flow` and `global` (`get`, `set`, `keys`), `env.get(name)` (a tab variable of
    type num, bool or json comes as a number, boolean or object), `RED.util.cloneMessage`,
    `Buffer` (a Uint8Array with `from`, `alloc`, `concat`, `toString(encoding)`), `console`, and
    `setTimeout`/`setInterval`/`clearTimeout`/`clearInterval` (callbacks may `node.send`; every
    timer is cleared when the node stops). `await` may be used.

    A message is finished when the code returns, or, with `await`, when its promise settles;
    when the code calls `node.done()` anywhere, only when `node.done()` is called (Node-RED's
    rule). Complete nodes fire then, and the next message waits until then, so messages are
    handled one at a time, in order.

    *On Start* runs once when the node starts and *On Stop* when it stops; both see `node` and
    the context, not `msg`.

    Values read from context are copies: change them and `set` them again to keep the change.

    The code runs in a sandbox without access to the server. Each run is limited to *timeout*
    seconds, waiting included (5 s when 0; Node-RED has no default limit, but a runaway loop
    would otherwise hold the node, and whatever feeds it, for good), 1000 nested calls and
    512 MB of allocations; a script that exceeds a limit fails with an error (caught by catch
    nodes) and the next message is processed as usual. Set *timeout* for longer waits. A run
    that computes for more than 50 ms gets the server another worker thread until it ends, so
    other flows, timers and the editor do not wait for it.
    Use `node.error(err, msg)` to raise an error catch nodes see without stopping the function.
    """)]
public sealed class FunctionNode : FlowNode<FunctionOptions>, IRunsInline
{
    const int MaxCallDepth = 1000;
    const long MaxAllocatedBytes = 512L * 1024 * 1024;

    // Jint engines are single-threaded; the reader loop, start/stop and timers all go through this.
    readonly Lock _gate = new();
    readonly List<(int Port, FlowMessage Message)> _outbox = [];
    readonly List<JsValue> _closeHandlers = [];
    Engine? _engine;
    ScriptRunGuard? _guard;
    JsConverter? _converter;
    JsValue? _handler;
    JsValue? _follow;
    // The message being handled, as node.send and node.done see it; timers and promise callbacks
    // run as the run that started them.
    Run? _currentRun;
    bool _running;

    // Runs that finished since the gate was taken; released once what they sent has gone out,
    // so the next message (and a complete node) never overtakes a run's last messages.
    readonly List<Run> _finishedRuns = [];

    /// <summary>One message being handled, from the call of the code until it has finished. Changed under the gate.</summary>
    sealed class Run(string? messageId, bool awaitsDone)
    {
        // Made only for a run that is waited for (most finish before the code returns).
        TaskCompletionSource? _released;
        bool _settled, _done = !awaitsDone;

        public string? MessageId { get; } = messageId;
        public long Started { get; } = System.Diagnostics.Stopwatch.GetTimestamp();
        public string? Failure { get; private set; }
        public bool IsFinished { get; private set; }
        public bool AwaitsDone => !_done;
        public Task Released => Signal.Task;
        public void Release() => Signal.TrySetResult();
        TaskCompletionSource Signal => LazyInitializer.EnsureInitialized(ref _released, () => new(TaskCreationOptions.RunContinuationsAsynchronously));

        /// <summary>The code returned (or its promise settled). True when that finished the run.</summary>
        public bool Settle(string? failure)
        {
            _settled = true;
            return Finish(failure);
        }

        /// <summary>The code called node.done(). True when that finished the run.</summary>
        public bool Done(string? failure)
        {
            _done = true;
            return Finish(failure);
        }

        // A failure finishes a run at once.
        bool Finish(string? failure)
        {
            if (IsFinished) return false;
            Failure = failure;
            IsFinished = failure is not null || (_settled && _done);
            return IsFinished;
        }
    }

    void Settle(Run run, string? failure)
    {
        if (run.Settle(failure)) _finishedRuns.Add(run);
    }

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        if (Options.Libs is { ValueKind: JsonValueKind.Array } libs && libs.GetArrayLength() > 0)
            Context.Warn("external modules (libs) are not supported and were not loaded");
        List<(int, FlowMessage)> toSend;
        string? failure = null;
        lock (_gate)
        {
            _running = true;
            if (Options.Cleanup is not null) EnsureEngine(); // On Stop code runs even if no message came
            if (Options.Setup is { } setup)
            {
                EnsureEngine();
                try
                {
                    var init = _engine!.Evaluate(setup);
                    _engine.Invoke(init, JsValue.Undefined, []).UnwrapIfPromise();
                }
                catch (Exception e) { failure = Describe(e); }
                finally { _guard.EndRun(); }
            }
            toSend = TakeOutbox();
        }
        if (failure is not null) Context.ReportError($"On Start failed: {failure}");
        return SendAllAsync(toSend, cancellationToken).AsTask();
    }

    // The engine is made when it is first needed (On Start code, else the first message): a flow
    // of hundreds of function nodes deploys without building hundreds of engines up front.
    [System.Diagnostics.CodeAnalysis.MemberNotNull(nameof(_engine), nameof(_guard), nameof(_converter), nameof(_handler))]
    void EnsureEngine()
    {
        if (_engine is not null && _guard is not null && _converter is not null && _handler is not null) return;
        _engine = CreateEngine();
        _converter = new JsConverter(_engine);
        InstallGlobals(_engine, _converter);
        _handler = _engine.Evaluate(Options.Handler);
        _follow = _engine.Evaluate("(function (result, fulfilled, rejected) { Promise.resolve(result).then(fulfilled, rejected); })");
    }

    [System.Diagnostics.CodeAnalysis.MemberNotNull(nameof(_guard))]
    Engine CreateEngine()
    {
        _guard = new ScriptRunGuard(Options.RunLimit);
        return ScriptEngines.Create(options =>
        {
            options.LimitRecursion(MaxCallDepth);
            options.Constraint(_guard); // the time limit, and a pool thread lent while a run is long
            options.LimitMemory(MaxAllocatedBytes);
        });
    }

    public override async ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        List<(int, FlowMessage)> toSend;
        Run[] finished;
        bool finishedNow;
        var run = new Run(message.MessageId, Options.HandlerCallsDone);
        lock (_gate)
        {
            if (!_running) throw new FlowNodeException("the function is not running");
            EnsureEngine();
            _currentRun = run;
            try
            {
                var msg = _converter!.ToJs(message.Properties);
                var result = _engine.Invoke(_handler, JsValue.Undefined, [msg]);
                if (Options.HandlerIsAsync)
                {
                    Follow(run, result);
                    _engine.Advanced.ProcessTasks(); // what the awaits queued
                }
                else Settle(run, QueueResults(result));
            }
            catch (Exception e) when (e is not OperationCanceledException) { Settle(run, Describe(e)); }
            finally
            {
                _guard.EndRun();
                _currentRun = null;
                toSend = TakeOutbox();
                finishedNow = run.IsFinished;
                if (finishedNow) _finishedRuns.Remove(run); // nobody waits for it
                finished = TakeFinishedRuns();
            }
        }
        // What the script sent before failing still goes out, as in Node-RED.
        await SendAllAsync(toSend, cancellationToken);
        foreach (var done in finished) done.Release();
        if (!finishedNow) await WaitForAsync(run, cancellationToken);
        if (run.Failure is { } failure) throw new FlowNodeException(failure);
    }

    // The promise of an async run settles later, from a timer callback (under the gate, like
    // everything that touches the engine); the run waits for it without holding the gate.
    void Follow(Run run, JsValue result)
    {
        var fulfilled = Fn(_engine!, "fulfilled", args => { AsRun(run, () => Settle(run, QueueResults(Arg(args, 0)))); return JsValue.Undefined; });
        var rejected = Fn(_engine!, "rejected", args => { Settle(run, JsConverter.ErrorText(Arg(args, 0))); return JsValue.Undefined; });
        _engine!.Invoke(_follow!, JsValue.Undefined, [result, fulfilled, rejected]);
    }

    void AsRun(Run run, Action action)
    {
        var outer = _currentRun;
        _currentRun = run;
        try { action(); }
        finally { _currentRun = outer; }
    }

    async Task WaitForAsync(Run run, CancellationToken cancellationToken)
    {
        var remaining = Options.RunLimit - System.Diagnostics.Stopwatch.GetElapsedTime(run.Started);
        try { await run.Released.WaitAsync(remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero, cancellationToken); }
        catch (TimeoutException)
        {
            var waitingFor = run.AwaitsDone ? "node.done() was not called" : "its promise did not settle";
            throw new FlowNodeException($"Script did not finish within {Options.RunLimit.TotalMilliseconds:0} ms ({waitingFor}) in {Who}");
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        List<(int, FlowMessage)> toSend;
        string? failure = null;
        Task? timerSends = null;
        lock (_gate)
        {
            _running = false;
            if (_engine is null) return;
            try
            {
                foreach (var handler in _closeHandlers) _engine.Invoke(handler, JsValue.Undefined, []);
                if (Options.Cleanup is { } cleanup) _engine.Invoke(_engine.Evaluate(cleanup), JsValue.Undefined, []);
            }
            catch (Exception e) { failure = Describe(e); }
            finally { _guard?.EndRun(); }
            toSend = TakeOutbox();
            foreach (var timer in _timers.Values) { timer.Cancel(); timer.Dispose(); }
            _timers.Clear();
            _engine.Dispose();
            _engine = null;
            _handler = null;
            if (_timerSends > 0) timerSends = (_timerSendsDone = new(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }
        if (failure is not null) Context.ReportError($"On Stop failed: {failure}");
        await SendAllAsync(toSend, cancellationToken);
        if (timerSends is not null) await timerSends.WaitAsync(cancellationToken);
    }

    Run[] TakeFinishedRuns()
    {
        if (_finishedRuns.Count == 0) return [];
        var list = _finishedRuns.ToArray();
        _finishedRuns.Clear();
        return list;
    }

    List<(int, FlowMessage)> TakeOutbox()
    {
        if (_outbox.Count == 0) return [];
        var list = _outbox.ToList();
        _outbox.Clear();
        return list;
    }

    async ValueTask SendAllAsync(List<(int Port, FlowMessage Message)> messages, CancellationToken cancellationToken)
    {
        foreach (var (port, message) in messages) await Context.SendAsync(port, message, cancellationToken);
    }

    /// <summary>
    /// Queues what a run returned or passed to node.send, by Node-RED's rules: one value is for
    /// output 1; an array holds one entry per output; an entry may be an array of messages.
    /// Returns an error text when something that is not a message was sent.
    /// </summary>
    string? QueueResults(JsValue result)
    {
        if (result.IsNull() || result.IsUndefined()) return null;
        if (!result.IsArray()) return Queue(0, result);
        var ports = result.AsArray();
        string? error = null;
        for (uint port = 0; port < ports.Length; port++)
        {
            var entry = ports[port];
            if (entry.IsArray())
            {
                var many = entry.AsArray();
                for (uint i = 0; i < many.Length; i++) error ??= Queue((int)port, many[i]);
            }
            else error ??= Queue((int)port, entry);
        }
        return error;
    }

    string? Queue(int port, JsValue value)
    {
        if (value.IsNull() || value.IsUndefined()) return null;
        if (value is not ObjectInstance || value.IsArray() || value.IsCallable())
            return $"Function tried to send a message of type {TypeOf(value)}";
        if (port >= Context.OutputCount) return null;
        var properties = (Dictionary<string, object?>)_converter!.FromJs(value)!;
        var message = new FlowMessage(properties);
        // Node-RED gives every message a function sends the id of the message being handled.
        if (_currentRun?.MessageId is { } id) message.MessageId = id;
        _outbox.Add((port, message));
        return null;
    }

    static string TypeOf(JsValue value) => value.Type switch
    {
        Types.String => "string",
        Types.Number => "number",
        Types.Boolean => "boolean",
        _ when value.IsArray() => "array",
        _ when value.IsCallable() => "function",
        _ => "object",
    };

    string Who => $"function '{Context.NodeName ?? Context.NodeId}' ({Context.NodeId})";

    /// <summary>An exception out of the engine as a sentence for the flow author.</summary>
    string Describe(Exception e)
    {
        var who = Who;
        return e switch
        {
            TimeoutException => $"Script execution timed out after {Options.RunLimit.TotalMilliseconds:0} ms in {who}",
            RecursionDepthOverflowException => $"RangeError: Maximum call stack size exceeded (more than {MaxCallDepth} nested calls) in {who}",
            MemoryLimitExceededException => $"Script allocated more than {MaxAllocatedBytes / (1024 * 1024)} MB in one run in {who}",
            StatementsCountOverflowException => $"Script ran too many statements in {who}",
            PromiseRejectedException rejected => JsConverter.ErrorText(rejected.RejectedValue),
            JavaScriptException js => ThrownText(js),
            FlowNodeException => e.Message,
            _ => $"{e.GetType().Name}: {e.Message}",
        };
    }

    // What Node-RED's function node reports for a thrown error: the error's toString()
    // ("Error: boom", "TypeError: …"), with the line and column only for a ReferenceError.
    string ThrownText(JavaScriptException e)
    {
        var error = e.Error;
        if (error is not ObjectInstance obj || error.IsArray() || obj.Get("message").IsUndefined()) return JsConverter.ErrorText(error);
        var name = obj.Get("name") is { } n && n.IsString() ? n.AsString() : "Error";
        var message = obj.Get("message").ToString();
        var text = message.Length == 0 ? name : $"{name}: {message}";
        return name == "ReferenceError" ? text + Where(e, Options.HandlerPrefixLength) : text;
    }

    // Columns are 0-based in Jint; the editor counts from 1 and knows nothing of the wrapper.
    static string Where(JavaScriptException e, int prefixLength)
    {
        var start = e.Location.Start;
        if (start.Line <= 0) return "";
        var column = start.Line == 1 ? Math.Max(1, start.Column - prefixLength + 1) : start.Column + 1;
        return $" (line {start.Line}, col {column})";
    }

    void InstallGlobals(Engine engine, JsConverter converter)
    {
        InstallJsonParse(engine);
        var buffer = engine.Evaluate(BufferPrelude);
        converter.BufferClass = engine.Invoke(buffer, JsValue.Undefined, [
            Fn(engine, "encode", args => engine.Intrinsics.Uint8Array.Construct(Encode(Text(args, 0), Text(args, 1)))),
            Fn(engine, "decode", args => new JsString(Decode(args[0].AsUint8Array(), Text(args, 1), (int)Arg(args, 2).AsNumber(), (int)Arg(args, 3).AsNumber()))),
        ]);
        engine.SetValue("Buffer", converter.BufferClass);

        var node = new JsObject(engine);
        node.FastSetDataProperty("id", new JsString(Context.NodeId));
        node.FastSetDataProperty("name", Context.NodeName is { } name ? new JsString(name) : JsValue.Undefined);
        node.FastSetDataProperty("outputCount", new JsNumber(Context.OutputCount));
        node.FastSetDataProperty("send", Fn(engine, "send", args =>
        {
            var error = QueueResults(Arg(args, 0));
            if (error is not null) throw new JavaScriptException(engine.Intrinsics.TypeError, error);
            return JsValue.Undefined;
        }));
        node.FastSetDataProperty("done", Fn(engine, "done", args =>
        {
            var error = Arg(args, 0);
            if (_currentRun is { } run && run.Done(error.IsNullish() ? null : JsConverter.ErrorText(error))) _finishedRuns.Add(run);
            return JsValue.Undefined;
        }));
        node.FastSetDataProperty("error", Fn(engine, "error", args =>
        {
            var text = JsConverter.ErrorText(Arg(args, 0));
            var msg = Arg(args, 1);
            var message = msg is ObjectInstance && !msg.IsArray() ? new FlowMessage((Dictionary<string, object?>)converter.FromJs(msg)!) : null;
            Context.ReportError(text, message);
            return JsValue.Undefined;
        }));
        node.FastSetDataProperty("warn", Fn(engine, "warn", args => { Context.Warn(Describe(Arg(args, 0))); return JsValue.Undefined; }));
        node.FastSetDataProperty("log", Fn(engine, "log", args => { Context.Log(Describe(Arg(args, 0))); return JsValue.Undefined; }));
        node.FastSetDataProperty("debug", Fn(engine, "debug", args => { Context.Log(Describe(Arg(args, 0))); return JsValue.Undefined; }));
        node.FastSetDataProperty("trace", Fn(engine, "trace", _ => JsValue.Undefined));
        node.FastSetDataProperty("status", Fn(engine, "status", args =>
        {
            Context.SetStatus(ToStatus(Arg(args, 0)));
            return JsValue.Undefined;
        }));
        node.FastSetDataProperty("on", Fn(engine, "on", args =>
        {
            if (Text(args, 0) == "close" && Arg(args, 1).IsCallable()) _closeHandlers.Add(args[1]);
            return JsValue.Undefined;
        }));
        engine.SetValue("node", node);

        var flow = ContextObject(engine, converter, () => Context.FlowContext);
        var global = ContextObject(engine, converter, () => Context.GlobalContext);
        var context = ContextObject(engine, converter, () => Context.NodeContext);
        context.FastSetDataProperty("flow", flow);
        context.FastSetDataProperty("global", global);
        engine.SetValue("context", context);
        engine.SetValue("flow", flow);
        engine.SetValue("global", global);

        var env = new JsObject(engine);
        env.FastSetDataProperty("get", Fn(engine, "get", args => Context.GetEnvValue(Text(args, 0)) is { } value ? converter.ToJs(value) : JsValue.Undefined));
        engine.SetValue("env", env);

        var util = new JsObject(engine);
        util.FastSetDataProperty("cloneMessage", Fn(engine, "cloneMessage", args => converter.ToJs(converter.FromJs(Arg(args, 0)))));
        var red = new JsObject(engine);
        red.FastSetDataProperty("util", util);
        engine.SetValue("RED", red);

        var console = new JsObject(engine);
        JsValue Log(JsValue[] args) { Context.Log(string.Join(" ", args.Select(Describe))); return JsValue.Undefined; }
        JsValue Warn(JsValue[] args) { Context.Warn(string.Join(" ", args.Select(Describe))); return JsValue.Undefined; }
        console.FastSetDataProperty("log", Fn(engine, "log", Log));
        console.FastSetDataProperty("info", Fn(engine, "info", Log));
        console.FastSetDataProperty("debug", Fn(engine, "debug", Log));
        console.FastSetDataProperty("warn", Fn(engine, "warn", Warn));
        console.FastSetDataProperty("error", Fn(engine, "error", Warn));
        engine.SetValue("console", console);

        engine.SetValue("setTimeout", Fn(engine, "setTimeout", args => StartTimer(args, repeat: false)));
        engine.SetValue("setInterval", Fn(engine, "setInterval", args => StartTimer(args, repeat: true)));
        engine.SetValue("clearTimeout", Fn(engine, "clearTimeout", args => { StopTimer(Arg(args, 0)); return JsValue.Undefined; }));
        engine.SetValue("clearInterval", Fn(engine, "clearInterval", args => { StopTimer(Arg(args, 0)); return JsValue.Undefined; }));
    }

    // JSON.parse through one ScriptJsonParser kept for the engine (Jint's own builds a parser, with
    // its interning tables, for every call). A call with a reviver goes to the original, which
    // applies it. A text argument is turned into a string (which may run a toString) first.
    static void InstallJsonParse(Engine engine)
    {
        var json = engine.GetValue("JSON").AsObject();
        var original = json.Get("parse");
        var parser = new ScriptJsonParser(engine);
        json.Set("parse", new ClrFunction(engine, "parse", (_, args) =>
            Arg(args, 1).IsCallable()
                ? engine.Call(original, json, args)
                : parser.Parse(TypeConverter.ToString(Arg(args, 0))), length: 2));
    }

    // Timers, as in Node-RED's function node: callbacks run under the same gate as messages (the
    // engine is single-threaded), may call node.send, and are all cleared when the node stops.
    const int MaxTimers = 1000;
    readonly Dictionary<int, CancellationTokenSource> _timers = [];
    int _lastTimerId;

    JsValue StartTimer(JsValue[] args, bool repeat)
    {
        var callback = Arg(args, 0);
        if (!callback.IsCallable()) throw new JavaScriptException(_engine!.Intrinsics.TypeError, (repeat ? "setInterval" : "setTimeout") + " needs a function");
        if (_timers.Count >= MaxTimers) throw new JavaScriptException(_engine!.Intrinsics.Error, $"more than {MaxTimers} timers are pending");
        var delay = TimeSpan.FromMilliseconds(Math.Max(repeat ? 1 : 0, Arg(args, 1).IsNumber() ? Arg(args, 1).AsNumber() : 0));
        var extra = args.Skip(2).ToArray();
        var id = ++_lastTimerId;
        var cancel = CancellationTokenSource.CreateLinkedTokenSource(Context.Stopping);
        _timers[id] = cancel;
        _ = RunTimerAsync(id, callback, extra, delay, repeat, _currentRun, cancel.Token);
        return new JsNumber(id);
    }

    void StopTimer(JsValue id)
    {
        if (!id.IsNumber() || !_timers.Remove((int)id.AsNumber(), out var cancel)) return;
        cancel.Cancel();
        cancel.Dispose();
    }

    // What timer callbacks sent and is still on its way: a stop waits for it, so nothing a timer
    // sent arrives after the node has stopped (and the redeploy that stopped it has finished).
    int _timerSends;
    TaskCompletionSource? _timerSendsDone;

    void TimerSendDone()
    {
        lock (_gate)
        {
            if (--_timerSends == 0) _timerSendsDone?.TrySetResult();
        }
    }

    async Task RunTimerAsync(int id, JsValue callback, JsValue[] args, TimeSpan delay, bool repeat, Run? run, CancellationToken token)
    {
        try
        {
            do
            {
                await Task.Delay(delay, token);
                List<(int, FlowMessage)> toSend;
                Run[] finished;
                string? failure = null;
                lock (_gate)
                {
                    if (_engine is null || token.IsCancellationRequested) return;
                    // A fired one-shot is done: free its source (it is linked to Stopping, so
                    // keeping it would hold a registration until the node stops).
                    if (!repeat && _timers.Remove(id, out var fired)) fired.Dispose();
                    _currentRun = run;
                    try
                    {
                        _engine.Invoke(callback, JsValue.Undefined, args);
                        _engine.Advanced.ProcessTasks(); // what the callback resolved: the rest of an awaiting run
                    }
                    catch (Exception e) when (e is not OperationCanceledException) { failure = Describe(e); }
                    finally { _guard?.EndRun(); _currentRun = null; }
                    toSend = TakeOutbox();
                    finished = TakeFinishedRuns();
                    _timerSends++;
                }
                try { await SendAllAsync(toSend, Context.Stopping); }
                finally { TimerSendDone(); }
                foreach (var done in finished) done.Release();
                if (failure is not null) Context.ReportError(failure);
            } while (repeat);
        }
        catch (OperationCanceledException) { }
    }

    // Node-RED's context API: get(key | keys, [store], [callback]), set(key | keys, value | values, [store], [callback]), keys().
    static JsObject ContextObject(Engine engine, JsConverter converter, Func<IContextStore> store)
    {
        var obj = new JsObject(engine);
        obj.FastSetDataProperty("get", Fn(engine, "get", args =>
        {
            var key = Arg(args, 0);
            JsValue result;
            if (key.IsArray())
            {
                var keys = key.AsArray();
                var values = new JsValue[keys.Length];
                for (uint i = 0; i < keys.Length; i++) values[i] = Read(keys[i].ToString());
                result = new JsArray(engine, values);
            }
            else result = Read(key.ToString());
            return Callback(args, result);
        }));
        obj.FastSetDataProperty("set", Fn(engine, "set", args =>
        {
            var key = Arg(args, 0);
            var value = Arg(args, 1);
            if (key.IsArray())
            {
                var keys = key.AsArray();
                var values = value.IsArray() ? value.AsArray() : null;
                for (uint i = 0; i < keys.Length; i++) store().Set(keys[i].ToString(), values is null ? null : converter.FromJs(values[i]));
            }
            else store().Set(key.ToString(), converter.FromJs(value));
            return Callback(args, JsValue.Undefined);
        }));
        obj.FastSetDataProperty("keys", Fn(engine, "keys", args =>
            Callback(args, new JsArray(engine, store().Keys().Select(k => (JsValue)new JsString(k)).ToArray()))));
        return obj;

        JsValue Read(string key) => store().Get(key) is { } value ? converter.ToJs(value) : JsValue.Undefined;

        // With a callback as last argument, Node-RED calls it with (err, value) instead of returning.
        JsValue Callback(JsValue[] args, JsValue result)
        {
            if (args.Length > 1 && args[^1].IsCallable())
            {
                engine.Invoke(args[^1], JsValue.Undefined, [JsValue.Null, result]);
                return JsValue.Undefined;
            }
            return result;
        }
    }

    static NodeStatus ToStatus(JsValue value)
    {
        if (value is not ObjectInstance obj || value.IsArray()) return value.IsNullish() ? NodeStatus.Clear : new NodeStatus(null, null, value.ToString());
        string? Field(string name) => obj.Get(name) is var v && !v.IsNullish() ? v.ToString() : null;
        return new NodeStatus(Field("fill"), Field("shape"), Field("text"));
    }

    string Describe(JsValue value) => value.Type switch
    {
        Types.String => value.AsString(),
        Types.Undefined => "undefined",
        _ when value is ObjectInstance obj && obj.Get("message") is { } m && m.IsString() && !value.IsArray() => JsConverter.ErrorText(value),
        _ when value is ObjectInstance => MessageJson.Serialize(_converter!.FromJs(value)),
        _ => value.ToString(),
    };

    static ClrFunction Fn(Engine engine, string name, Func<JsValue[], JsValue> body) => new(engine, name, (_, args) => body(args));

    static JsValue Arg(JsValue[] args, int index) => index < args.Length ? args[index] : JsValue.Undefined;

    static string Text(JsValue[] args, int index) => Arg(args, index) is var v && v.IsNullish() ? "" : v.ToString();

    static byte[] Encode(string text, string encoding) => encoding.ToLowerInvariant() switch
    {
        "hex" => Convert.FromHexString(text.Length % 2 == 0 ? text : text[..^1]),
        "base64" or "base64url" => Convert.FromBase64String(text.Replace('-', '+').Replace('_', '/').PadRight((text.Length + 3) / 4 * 4, '=')),
        "latin1" or "binary" or "ascii" => Encoding.Latin1.GetBytes(text),
        _ => Encoding.UTF8.GetBytes(text),
    };

    static string Decode(byte[] bytes, string encoding, int start, int end)
    {
        start = Math.Clamp(start, 0, bytes.Length);
        end = Math.Clamp(end, start, bytes.Length);
        var span = bytes.AsSpan(start, end - start);
        return encoding.ToLowerInvariant() switch
        {
            "hex" => Convert.ToHexStringLower(span),
            "base64" => Convert.ToBase64String(span),
            "latin1" or "binary" or "ascii" => Encoding.Latin1.GetString(span),
            _ => Encoding.UTF8.GetString(span),
        };
    }

    // A minimal Node.js Buffer: a Uint8Array subclass, so typed array methods work and byte[] round-trips.
    const string BufferPrelude = """
        (function (encode, decode) {
          class Buffer extends Uint8Array {
            toString(encoding, start, end) {
              return decode(this, encoding || 'utf8', start === undefined ? 0 : start, end === undefined ? this.length : end);
            }
            toJSON() { return { type: 'Buffer', data: Array.from(this) }; }
            equals(other) {
              if (!other || this.length !== other.length) return false;
              for (let i = 0; i < this.length; i++) if (this[i] !== other[i]) return false;
              return true;
            }
            static from(value, encoding) {
              if (typeof value === 'string') {
                const bytes = encode(value, encoding || 'utf8');
                return new Buffer(bytes.buffer, bytes.byteOffset, bytes.length);
              }
              if (value instanceof ArrayBuffer) return new Buffer(value);
              if (value && value.type === 'Buffer' && Array.isArray(value.data)) value = value.data;
              const copy = new Buffer(value.length);
              copy.set(value);
              return copy;
            }
            static alloc(size, fill) {
              const b = new Buffer(size);
              if (fill !== undefined) b.fill(typeof fill === 'string' ? fill.charCodeAt(0) : fill);
              return b;
            }
            static isBuffer(value) { return value instanceof Buffer; }
            static byteLength(value, encoding) { return typeof value === 'string' ? encode(value, encoding || 'utf8').length : value.length; }
            static concat(list, total) {
              if (total === undefined) total = list.reduce((n, b) => n + b.length, 0);
              const out = new Buffer(total);
              let at = 0;
              for (const b of list) { if (at >= total) break; out.set(b.subarray(0, total - at), at); at += b.length; }
              return out;
            }
          }
          return Buffer;
        })
        """;
}

internal static class JsValueChecks
{
    public static bool IsNullish(this JsValue value) => value.IsNull() || value.IsUndefined();
}
