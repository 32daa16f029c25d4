using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Function;

/// <summary>One rule of a switch node, as Node-RED writes it.</summary>
public sealed class SwitchRule
{
    /// <summary>The operator (the choices are the ones validation accepts).</summary>
    [Property("t", Editor = PropertyEditor.Select, Label = "rule", Choices = ["eq", "neq", "lt", "lte", "gt", "gte", "btwn", "cont", "regex", "true", "false", "null", "nnull", "istype", "empty", "nempty", "head", "tail", "index", "hask", "jsonata_exp", "else"])]
    [JsonPropertyName("t")] public string? T { get; set; }
    [Property("v", Editor = PropertyEditor.TypedInput, TypeProperty = "vt", Label = "value")]
    [JsonPropertyName("v")] public string? V { get; set; }
    [Property("vt", Editor = PropertyEditor.Hidden, Types = ["str", "num", "bool", "json", "msg", "flow", "global", "env", "prev", "jsonata"])]
    [JsonPropertyName("vt")] public string? Vt { get; set; }
    [Property("v2", Editor = PropertyEditor.TypedInput, TypeProperty = "v2t", Label = "and (between, index)")]
    [JsonPropertyName("v2")] public string? V2 { get; set; }
    [Property("v2t", Editor = PropertyEditor.Hidden, Types = ["num", "str", "msg", "flow", "global", "env", "prev", "jsonata"])]
    [JsonPropertyName("v2t")] public string? V2t { get; set; }
    /// <summary>For regex: ignore case.</summary>
    [Property("case", Label = "ignore case")]
    [JsonPropertyName("case")] public bool Case { get; set; }
}

public sealed class SwitchOptions : NodeOptions
{
    static readonly string[] Operators = PropertyAttribute.ChoicesOf(typeof(SwitchRule), nameof(SwitchRule.T));
    static readonly string[] NoValue = ["true", "false", "null", "nnull", "empty", "nempty", "else"];
    static readonly string[] TypeNames = ["string", "number", "boolean", "array", "buffer", "object", "json", "null", "undefined"];

    [Property("property", Editor = PropertyEditor.TypedInput, TypeProperty = "propertyType", Help = "The property whose value the rules test")]
    public string Property { get; set; } = "payload";

    [Property("propertyType", Editor = PropertyEditor.Hidden, Types = ["msg", "flow", "global", "env", "jsonata"], Help = "Where the tested property lives: msg, flow, global or env; or a JSONata expression")]
    public string PropertyType { get; set; } = "msg";

    [Property("rules", Editor = PropertyEditor.List, Help = "Rules tested in order; rule n sends on output n")]
    public List<SwitchRule> Rules { get; set; } = [new() { T = "eq", V = "", Vt = "str" }];

    [Property("checkall", Editor = PropertyEditor.Select, Choices = ["true", "false"], Label = "Checking", Help = "true: send on every matching rule's output; false: stop after the first match")]
    public bool CheckAll { get; set; } = true;

    [Property("repair", Editor = PropertyEditor.Checkbox, Help = "Recreate message sequences: buffer each whole sequence (msg.parts) and renumber parts.index/count per output")]
    public bool Repair { get; set; }

    [Property("outputs", Editor = PropertyEditor.Hidden, Min = 0, Help = "Number of outputs: one per rule")]
    public int Outputs { get; set; } = 1;

    [JsonIgnore] internal TypedValue? Subject { get; private set; }
    [JsonIgnore] internal IReadOnlyList<CompiledSwitchRule> Compiled { get; private set; } = [];

