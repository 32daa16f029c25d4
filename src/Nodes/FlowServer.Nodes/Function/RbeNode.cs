using System.Globalization;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Function;

public sealed class RbeOptions : NodeOptions
{
    [Property("func", Editor = PropertyEditor.Select, Choices = ["rbe", "rbei", "deadband", "deadbandEq", "narrowband", "narrowbandEq"], Label = "Mode",
        Help = "rbe: block unless the value changes; rbei: same, ignoring the first value; deadband(Eq): block unless it changes by more than (or by at least) the gap; narrowband(Eq): block if it changes by more than (or by at least) the gap")]
    public string Func { get; set; } = "rbe";

    [Property("gap", Help = "The band gap: a number, or a percentage of the previous value such as \"10%\"")]
    public string Gap { get; set; } = "";

    [Property("start", Editor = PropertyEditor.Number, Help = "Narrowband: the value to compare the first message against (empty = the first value itself)")]
    public string Start { get; set; } = "";

    [Property("inout", Editor = PropertyEditor.Select, Choices = ["out", "in"], Help = "Compare against the last value sent (out) or the last value received (in)")]
    public string InOut { get; set; } = "out";

    [Property("septopics", Editor = PropertyEditor.Checkbox, Label = "Apply mode separately for each topic")]
    public bool SeparateTopics { get; set; } = true;

    [Property("property", Help = "Message property holding the value")]
    public string Property { get; set; } = "payload";

    [Property("topi", Help = "Message property holding the topic")]
    public string TopicProperty { get; set; } = "topic";

    public PropertyPath? Path { get; private set; }
    public PropertyPath? TopicPath { get; private set; }
    public double GapValue { get; private set; }
    public bool GapIsPercent { get; private set; }
    public double? StartValue { get; private set; }

    public override IEnumerable<OptionError> Validate()
    {
        var errors = new List<OptionError>();
        if (!PropertyPath.TryParse(string.IsNullOrEmpty(Property) ? "payload" : Property, out var path, out var error)) errors.Add(new OptionError("property", error!));
        if (!PropertyPath.TryParse(string.IsNullOrEmpty(TopicProperty) ? "topic" : TopicProperty, out var topicPath, out error)) errors.Add(new OptionError("topi", error!));
        Path = path;
        TopicPath = topicPath;
        var gap = Gap.Trim();
        GapIsPercent = gap.EndsWith('%');
        if (GapIsPercent) gap = gap[..^1].Trim();
        if (gap.Length == 0) GapValue = 0;
        else if (double.TryParse(gap, NumberStyles.Float, CultureInfo.InvariantCulture, out var g) && g >= 0) GapValue = g;
        else errors.Add(new OptionError("gap", $"must be a number of at least 0 or a percentage such as \"10%\", got '{Gap}'"));
        if (Start.Trim().Length > 0)
        {
            if (double.TryParse(Start.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var s)) StartValue = s;
            else errors.Add(new OptionError("start", $"must be a number or empty, got '{Start}'"));
        }
        return errors;
    }
}

[NodeType("rbe", Category = "function", Inputs = 1, Outputs = 1, Color = "#e2d96e", Icon = "rbe", PaletteLabel = "filter",
    Help = """
    Report by exception: passes a message on only when its value changed, or changed by more
    (or less) than a band gap.

    ### Inputs
    : payload (number | string | object) : *rbe* modes compare any value (objects deeply);
      the band modes need a number (a string starting with a number is read as one).
    : topic (string) : with *septopics* (the default) each topic is tracked separately.
    : reset (any) : clears the stored value of the message's topic (or all, without a topic);
      the message itself is then processed as usual.

    ### Details
    *rbe* sends when the value differs from the previous one; *rbei* also stays silent for the
    first value of a topic. *deadband* sends when the value moves more than the gap away from
    the previous value (*deadbandEq*: at least the gap); the first value always passes.
    *narrowband* sends when it stays within the gap (inclusive; *narrowbandEq*: strictly within),
    which filters outliers; *start* sets the first reference value.

    The gap is a number or a percentage of the previous value (`"10%"`). *inout* `out`
    compares against the last value sent, `in` against the last value received. Messages
    without the property are ignored; a band mode value that is not a number is dropped with
    a warning.
    """)]
