using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Function;

/// <summary>One rule of a change node, as Node-RED writes it.</summary>
public sealed class ChangeRule
{
    [Property("t", Editor = PropertyEditor.Select, Label = "action", Choices = ["set", "change", "delete", "move"])]
    [JsonPropertyName("t")] public string? T { get; set; }
    [Property("p", Editor = PropertyEditor.TypedInput, TypeProperty = "pt", Label = "property")]
    [JsonPropertyName("p")] public string? P { get; set; }
    [Property("pt", Editor = PropertyEditor.Hidden, Types = ["msg", "flow", "global"])]
    [JsonPropertyName("pt")] public string? Pt { get; set; }
    [Property("to", Editor = PropertyEditor.TypedInput, TypeProperty = "tot", Label = "to (set, change, move)")]
    [JsonPropertyName("to")] public string? To { get; set; }
    [Property("tot", Editor = PropertyEditor.Hidden, Types = ["str", "num", "bool", "json", "bin", "date", "msg", "flow", "global", "env", "jsonata"])]
    [JsonPropertyName("tot")] public string? Tot { get; set; }
    [Property("from", Editor = PropertyEditor.TypedInput, TypeProperty = "fromt", Label = "search for (change)")]
    [JsonPropertyName("from")] public string? From { get; set; }
    [Property("fromt", Editor = PropertyEditor.Hidden, Types = ["str", "num", "bool", "re", "msg", "flow", "global", "env"])]
    [JsonPropertyName("fromt")] public string? Fromt { get; set; }
    [Property("dc", Label = "deep copy")]
    [JsonPropertyName("dc")] public bool Dc { get; set; }
}

public sealed class ChangeOptions : NodeOptions
{
    static readonly string[] Scopes = ["msg", "flow", "global"];

    // A flow or global key may carry Node-RED's store prefix; a msg path never does.
    static string KeyText(string scope, string text) => scope == "msg" ? text : TypedValue.WithoutContextStore(text);
    static readonly string[] FromTypes = PropertyAttribute.TypesOf(typeof(ChangeRule), nameof(ChangeRule.Fromt));

    [Property("rules", Editor = PropertyEditor.List, Help = "Rules applied in order: set, change (search and replace), delete or move a msg, flow or global property")]
    public List<ChangeRule> Rules { get; set; } = [new() { T = "set", P = "payload", Pt = "msg", To = "", Tot = "str" }];

    [Property("action", Editor = PropertyEditor.Hidden, Help = "The format of Node-RED before 0.18 (kept for import; refused when there are no rules)")]
    public string Action { get; set; } = "";

    [JsonIgnore] internal IReadOnlyList<CompiledChangeRule> Compiled { get; private set; } = [];

    // The default rules stay this very list unless the flow has "rules" of its own.
    readonly List<ChangeRule> _defaultRules;

    public ChangeOptions() => _defaultRules = Rules;