    public override IEnumerable<OptionError> Validate()
    {
        var errors = new List<OptionError>();
        var type = string.IsNullOrEmpty(PropertyType) ? "msg" : PropertyType;
        if (type is not ("msg" or "flow" or "global" or "env" or "jsonata")) errors.Add(new OptionError("propertyType", $"must be msg, flow, global, env or jsonata, got '{type}'"));
        else
        {
            try { Subject = TypedValue.Parse(type, string.IsNullOrEmpty(Property) && type == "msg" ? "payload" : Property); }
            catch (FormatException e) { errors.Add(new OptionError("property", e.Message)); }
        }

        var compiled = new List<CompiledSwitchRule>();
        for (var i = 0; i < Rules.Count; i++)
        {
            var rule = Rules[i];
            var at = $"rules[{i}]";
            void Fail(string text) => errors.Add(new OptionError("rules", $"{at}.{text}"));

            var op = rule.T ?? "";
            if (!Operators.Contains(op)) { Fail($"t must be one of {string.Join(", ", Operators)}, got '{op}'"); continue; }
            if (NoValue.Contains(op)) { compiled.Add(new CompiledSwitchRule(op, null, null, null, null)); continue; }
            switch (op)
            {
                case "regex":
                    try { compiled.Add(new CompiledSwitchRule(op, null, null, new Regex(rule.V ?? "", RegexOptions.CultureInvariant | (rule.Case ? RegexOptions.IgnoreCase : 0)), null)); }
                    catch (ArgumentException e) { Fail($"v invalid regular expression: {e.Message}"); }
                    continue;
                case "istype":
                    if (!TypeNames.Contains(rule.V)) { Fail($"v must be one of {string.Join(", ", TypeNames)}, got '{rule.V}'"); continue; }
                    compiled.Add(new CompiledSwitchRule(op, null, null, null, rule.V));
                    continue;
            }
            // A JSONata rule's value is always an expression, whatever vt says.
            var value = ParseValue(op == "jsonata_exp" ? "jsonata" : rule.Vt, rule.V, "v", Fail, op);
            if (value is null) continue;
            SwitchValue? second = null;
            if (op is "btwn" or "index")
            {
                second = ParseValue(rule.V2t, rule.V2, "v2", Fail, op);
                if (second is null) continue;
            }
            compiled.Add(new CompiledSwitchRule(op, value, second, null, null));
        }
        Compiled = compiled;
        if (Rules.Count > Outputs) errors.Add(new OptionError("outputs", $"is {Outputs} but there are {Rules.Count} rules; every rule needs its own output"));
        return errors;
    }

    static SwitchValue? ParseValue(string? type, string? text, string field, Action<string> fail, string op)
    {
        type = string.IsNullOrEmpty(type) ? (op is "head" or "tail" or "index" ? "num" : "str") : type;
        if (type == "prev") return SwitchValue.Previous;
        try { return new SwitchValue(TypedValue.Parse(type, text)); }
        catch (FormatException e) { fail($"{field} {e.Message}"); return null; }
    }
}

/// <summary>A rule's comparison value: a typed input, or the previous value of the property (<c>prev</c>).</summary>
internal sealed record SwitchValue(TypedValue? Typed)
{
    public static readonly SwitchValue Previous = new((TypedValue?)null);
}

internal sealed record CompiledSwitchRule(string Operator, SwitchValue? Value, SwitchValue? Value2, Regex? Pattern, string? TypeName);

[NodeType("switch", Category = "function", Inputs = 1, Outputs = 1, OutputsProperty = "outputs", OutputsFrom = "rules", Color = "#e2d96e", Icon = "switch",
    Help = """
    Routes messages by the value of a property: each rule that matches sends the message on
    its own output.

    ### Inputs
    : msg (object) : the message to route.

    ### Outputs
    : msg (object) : the message, on the output of every matching rule (clones after the first).

    ### Details
    The tested value is a msg, flow or global property or an environment variable. Rules:

    * `==` `!=` `<` `<=` `>` `>=` compare like JavaScript (`"5" == 5`); the value may be a string,
      number, msg/flow/global property, env variable or the property's previous value.
    * *is between* (inclusive, either order), *contains* (as text), *matches regex*
      (optionally ignoring case), *has key* (an object's key, or an array's or string's index).
    * *is true / false / null / not null*, *is of type* (string, number, boolean, array,
      buffer, object, json, null, undefined), *is empty / not empty* (string, array, buffer,
      object).
    * *head / tail / index* test `msg.parts.index` (and `count`) of a message sequence.
    * *otherwise* matches when no earlier rule matched.

    With *checking* set to stop after the first match, only the first matching output gets
    the message. *jsonata_exp* rules match when their JSONata expression (evaluated against the
    message) gives `true`; the tested property may itself be a JSONata expression. With *repair*
    (recreate message sequences) each whole sequence is buffered and every output gets its own
    sequence: a new `parts.id`, `parts.index` renumbered from 0 and `parts.count` set to what
    that output got.
    """)]
public sealed class SwitchNode : FlowNode<SwitchOptions>, IRunsInline
{
    // Node-RED's previous value starts as null; it is undefined after a message without the property.
    object? _previous;
    bool _hasPrevious = true;

    // Sequences being buffered for repair, by parts.id.
    readonly Dictionary<string, List<FlowMessage>> _sequences = [];

