using System.Globalization;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Function;

public sealed class TriggerOptions : NodeOptions
{
    static readonly string[] ValueTypes = ["str", "num", "json", "bool", "date", "env", "flow", "global", "msg", "bin", "pay", "payl", "nul", "val"];

    [Property("op1", Editor = PropertyEditor.TypedInput, TypeProperty = "op1type", Types = ["str", "num", "json", "bool", "date", "env", "flow", "global", "bin", "pay", "nul"], Label = "Send")]
    public string Op1 { get; set; } = "1";

    [Property("op1type", Editor = PropertyEditor.Hidden)]
    public string Op1Type { get; set; } = "val";

    [Property("op2", Editor = PropertyEditor.TypedInput, TypeProperty = "op2type", Types = ["str", "num", "json", "bool", "date", "env", "flow", "global", "bin", "pay", "payl", "nul"], Label = "then send")]
    public string Op2 { get; set; } = "0";

    [Property("op2type", Editor = PropertyEditor.Hidden)]
    public string Op2Type { get; set; } = "val";

    [Property("duration", Editor = PropertyEditor.Number, Help = "How long to wait; 0 waits for a reset; a negative value resends the first message at that interval until reset")]
    public double Duration { get; set; } = 250;

    [Property("units", Editor = PropertyEditor.Select, Choices = ["ms", "s", "min", "hr"])]
    public string Units { get; set; } = "ms";

    [Property("extend", Editor = PropertyEditor.Checkbox, Label = "Extend delay if new message arrives")]
    public bool Extend { get; set; }

    [Property("overrideDelay", Editor = PropertyEditor.Checkbox, Label = "Override delay with msg.delay (ms)")]
    public bool OverrideDelay { get; set; }

    [Property("reset", Help = "A payload value that resets the node (as well as any message with msg.reset)")]
    public string Reset { get; set; } = "";

    [Property("bytopic", Editor = PropertyEditor.Select, Choices = ["all", "topic"], Help = "all: one trigger for all messages; topic: one per value of the topic property")]
    public string ByTopic { get; set; } = "all";

    [Property("topic", Help = "The message property that tells topics apart")]
    public string Topic { get; set; } = "topic";

    [Property("outputs", Editor = PropertyEditor.Select, Choices = ["1", "2"], Help = "2: the second message leaves on a second output")]
    public int Outputs { get; set; } = 1;

    public TriggerValue First { get; private set; } = TriggerValue.Nothing;
    public TriggerValue Second { get; private set; } = TriggerValue.Nothing;
    public PropertyPath? TopicPath { get; private set; }
    public bool Loop => Duration < 0;
    public TimeSpan Wait { get; private set; }

    public override IEnumerable<OptionError> Validate()
    {
        var errors = new List<OptionError>();
        // Node-RED's runtime reads an empty value as its default ("1" / "0").
        First = Parse("op1", string.IsNullOrEmpty(Op1) ? "1" : Op1, Op1Type, allowLatest: false, errors);
        Second = Parse("op2", string.IsNullOrEmpty(Op2) ? "0" : Op2, Op2Type, allowLatest: true, errors);
        if (!PropertyPath.TryParse(string.IsNullOrEmpty(Topic) ? "topic" : Topic, out var path, out var error)) errors.Add(new OptionError("topic", error!));
        TopicPath = path;
        Wait = TimeSpan.FromMilliseconds(Math.Abs(Duration) * Units switch { "s" => 1000, "min" => 60_000, "hr" => 3_600_000, _ => 1 });
        if (Loop && Wait < TimeSpan.FromMilliseconds(1)) errors.Add(new OptionError("duration", "a repeat interval must be at least 1 ms"));
        return errors;
    }

    static TriggerValue Parse(string field, string text, string? type, bool allowLatest, List<OptionError> errors)
    {
        type = string.IsNullOrEmpty(type) ? "val" : type;
        if (type == "val")
        {
            // The editor's legacy "val" type: true/false are booleans, null is null, the rest text.
            if (text is "true" or "false") type = "bool";
            else if (text == "null") return new TriggerValue("value", null, null);
            else type = "str";
        }
        switch (type)
        {
            case "pay": return new TriggerValue("pay", null, null);
            case "payl" when allowLatest: return new TriggerValue("payl", null, null);
            case "nul": return TriggerValue.Nothing;
            case "str" when text.Contains("{{", StringComparison.Ordinal): return new TriggerValue("template", null, text);
        }
        if (!ValueTypes.Contains(type) || type is "payl")
        {
            errors.Add(new OptionError(field + "type", $"unsupported value type '{type}'"));
            return TriggerValue.Nothing;
        }
        try { return new TriggerValue("value", TypedValue.Parse(type, text), null); }
        catch (FormatException e)
        {
            errors.Add(new OptionError(field, e.Message));
            return TriggerValue.Nothing;
        }
    }
}