    public override IEnumerable<OptionError> Validate()
    {
        var errors = new List<OptionError>();
        if (ReferenceEquals(Rules, _defaultRules) && !string.IsNullOrEmpty(Action))
        {
            errors.Add(new OptionError("rules", $"are missing: the node is in the format of Node-RED before 0.18 (action '{Action}', property, from, to); deploy the flow once in a current Node-RED, or write the rule as rules"));
            return errors;
        }
        var compiled = new List<CompiledChangeRule>();
        for (var i = 0; i < Rules.Count; i++)
        {
            var rule = Rules[i];
            var at = $"rules[{i}]";
            void Fail(string text) => errors.Add(new OptionError("rules", $"{at}.{text}"));

            var kind = rule.T ?? "set";
            if (kind is not ("set" or "change" or "delete" or "move")) { Fail($"t must be set, change, delete or move, got '{kind}'"); continue; }
            if (string.IsNullOrWhiteSpace(rule.P)) { Fail("p is required"); continue; }
            var scope = string.IsNullOrEmpty(rule.Pt) ? "msg" : rule.Pt;
            if (!Scopes.Contains(scope)) { Fail($"pt must be msg, flow or global, got '{scope}'"); continue; }
            if (!PropertyPath.TryParse(KeyText(scope, rule.P), out var path, out var pathError)) { Fail($"p: {pathError}"); continue; }
            var target = new ChangeTarget(scope, path!);

            try
            {
                switch (kind)
                {
                    case "set":
                        compiled.Add(new CompiledChangeRule(kind, target, TypedValue.Parse(rule.Tot, rule.To), null, null, null, rule.Dc));
                        break;
                    case "delete":
                        compiled.Add(new CompiledChangeRule(kind, target, null, null, null, null, false));
                        break;
                    case "move":
                        var toScope = string.IsNullOrEmpty(rule.Tot) ? "msg" : rule.Tot;
                        if (!Scopes.Contains(toScope)) { Fail($"tot must be msg, flow or global for a move, got '{toScope}'"); continue; }
                        if (string.IsNullOrWhiteSpace(rule.To)) { Fail("to is required for a move"); continue; }
                        if (!PropertyPath.TryParse(KeyText(toScope, rule.To), out var toPath, out var toError)) { Fail($"to: {toError}"); continue; }
                        compiled.Add(new CompiledChangeRule(kind, target, null, new ChangeTarget(toScope, toPath!), null, null, false));
                        break;
                    case "change":
                        var fromType = string.IsNullOrEmpty(rule.Fromt) ? "str" : rule.Fromt;
                        if (!FromTypes.Contains(fromType)) { Fail($"fromt must be one of {string.Join(", ", FromTypes)}, got '{fromType}'"); continue; }
                        TypedValue from;
                        try { from = TypedValue.Parse(fromType, rule.From); }
                        catch (FormatException e) { Fail($"from {e.Message}"); continue; }
                        // A str search is a literal, replaced everywhere (Node-RED escapes it into a global RegExp).
                        var pattern = fromType switch
                        {
                            "re" => from.Regex,
                            "str" => new Regex(Regex.Escape(rule.From ?? ""), RegexOptions.CultureInvariant),
                            _ => null,
                        };
                        compiled.Add(new CompiledChangeRule(kind, target, TypedValue.Parse(rule.Tot, rule.To), null, from, pattern, false));
                        break;
                }
            }
            catch (FormatException e) { Fail($"to {e.Message}"); }
        }
        Compiled = compiled;
        return errors;
    }
}

/// <summary>A property in msg, flow or global context.</summary>
internal sealed record ChangeTarget(string Scope, PropertyPath Path)
{
    public bool TryGet(FlowMessage message, INodeContext context, out object? value)
    {
        if (Scope == "msg") return Path.TryGet(message.Properties, out value);
        value = Store(context).Get(Path.Text);
        return value is not null;
    }

    public void Set(FlowMessage message, INodeContext context, object? value)
    {
        if (Scope != "msg") { Store(context).Set(Path.Text, value); return; }
        try { Path.Set(message, value); }
        catch (InvalidOperationException e) { throw new FlowNodeException(e.Message); }
    }

    public void Delete(FlowMessage message, INodeContext context)
    {
        if (Scope == "msg") Path.Delete(message.Properties);
        else Store(context).Set(Path.Text, null);
    }

    IContextStore Store(INodeContext context) => Scope == "flow" ? context.FlowContext : context.GlobalContext;

    public override string ToString() => $"{Scope}.{Path.Text}";
}

internal sealed record CompiledChangeRule(string Kind, ChangeTarget Target, TypedValue? Value, ChangeTarget? MoveTo, TypedValue? From, Regex? Pattern, bool DeepClone);

