using System.Reflection;
using Jint;
using Jint.Native;
using Jint.Runtime;
using Acornima.Ast;

namespace FlowServer.Nodes.Sdk;

/// <summary>
/// A JSONata expression, as Node-RED's typed inputs, change, switch, join and sort nodes use
/// them: the npm package <c>jsonata</c> (embedded at build) run by Jint, compiled once per deploy
/// and evaluated against a message. Like Node-RED, it offers <c>$flowContext(key[, store])</c>,
/// <c>$globalContext(key[, store])</c> (there is one store, so the store name is accepted and
/// ignored), <c>$env(name)</c> ("" when not set) and <c>$clone(value)</c>. Each expression has
/// its own engine with time, memory and recursion limits; evaluation is serialised.
/// </summary>
public sealed class JsonataExpression
{
    /// <summary>Longest a single evaluation may run before it fails.</summary>
    public static readonly TimeSpan EvaluationTimeout = TimeSpan.FromSeconds(2);

    static readonly TimeSpan LibraryLoadTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Jint's time limit, with a budget that can change after the library is loaded.</summary>
    sealed class Deadline : Constraint
    {
        long _started;
        public TimeSpan Budget { get; set; }
        public override void Reset() => _started = System.Diagnostics.Stopwatch.GetTimestamp();
        public override void Check()
        {
            if (System.Diagnostics.Stopwatch.GetElapsedTime(_started) > Budget) throw new TimeoutException();
        }
    }

    static readonly Lazy<Prepared<Script>> Library = new(() =>
    {
        using var stream = typeof(JsonataExpression).Assembly.GetManifestResourceStream("jsonata.js")
            ?? throw new InvalidOperationException("the jsonata library is not embedded in FlowServer.Nodes.Sdk (build it with network access to the npm registry)");
        using var reader = new StreamReader(stream);
        return Engine.PrepareScript(reader.ReadToEnd(), "jsonata.js");
    });

    // Glue: the compiled expression, Node-RED's extra functions, and JSON in and out (values
    // cross between .NET and JavaScript as JSON text, so no CLR object reaches the script).
    const string Glue = """
        var __expr = jsonata(__source);
        __expr.registerFunction('flowContext', function (key, store) { var j = __flow(key); return j === null ? undefined : JSON.parse(j); }, '<ss?:x>');
        __expr.registerFunction('globalContext', function (key, store) { var j = __global(key); return j === null ? undefined : JSON.parse(j); }, '<ss?:x>');
        __expr.registerFunction('env', function (name) { var v = __env(name); return v === null ? '' : v; }, '<s:s>');
        __expr.registerFunction('clone', function (v) { return v === undefined ? undefined : JSON.parse(JSON.stringify(v)); }, '<x:x>');
        function __evaluate(input, bindings) {
          var root = input === null ? undefined : JSON.parse(input);
          return __expr.evaluate(__legacy ? { msg: root } : root, bindings === null ? undefined : JSON.parse(bindings));
        }
        function __result(value) { return value === undefined ? null : JSON.stringify(value); }
        """;

    // Node-RED's rule: an expression that names `msg` (not as part of a longer name, a string or
    // a path step) is evaluated against {msg: …}, so `msg.payload * 2` works as in older flows.
    static readonly System.Text.RegularExpressions.Regex LegacyMessageReference = new(@"(^|[^a-zA-Z0-9_'"".])msg([^a-zA-Z0-9_'""]|$)");

    static readonly System.Text.RegularExpressions.Regex MomentCall = new(@"\$moment\s*\(");

    readonly Engine _engine;
    readonly Lock _gate = new();
    INodeContext? _context;

    JsonataExpression(string text, Engine engine)
    {
        Text = text;
        _engine = engine;
    }

    /// <summary>The expression as written in the flow.</summary>
    public string Text { get; }