/// <summary>
/// A value the trigger sends. Kind: value (Typed, or null for JSON null), pay (the first message's
/// payload), payl (the latest message), template (mustache over the message) or nul (send nothing).
/// </summary>
public sealed record TriggerValue(string Kind, TypedValue? Typed, string? Template)
{
    public static readonly TriggerValue Nothing = new("nul", null, null);
    public bool SendsNothing => Kind == "nul";
}

[NodeType("trigger", Category = "function", Inputs = 1, Outputs = 1, OutputsProperty = "outputs", Color = "#e6e0f8", Icon = "trigger",
    Help = """
    When triggered, sends a message, then optionally a second message after a delay, unless
    extended or reset.

    ### Inputs
    : delay (number) : with *overrideDelay*, the delay in milliseconds for this trigger.
    : reset (any) : any message with this property resets the node: the pending second
      message is cancelled and nothing is sent. A payload equal to the *reset* option does the same.

    ### Outputs
    : payload (any) : the first value (*op1*) right away, then the second value (*op2*) after
      the delay. With *outputs* = 2 the second message leaves on the second output.

    ### Details
    While a trigger is pending further messages are ignored, unless *extend* is set: then each
    one restarts the delay. *duration* 0 waits for a reset (sending no second message); a
    negative duration resends the first message at that interval until reset. Units are
    ms, s, min, hr.

    Values: str, num, json, bool, date, env, flow, global, bin; `pay` keeps the incoming
    payload (op1) or sends the first message's payload (op2); `payl` (op2 only) sends the
    latest message received while waiting; `nul` sends nothing. A string containing `{{…}}` is
    a mustache template over the message. The second message is a copy of the first one with
    the second value as payload.

    With *bytopic* `topic`, each topic (the *topic* property, `msg.topic` by default) is timed
    separately.
    """)]
public sealed class TriggerNode : FlowNode<TriggerOptions>
{
    const string AllTopics = "_none";

    // Input processing and timers share the state and send in a fixed order: one at a time.
    readonly SemaphoreSlim _gate = new(1, 1);
    readonly Dictionary<string, Pending> _pending = new(StringComparer.Ordinal);
    readonly Dictionary<string, FlowMessage> _latest = new(StringComparer.Ordinal);

    sealed class Pending
    {
        public CancellationTokenSource? Timer;
        public object? SecondValue;
        public TimeSpan Wait;
    }