[NodeType("change", Category = "function", Inputs = 1, Outputs = 1, Color = "#e2d96e", Icon = "swap",
    Help = """
    Sets, changes, deletes or moves properties of a message, or of flow and global context.

    ### Inputs
    : msg (object) : the message to change.

    ### Outputs
    : msg (object) : the changed message.

    ### Details
    Rules are applied in order; a later rule sees what an earlier one did.

    * **set** a property to a value (a msg, flow or global property, a string, number,
      boolean, JSON, buffer, timestamp or environment variable). With *deep clone* an object
      value is copied rather than shared.
    * **change** searches a string property for a string or a regular expression and replaces
      every match. When the property equals the search value exactly (also a number or a
      boolean), the whole property is replaced, so the new value keeps its type.
    * **delete** removes a property.
    * **move** moves a property to another place.

    Setting a property to a msg, flow or global property that does not exist deletes it.
    Flow and global keys may carry Node-RED's store prefix (`#:(file)::count`); there is one
    context store, so the prefix is accepted and the key used. A node saved in the format of
    Node-RED before 0.18 (`action`, `property`, `from`, `to` and no `rules`) is refused at
    deploy.
    A *JSONata* value (`tot: "jsonata"`) is an expression evaluated against the message, with
    `$flowContext`, `$globalContext` and `$env` as in Node-RED.
    """)]
public sealed class ChangeNode : FlowNode<ChangeOptions>, IRunsInline
{
    public override ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        foreach (var rule in Options.Compiled) Apply(rule, message);
        return Context.SendAsync(0, message, cancellationToken);
    }

    void Apply(CompiledChangeRule rule, FlowMessage message)
    {
        switch (rule.Kind)
        {
            case "set":
                if (Resolve(rule.Value!, message, out var value))
                    rule.Target.Set(message, Context, rule.DeepClone ? MessageValue.DeepClone(value) : value);
                else
                    rule.Target.Delete(message, Context);
                break;
            case "delete":
                rule.Target.Delete(message, Context);
                break;
            case "move":
                if (rule.Target.ToString() == rule.MoveTo!.ToString() || !rule.Target.TryGet(message, Context, out var moved)) break;
                rule.Target.Delete(message, Context);
                rule.MoveTo!.Set(message, Context, moved);
                break;
            case "change":
                Change(rule, message);
                break;
        }
    }

    void Change(CompiledChangeRule rule, FlowMessage message)
    {
        if (!rule.Target.TryGet(message, Context, out var current)) return;
        var from = rule.From!;
        var fromType = from.Type;
        var pattern = rule.Pattern;
        object? search = null;
        if (pattern is null)
        {
            search = from.Evaluate(message, Context);
            // A search value taken from a property decides by its own type how it matches.
            (fromType, pattern) = search switch
            {
                string s when fromType is not ("num" or "bool") => ("str", new Regex(Regex.Escape(s), RegexOptions.CultureInvariant)),
                bool => ("bool", null),
                _ when MessageValue.IsNumber(search) => ("num", null),
                _ when fromType is "num" or "bool" => (fromType, null),
                _ => throw new FlowNodeException($"the search value of {rule.Target} is not a string, number or boolean (it is {MessageValue.TypeName(search)})"),
            };
        }
        var replacement = rule.Value!.Evaluate(message, Context);
        switch (current)
        {
            case string text when fromType is "str" or "num" or "bool" && text == SearchText(from, search):
                rule.Target.Set(message, Context, replacement);
                break;
            case string text when pattern is not null:
                var replaced = pattern.Replace(text, MessageValue.ToText(replacement));
                if (!ReferenceEquals(replaced, text)) rule.Target.Set(message, Context, replaced);
                break;
            case bool flag when fromType == "bool":
                if ((flag ? "true" : "false") == SearchText(from, search)) rule.Target.Set(message, Context, replacement);
                break;
            case var number when MessageValue.AsNumber(number) is { } n && fromType == "num":
                if (n == MessageValue.ToNumber(search ?? from.Text)) rule.Target.Set(message, Context, replacement);
                break;
        }
    }

    static string SearchText(TypedValue from, object? search) => search is null ? from.Text : MessageValue.ToText(search);

    // The value of a typed input, and whether it exists (a missing msg/flow/global property does not).
    bool Resolve(TypedValue typed, FlowMessage message, out object? value)
    {
        switch (typed.Type)
        {
            case "msg":
                var found = typed.Path!.TryGet(message.Properties, out value);
                value = MessageValue.DeepClone(value);
                return found;
            case "flow" or "global":
                value = typed.Evaluate(message, Context);
                return value is not null;
            default:
                value = typed.Evaluate(message, Context);
                return true;
        }
    }
}