    /// <summary>
    /// Compiles an expression. Throws <see cref="FormatException"/> with JSONata's message and
    /// position, fit for a deploy error (the caller adds node and field).
    /// </summary>
    public static JsonataExpression Compile(string text)
    {
        // Node-RED adds moment.js as $moment; it is not embedded here, so say so at deploy rather than fail per message.
        if (MomentCall.IsMatch(text)) throw new FormatException("$moment() is not supported in JSONata here (use $now(), $millis() or $fromMillis())");
        // Loading the library is not an evaluation: on a busy machine it may take longer than one may.
        var deadline = new Deadline { Budget = LibraryLoadTimeout };
        var engine = ScriptEngines.Create(options => options
            .Constraint(deadline)
            .LimitMemory(64_000_000)
            .LimitRecursion(1000)
            .Strict(false));
        var expression = new JsonataExpression(text, engine);
        engine.SetValue("__source", text);
        engine.SetValue("__legacy", LegacyMessageReference.IsMatch(text));
        engine.SetValue("__flow", new Func<string, string?>(key => expression.ContextJson(c => c.FlowContext, key)));
        engine.SetValue("__global", new Func<string, string?>(key => expression.ContextJson(c => c.GlobalContext, key)));
        engine.SetValue("__env", new Func<string, string?>(name => expression._context?.GetEnv(name)));
        engine.Execute(Library.Value);
        try { engine.Execute(Glue); }
        catch (JavaScriptException e) { throw new FormatException($"invalid JSONata expression: {Describe(e)}"); }
        deadline.Budget = EvaluationTimeout;
        return expression;
    }

    /// <summary>
    /// Evaluates against a message (the expression's root is the msg object, or <c>{msg}</c> when
    /// the expression names <c>msg</c>, as in Node-RED) with optional
    /// extra variables (<c>$A</c>, <c>$N</c> of join's reduce mode). Returns the result as a
    /// message value (null for JSONata's undefined). Throws <see cref="FlowNodeException"/>
    /// when evaluation fails or runs over its time.
    /// </summary>
    public object? Evaluate(FlowMessage? message, INodeContext? context, IReadOnlyDictionary<string, object?>? bindings = null) =>
        EvaluateJson(message is null ? null : MessageJson.Serialize(message.Properties), context, bindings);

    /// <summary>Evaluates against any value as the root (sort keys evaluate against a payload element).</summary>
    public object? EvaluateOn(object? root, INodeContext? context, IReadOnlyDictionary<string, object?>? bindings = null) =>
        EvaluateJson(MessageJson.Serialize(root), context, bindings);

    object? EvaluateJson(string? input, INodeContext? context, IReadOnlyDictionary<string, object?>? bindings)
    {
        var bindingJson = bindings is null ? null : MessageJson.Serialize(bindings.ToDictionary(b => b.Key, b => b.Value));
        lock (_gate)
        {
            _context = context;
            try
            {
                var result = _engine.Invoke("__evaluate", input is null ? JsValue.Null : input, bindingJson is null ? JsValue.Null : bindingJson).UnwrapIfPromise();
                var json = _engine.Invoke("__result", result);
                return json.IsNull() ? null : MessageJson.Parse(json.AsString());
            }
            catch (JavaScriptException e) { throw new FlowNodeException($"JSONata expression '{Text}' failed: {Describe(e)}"); }
            catch (PromiseRejectedException e) { throw new FlowNodeException($"JSONata expression '{Text}' failed: {e.Message}"); }
            catch (TimeoutException) { throw new FlowNodeException($"JSONata expression '{Text}' ran longer than {EvaluationTimeout.TotalSeconds} s"); }
            catch (MemoryLimitExceededException) { throw new FlowNodeException($"JSONata expression '{Text}' used more than 64 MB"); }
            catch (RecursionDepthOverflowException) { throw new FlowNodeException($"JSONata expression '{Text}' recursed too deep"); }
            finally { _context = null; }
        }
    }

    string? ContextJson(Func<INodeContext, IContextStore> store, string key) =>
        _context is null ? null : store(_context).Get(key) is { } value ? MessageJson.Serialize(value) : null;

    // JSONata errors are objects with a message and the position in the expression.
    static string Describe(JavaScriptException e)
    {
        var error = e.Error;
        var position = error.IsObject() && error.AsObject().Get("position") is { } p && p.IsNumber() ? $" (at character {p.AsNumber()})" : "";
        return e.Message + position;
    }
}