    public override async ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try { await ProcessAsync(message, cancellationToken); }
        finally { _gate.Release(); }
    }

    async ValueTask ProcessAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        var topic = TopicOf(message);
        if (IsReset(message))
        {
            if (_pending.Remove(topic, out var reset)) reset.Timer?.Cancel();
            _latest.Remove(topic);
            Context.SetStatus(NodeStatus.Clear);
            return;
        }
        if (Options.Second.Kind == "payl") _latest[topic] = message.Clone();

        var active = _pending.GetValueOrDefault(topic);
        if (active is null || Options.Loop)
        {
            active?.Timer?.Cancel();
            var state = new Pending { Wait = WaitFor(message) };
            state.SecondValue = Options.Second.Kind switch
            {
                "pay" => MessageValue.DeepClone(message.Payload),
                "template" => TemplateNode.RenderMustache(Options.Second.Template!, message, Context),
                "value" => Options.Second.Typed?.Evaluate(message, Context),
                _ => null,
            };
            switch (Options.First.Kind)
            {
                case "template": message.Payload = TemplateNode.RenderMustache(Options.First.Template!, message, Context); break;
                case "value": message.Payload = Options.First.Typed?.Evaluate(message, Context); break;
            }
            _pending[topic] = state;

            if (state.Wait == TimeSpan.Zero && !Options.Loop)
            {
                // Duration 0: blocked until a reset, no second message.
            }
            else if (Options.Loop)
            {
                if (!Options.First.SendsNothing) StartTimer(topic, state, message.Clone(), repeat: true);
            }
            else StartTimer(topic, state, message, repeat: false);

            Context.SetStatus(new NodeStatus("blue", "dot", " "));
            if (!Options.First.SendsNothing) await Context.SendAsync(0, message.Clone(), cancellationToken);
        }
        else if (Options.Extend && active.Wait > TimeSpan.Zero)
        {
            active.Timer?.Cancel();
            StartTimer(topic, active, message, repeat: false);
        }
        // Otherwise the message is ignored while the trigger is pending.
    }

    string TopicOf(FlowMessage message)
    {
        if (Options.ByTopic == "all") return AllTopics;
        var value = Options.TopicPath!.Get(message);
        return MessageValue.IsTruthy(value) ? MessageValue.ToText(value) : AllTopics;
    }

    bool IsReset(FlowMessage message)
    {
        if (message.Properties.ContainsKey("reset")) return true;
        if (Options.Reset.Length == 0 || !message.Properties.TryGetValue("payload", out var payload) || payload is null) return false;
        // JavaScript's payload.toString() == reset.
        var text = payload switch
        {
            Dictionary<string, object?> => "[object Object]",
            List<object?> list => string.Join(",", list.Select(item => item is null ? "" : MessageValue.ToText(item))),
            _ => MessageValue.ToText(payload),
        };
        return text == Options.Reset;
    }

    TimeSpan WaitFor(FlowMessage message)
    {
        if (Options.OverrideDelay && message["delay"] is { } delay)
        {
            var ms = MessageValue.ToNumber(delay);
            if (!double.IsNaN(ms) && delay is not bool) return TimeSpan.FromMilliseconds(Math.Max(0, ms));
        }
        return Options.Wait;
    }

    void StartTimer(string topic, Pending state, FlowMessage basis, bool repeat)
    {
        var timer = CancellationTokenSource.CreateLinkedTokenSource(Context.Stopping);
        state.Timer = timer;
        _ = repeat ? RepeatAsync(state, basis, timer.Token) : FireOnceAsync(topic, state, basis, timer.Token);
    }

    async Task FireOnceAsync(string topic, Pending state, FlowMessage basis, CancellationToken token)
    {
        try
        {
            await Task.Delay(state.Wait, token);
            await _gate.WaitAsync(token);
        }
        catch (OperationCanceledException) { return; }
        try
        {
            // A reset or an extension replaced this timer while it waited for the gate.
            if (token.IsCancellationRequested || !_pending.TryGetValue(topic, out var current) || current != state) return;
            _pending.Remove(topic);
            Context.SetStatus(NodeStatus.Clear);
            if (Options.Second.SendsNothing) return;

            FlowMessage second;
            if (Options.Second.Kind == "payl" && _latest.Remove(topic, out var latest)) second = latest;
            else
            {
                second = basis.Clone();
                // flow and global values are read when the second message goes out.
                second.Payload = Options.Second.Typed is { Type: "flow" or "global" } typed ? typed.Evaluate(basis, Context) : MessageValue.DeepClone(state.SecondValue);
            }
            await Context.SendAsync(Options.Outputs == 2 ? 1 : 0, second, Context.Stopping);
        }
        catch (OperationCanceledException) { }
        catch (Exception e) { Context.ReportError($"sending the second message failed: {e.Message}", basis, e); }
        finally { _gate.Release(); }
    }

    async Task RepeatAsync(Pending state, FlowMessage basis, CancellationToken token)
    {
        using var ticks = new PeriodicTimer(state.Wait);
        try
        {
            while (await ticks.WaitForNextTickAsync(token))
            {
                await _gate.WaitAsync(token);
                try
                {
                    if (!token.IsCancellationRequested) await Context.SendAsync(0, basis.Clone(), token);
                }
                finally { _gate.Release(); }
            }
        }
        catch (OperationCanceledException) { }
    }

    public override Task StopAsync(CancellationToken cancellationToken)
    {
        // Timers end with Context.Stopping, which the runtime cancelled before calling this.
        Context.SetStatus(NodeStatus.Clear);
        return Task.CompletedTask;
    }
}