    public override async ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        if (Options.Repair && message["parts"] is Dictionary<string, object?> parts && parts.GetValueOrDefault("id") is { } id)
        {
            await RepairAsync(MessageValue.ToText(id), parts, message, cancellationToken);
            return;
        }
        foreach (var (port, outgoing) in Route(message)) await Context.SendAsync(port, outgoing, cancellationToken);
    }

    // Holds a sequence until all of it (parts.count) is in, routes every message, then gives each
    // output's messages a sequence of their own: a new id, index 0..n-1 and count n, in arrival order.
    async ValueTask RepairAsync(string id, Dictionary<string, object?> parts, FlowMessage message, CancellationToken cancellationToken)
    {
        if (!_sequences.TryGetValue(id, out var buffered)) _sequences[id] = buffered = [];
        buffered.Add(message);
        if (MessageValue.AsNumber(parts.GetValueOrDefault("count")) is not { } count || buffered.Count < count) return;
        _sequences.Remove(id);
        var byPort = new SortedDictionary<int, List<FlowMessage>>();
        foreach (var item in buffered)
            foreach (var (port, outgoing) in Route(item))
            {
                if (!byPort.TryGetValue(port, out var list)) byPort[port] = list = [];
                list.Add(outgoing);
            }
        foreach (var (port, list) in byPort)
        {
            var sequenceId = FlowMessage.NewMessageId(); // each output's sequence is a new one, as in Node-RED
            for (var i = 0; i < list.Count; i++)
            {
                if (list[i]["parts"] is Dictionary<string, object?> p)
                {
                    var renumbered = new Dictionary<string, object?>(p) { ["id"] = sequenceId, ["index"] = (double)i, ["count"] = (double)list.Count };
                    list[i]["parts"] = renumbered;
                }
                await Context.SendAsync(port, list[i], cancellationToken);
            }
        }
    }

    List<(int Port, FlowMessage Message)> Route(FlowMessage message)
    {
        var routed = new List<(int, FlowMessage)>();
        var present = TryReadSubject(message, out var subject);
        var rules = Options.Compiled;
        var matched = false;
        var sent = false;
        for (var port = 0; port < rules.Count; port++)
        {
            var rule = rules[port];
            var hit = rule.Operator == "else" ? !matched : Test(rule, subject, present, message);
            if (!hit) continue;
            matched = true;
            // Node-RED sends the original on the first matching output and clones on the others.
            routed.Add((port, sent ? message.Clone() : message));
            sent = true;
            if (!Options.CheckAll) break;
        }
        _previous = MessageValue.DeepClone(subject);
        _hasPrevious = present;
        return routed;
    }

    bool TryReadSubject(FlowMessage message, out object? value)
    {
        var subject = Options.Subject!;
        if (subject.Type == "msg") return subject.Path!.TryGet(message.Properties, out value);
        value = subject.Evaluate(message, Context);
        return value is not null;
    }

    bool Test(CompiledSwitchRule rule, object? a, bool present, FlowMessage message)
    {
        switch (rule.Operator)
        {
            case "true": return a is true;
            case "false": return a is false;
            case "null": return a is null;
            case "nnull": return a is not null;
            case "empty": return Length(a) is 0;
            case "nempty": return Length(a) is > 0;
            case "istype": return IsType(a, present, rule.TypeName!);
            case "regex": return a is not null && rule.Pattern!.IsMatch(JsText(a));
        }
        var b = Resolve(rule.Value!, message, out var bPresent);
        // undefined < x (and x < undefined) is false in JavaScript, whatever x is.
        if ((!present || !bPresent) && rule.Operator is "lt" or "lte" or "gt" or "gte" or "btwn") return false;
        switch (rule.Operator)
        {
            case "eq": return LooseEquals(a, present, b, bPresent);
            case "neq": return !LooseEquals(a, present, b, bPresent);
            case "lt": return Compare(a, b) is < 0;
            case "lte": return Compare(a, b) is <= 0;
            case "gt": return Compare(a, b) is > 0;
            case "gte": return Compare(a, b) is >= 0;
            case "btwn":
                var c = Resolve(rule.Value2!, message, out _);
                return (Compare(a, b) is >= 0 && Compare(a, c) is <= 0) || (Compare(a, b) is <= 0 && Compare(a, c) is >= 0);
            case "cont": return present && JsText(a).Contains(JsText(b), StringComparison.Ordinal);
            case "jsonata_exp": return b is true; // as Node-RED: only a result of exactly true matches
            case "hask": return b is not (null or Dictionary<string, object?> or List<object?> or byte[]) && HasOwnProperty(a, JsText(b));
            case "head" or "tail" or "index":
                return Sequence(rule, message, b);
            default: return false;
        }
    }

    object? Resolve(SwitchValue value, FlowMessage message, out bool present)
    {
        if (value.Typed is null) { present = _hasPrevious; return _previous; }
        var typed = value.Typed;
        if (typed.Type == "msg")
        {
            present = typed.Path!.TryGet(message.Properties, out var v);
            return v;
        }
        var result = typed.Evaluate(message, Context);
        present = typed.Type is not ("flow" or "global") || result is not null;
        return result;
    }

    bool Sequence(CompiledSwitchRule rule, FlowMessage message, object? b)
    {
        if (message["parts"] is not Dictionary<string, object?> parts || MessageValue.AsNumber(parts.GetValueOrDefault("index")) is not { } index) return false;
        var n = MessageValue.ToNumber(b);
        switch (rule.Operator)
        {
            case "head": return index < n;
            case "tail": return MessageValue.AsNumber(parts.GetValueOrDefault("count")) is { } count && index >= count - n;
            default:
                var m = MessageValue.ToNumber(Resolve(rule.Value2!, message, out _));
                return index >= Math.Min(n, m) && index <= Math.Max(n, m);
        }
    }

    /// <summary>JavaScript's <c>a.hasOwnProperty(key)</c>: object keys, and the indexes (and <c>length</c>) of arrays and strings.</summary>
    static bool HasOwnProperty(object? value, string key) => value switch
    {
        Dictionary<string, object?> map => map.ContainsKey(key),
        List<object?> list => key == "length" || IsIndex(key, list.Count),
        string text => key == "length" || IsIndex(key, text.Length),
        byte[] bytes => IsIndex(key, bytes.Length), // a Buffer's length is inherited
        _ => false,
    };

    static bool IsIndex(string key, int length) =>
        int.TryParse(key, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var index)
        && index < length && index.ToString(System.Globalization.CultureInfo.InvariantCulture) == key;

    static int? Length(object? value) => value switch
    {
        string s => s.Length,
        List<object?> list => list.Count,
        byte[] bytes => bytes.Length,
        Dictionary<string, object?> map => map.Count,
        _ => null,
    };

    static bool IsType(object? value, bool present, string type) => type switch
    {
        "undefined" => !present,
        "null" => present && value is null,
        "json" => value is string s && IsJson(s),
        _ => present && MessageValue.TypeName(value) == type,
    };

    static bool IsJson(string text)
    {
        try { MessageJson.Parse(text); return true; }
        catch (System.Text.Json.JsonException) { return false; }
    }

    /// <summary>JavaScript's <c>String(value)</c>: arrays joined by commas, objects as <c>[object Object]</c>.</summary>
    static string JsText(object? value) => value switch
    {
        null => "null",
        List<object?> list => string.Join(",", list.Select(item => item is null ? "" : JsText(item))),
        Dictionary<string, object?> => "[object Object]",
        _ => MessageValue.ToText(value),
    };

    static bool IsPrimitive(object? value) => value is null or string or bool || MessageValue.IsNumber(value);

    /// <summary>JavaScript's <c>a == b</c> on message values (objects only equal themselves).</summary>
    static bool LooseEquals(object? a, bool aPresent, object? b, bool bPresent)
    {
        if (!aPresent || a is null || !bPresent || b is null) return (!aPresent || a is null) && (!bPresent || b is null);
        if (!IsPrimitive(a) && !IsPrimitive(b)) return ReferenceEquals(a, b);
        if (!IsPrimitive(a)) a = JsText(a);
        if (!IsPrimitive(b)) b = JsText(b);
        if (a is string s && b is string t) return s == t;
        if (a is bool p && b is bool q) return p == q;
        // Mixed types compare as numbers (NaN never equals).
        return MessageValue.ToNumber(a) == MessageValue.ToNumber(b);
    }

    /// <summary>JavaScript's relational comparison: strings by code unit when both are text, else as numbers. Null when incomparable (NaN).</summary>
    static int? Compare(object? a, object? b)
    {
        if (!IsPrimitive(a)) a = JsText(a);
        if (!IsPrimitive(b)) b = JsText(b);
        if (a is string s && b is string t) return Math.Sign(string.CompareOrdinal(s, t));
        var x = MessageValue.ToNumber(a);
        var y = MessageValue.ToNumber(b);
        if (double.IsNaN(x) || double.IsNaN(y)) return null;
        return x.CompareTo(y);
    }
}
