using System.Text.Json.Serialization;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Common;

/// <summary>One property an inject node sets: Node-RED's <c>props[]</c> entry.</summary>
public sealed class InjectProperty
{
    [JsonPropertyName("p")] public string P { get; set; } = "payload";
    [Property("v", Editor = PropertyEditor.TypedInput, TypeProperty = "vt", Label = "value")]
    [JsonPropertyName("v")] public string? V { get; set; }
    [Property("vt", Editor = PropertyEditor.Hidden, Types = ["str", "num", "bool", "json", "bin", "date", "env", "flow", "global", "jsonata"])]
    [JsonPropertyName("vt")] public string? Vt { get; set; }
}

public sealed class InjectOptions : NodeOptions
{
    [Property("props", Editor = PropertyEditor.List, Help = "Properties of the message to set")]
    public List<InjectProperty>? Props { get; set; }

    [Property("payload", Editor = PropertyEditor.TypedInput, TypeProperty = "payloadType")]
    public string Payload { get; set; } = "";

    [Property("payloadType", Editor = PropertyEditor.Hidden, Types = ["date", "str", "num", "bool", "json", "bin", "env", "flow", "global", "jsonata"])]
    public string PayloadType { get; set; } = "date";

    [Property("topic")]
    public string Topic { get; set; } = "";

    [Property("repeat", Editor = PropertyEditor.Number, Min = 0, Help = "Seconds between messages; empty or 0 for none")]
    public double Repeat { get; set; }

    [Property("crontab", Help = "Cron schedule (minute hour day month weekday)")]
    public string Crontab { get; set; } = "";

    [Property("once", Editor = PropertyEditor.Checkbox, Label = "Inject once after start")]
    public bool Once { get; set; }

    [Property("onceDelay", Editor = PropertyEditor.Number, Min = 0, Help = "Seconds to wait before the first message")]
    public double OnceDelay { get; set; } = 0.1;

    /// <summary>The properties to set, parsed: (path, value), with the legacy payload/topic fields folded in.</summary>
    [JsonIgnore] public IReadOnlyList<(PropertyPath Path, TypedValue Value)> Parsed { get; private set; } = [];

    [JsonIgnore] public Cronos.CronExpression? Schedule { get; private set; }

    public override IEnumerable<OptionError> Validate()
    {
        var errors = new List<OptionError>();
        var props = Props ?? [new InjectProperty { P = "payload" }, new InjectProperty { P = "topic", Vt = "str" }];
        var parsed = new List<(PropertyPath, TypedValue)>();
        foreach (var prop in props)
        {
            // Node-RED keeps payload and topic at the node level and leaves v/vt out of props.
            var (value, type) = prop.P switch
            {
                "payload" when prop.V is null => (Payload, PayloadType),
                "topic" when prop.V is null => (Topic, "str"),
                _ => (prop.V ?? "", prop.Vt ?? "str"),
            };
            try { parsed.Add((PropertyPath.Parse(prop.P), TypedValue.Parse(type, value))); }
            catch (FormatException e) { errors.Add(new OptionError(prop.P == "payload" ? "payload" : "props", $"{prop.P}: {e.Message}")); }
        }
        Parsed = parsed;
        if (!string.IsNullOrWhiteSpace(Crontab))
        {
            try { Schedule = Cronos.CronExpression.Parse(Crontab.Trim(), Crontab.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries).Length == 6 ? Cronos.CronFormat.IncludeSeconds : Cronos.CronFormat.Standard); }
            catch (Cronos.CronFormatException e) { errors.Add(new OptionError("crontab", $"is not a valid cron expression: {e.Message}")); }
        }
        if (Repeat > 0 && Repeat < 0.001) errors.Add(new OptionError("repeat", "must be at least 0.001 seconds"));
        return errors;
    }
}

[NodeType("inject", Category = "common", Inputs = 0, Outputs = 1, Color = "#a6bbcf", Icon = "inject",
    Help = """
    Injects a message into a flow, by hand (the button, or `POST /inject/:id`), once after start,
    at a repeating interval or on a cron schedule.

    ### Outputs
    : payload (various) : the configured payload; by default the current time in milliseconds.
    : topic (string) : the configured topic.

    ### Details
    Every entry of *props* sets one message property from a typed value (msg, flow, global,
    str, num, bool, json, bin, date, env, jsonata). *repeat* is in seconds; *crontab* takes a
    standard five-field cron expression (or six, with seconds first), which is also how
    Node-RED's editor writes "interval between times" (`*/10 8-17 * * 1-5`: every 10 minutes
    from 08:00 to 17:50 on weekdays). When both are set, *repeat* wins, as in Node-RED. With
    *once*, the first message goes *onceDelay* seconds after start and the repeat starts then.
    """)]
public sealed class InjectNode : FlowNode<InjectOptions>, IInjectable
{
    Timer? _timer;
    CancellationTokenSource? _schedule;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        // As Node-RED: "once" fires after its delay (0 counts as 0.1 s) and only then starts the repeat.
        if (Options.Once) _ = FireOnceThenRepeatAsync(TimeSpan.FromSeconds(Options.OnceDelay > 0 ? Options.OnceDelay : 0.1));
        else StartRepeating();
        return Task.CompletedTask;
    }

    async Task FireOnceThenRepeatAsync(TimeSpan delay)
    {
        try { await Task.Delay(delay, Context.Stopping); }
        catch (OperationCanceledException) { return; }
        await FireAsync();
        if (!Context.Stopping.IsCancellationRequested) StartRepeating();
    }

    // An interval wins over a cron schedule, as in Node-RED (its editor sets only one of them).
    void StartRepeating()
    {
        if (Options.Repeat > 0)
        {
            var period = TimeSpan.FromSeconds(Options.Repeat);
            _timer = new Timer(_ => _ = FireAsync(), null, period, period);
        }
        else if (Options.Schedule is { } schedule)
        {
            _schedule = CancellationTokenSource.CreateLinkedTokenSource(Context.Stopping);
            _ = RunScheduleAsync(schedule, _schedule.Token);
        }
    }

    async Task RunScheduleAsync(Cronos.CronExpression schedule, CancellationToken token)
    {
        var from = DateTimeOffset.Now;
        while (!token.IsCancellationRequested)
        {
            // The next occurrence after the last one fired, so a timer that wakes a little early
            // cannot fire the same occurrence twice; occurrences missed while busy are skipped.
            var next = schedule.GetNextOccurrence(from, TimeZoneInfo.Local);
            if (next is null) return;
            try
            {
                for (var wait = next.Value - DateTimeOffset.Now; wait > TimeSpan.Zero; wait = next.Value - DateTimeOffset.Now)
                    await Task.Delay(wait, token);
            }
            catch (OperationCanceledException) { return; }
            await FireAsync();
            var now = DateTimeOffset.Now;
            from = now > next.Value ? now : next.Value;
        }
    }

    public Task InjectAsync(CancellationToken cancellationToken) => FireAsync();

    async Task FireAsync()
    {
        try
        {
            var message = new FlowMessage();
            foreach (var (path, value) in Options.Parsed) path.Set(message, value.Evaluate(message, Context));
            await Context.SendAsync(0, message, Context.Stopping);
        }
        catch (OperationCanceledException) { }
        catch (Exception e) { Context.ReportError($"inject failed: {e.Message}", null, e); }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_timer is not null) await _timer.DisposeAsync();
        _schedule?.Cancel();
    }
}