public sealed class RbeNode : FlowNode<RbeOptions>, IRunsInline
{
    const string NoTopic = "_no_topic";
    readonly Dictionary<string, object?> _previous = new(StringComparer.Ordinal);

    public override ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        var topicValue = Options.TopicPath!.Get(message);
        var topic = MessageValue.IsTruthy(topicValue) ? MessageValue.ToText(topicValue) : null;
        if (message.Properties.ContainsKey("reset"))
        {
            if (Options.SeparateTopics && topicValue is string { Length: > 0 } text) _previous.Remove(text);
            else _previous.Clear();
        }
        if (!Options.Path!.TryGet(message.Properties, out var value)) return ValueTask.CompletedTask;

        var key = Options.SeparateTopics ? topic ?? NoTopic : NoTopic;
        var send = Options.Func is "rbe" or "rbei" ? ByChange(key, value) : ByBand(key, value);
        return send ? Context.SendAsync(0, message, cancellationToken) : ValueTask.CompletedTask;
    }

    bool ByChange(string key, object? value)
    {
        var seen = _previous.TryGetValue(key, out var previous);
        var send = Options.Func != "rbei" || seen;
        // As Node-RED: an object is compared against an empty object when nothing comparable was stored.
        if (IsObject(value) && (!seen || !IsObject(previous))) _previous[key] = previous = new Dictionary<string, object?>();
        else if (!IsObject(value) && !seen) return Store(key, value, send);
        if (MessageValue.DeepEquals(value, previous)) return false;
        return Store(key, value, send);
    }

    bool Store(string key, object? value, bool send)
    {
        _previous[key] = MessageValue.DeepClone(value);
        return send;
    }

    // JavaScript's typeof: null, arrays, objects and Buffers are all "object".
    static bool IsObject(object? value) => value is null or Dictionary<string, object?> or List<object?> or byte[];

    bool ByBand(string key, object? value)
    {
        var n = ParseFloat(value);
        if (double.IsNaN(n))
        {
            Context.Warn($"no number found in {Options.Path!.Text}");
            return false;
        }
        var func = Options.Func;
        double? previous = _previous.TryGetValue(key, out var stored) ? (double?)stored : null;
        if (previous is null && func is "narrowband" or "narrowbandEq") previous = Options.StartValue ?? n;
        var gap = Options.GapIsPercent ? Math.Abs((previous ?? double.NaN) * Options.GapValue / 100) : Options.GapValue;
        if (double.IsNaN(gap)) gap = 0;
        // Without a previous value the first one always clears a deadband.
        var reference = previous ?? n - gap - 1;

        var difference = Math.Abs(n - reference);
        var send = difference == gap ? func is "deadbandEq" or "narrowband"
            : difference > gap ? func is "deadband" or "deadbandEq"
            : func is "narrowband" or "narrowbandEq";
        if (Options.InOut == "in" || send) _previous[key] = n;
        else _previous[key] = reference;
        return send;
    }

    // JavaScript's parseFloat: the longest numeric prefix of the text, NaN when there is none.
    static double ParseFloat(object? value)
    {
        if (MessageValue.AsNumber(value) is { } number) return number;
        var text = value switch
        {
            string s => s,
            List<object?> { Count: > 0 } list => MessageValue.ToText(list[0]),
            _ => null,
        };
        if (text is null) return double.NaN;
        text = text.TrimStart();
        for (var length = text.Length; length > 0; length--)
        {
            var prefix = text[..length];
            if (prefix.EndsWith('e') || prefix.EndsWith('E') || prefix.Contains(',')) continue;
            if (double.TryParse(prefix, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out var parsed)) return parsed;
        }
        if (text.StartsWith("Infinity", StringComparison.Ordinal) || text.StartsWith("+Infinity", StringComparison.Ordinal)) return double.PositiveInfinity;
        if (text.StartsWith("-Infinity", StringComparison.Ordinal)) return double.NegativeInfinity;
        return double.NaN;
    }
}
