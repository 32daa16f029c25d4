using System.Collections;
using System.Globalization;
using System.Text;
using System.Text.Json;
using FlowServer.Nodes.Sdk;
using Stubble.Core;
using Stubble.Core.Builders;

namespace FlowServer.Nodes.Function;

public sealed class TemplateOptions : NodeOptions
{
    [Property("field", Editor = PropertyEditor.TypedInput, TypeProperty = "fieldType", Types = ["msg", "flow", "global"], Label = "Property",
        Help = "Where the result goes")]
    public string Field { get; set; } = "payload";

    [Property("fieldType", Editor = PropertyEditor.Hidden, Choices = ["msg", "flow", "global"])]
    public string FieldType { get; set; } = "msg";

    [Property("format", Help = "Highlighting of the template editor only: handlebars, html, json, javascript, css, markdown, python, sql, yaml, text")]
    public string Format { get; set; } = "handlebars";

    [Property("syntax", Editor = PropertyEditor.Select, Choices = ["mustache", "plain"], Help = "mustache: fill in {{…}} tags; plain: use the text as it is")]
    public string Syntax { get; set; } = "mustache";

    [Property("template", Editor = PropertyEditor.TextArea, Help = "The template; when empty, msg.template is used")]
    public string Template { get; set; } = "";

    [Property("output", Editor = PropertyEditor.Select, Choices = ["str", "json", "yaml"], Help = "str: plain text; json: the result parsed as JSON; yaml: the result parsed as YAML")]
    public string Output { get; set; } = "str";

    public PropertyPath? FieldPath { get; private set; }

    public override IEnumerable<OptionError> Validate()
    {
        if (!PropertyPath.TryParse(string.IsNullOrEmpty(Field) ? "payload" : Field, out var path, out var error))
            yield return new OptionError("field", error!);
        FieldPath = path;
    }
}

[NodeType("template", Category = "function", Inputs = 1, Outputs = 1, Color = "#e2d96e", Icon = "template",
    Help = """
    Sets a property based on the provided template.

    ### Inputs
    : msg (object) : the template's `{{name}}` tags are filled from the message.
    : template (string) : the template to use when the node's template is empty.

    ### Outputs
    : msg (object) : the message with the result in the configured property (by default
      `payload`); with a flow or global target the result goes to that context and the message
      is sent unchanged.

    ### Details
    Mustache syntax: `{{payload}}` or `{{payload.name}}` inserts a value, HTML-escaped;
    `{{{payload}}}` inserts it unescaped; `{{#list}}…{{/list}}` repeats for each item and
    `{{^x}}…{{/x}}` renders when x is empty. `{{flow.name}}`, `{{global.name}}` read context and
    `{{env.NAME}}` an environment variable. Values print as JavaScript prints them (objects as
    `[object Object]`: use `{{{payload}}}` of a JSON string, or the json node).

    With output *json* the result is parsed as JSON (strings inserted by tags are escaped for
    JSON first); text that is not JSON is reported as an error with the message.
    *Plain* syntax uses the template text as is.
    """)]
public sealed class TemplateNode : FlowNode<TemplateOptions>, IRunsInline
{
    static readonly StubbleVisitorRenderer Renderer = new StubbleBuilder()
        .Configure(settings =>
        {
            settings.AddValueGetter(typeof(MustacheValue), (value, key, _) => ((MustacheValue)value).Lookup(key));
            settings.AddValueGetter(typeof(MustacheList), (value, key, _) => ((MustacheList)value).Lookup(key));
            settings.AddTruthyCheck<MustacheValue>(value => value.IsTruthy);
            settings.AddTruthyCheck<MustacheList>(list => list.Count > 0);
            settings.SetEncodingFunction(EscapeHtml);
        })
        .Build();

    static readonly Stubble.Core.Settings.RenderSettings RenderSettings = new()
    {
        CultureInfo = CultureInfo.InvariantCulture,
        SkipRecursiveLookup = false,
    };

    /// <summary>Renders a mustache template over a message the way this node does (used by trigger for "{{…}}" values).</summary>
    internal static string RenderMustache(string template, FlowMessage message, INodeContext context) =>
        Renderer.Render(template, MustacheValue.Root(message, context, escapeForJson: false), RenderSettings);

    public override ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        var template = Options.Template;
        if (string.IsNullOrEmpty(template) && message["template"] is string fromMessage) template = fromMessage;

        string text;
        try
        {
            text = Options.Syntax == "plain" ? template : Renderer.Render(template, MustacheValue.Root(message, Context, escapeForJson: Options.Output == "json"), RenderSettings);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Context.ReportError($"template could not be rendered: {e.Message}", message);
            return ValueTask.CompletedTask;
        }

        object? value = text;
        if (Options.Output == "json")
        {
            try { value = MessageJson.Parse(text); }
            catch (JsonException e)
            {
                Context.ReportError($"the result is not valid JSON: {e.Message}", message);
                return ValueTask.CompletedTask;
            }
        }

        else if (Options.Output == "yaml")
        {
            try { value = ParseYaml(text); }
            catch (YamlDotNet.Core.YamlException e)
            {
                Context.ReportError($"the result is not valid YAML: {e.Message}", message);
                return ValueTask.CompletedTask;
            }
        }

        switch (Options.FieldType)
        {
            case "flow": Context.FlowContext.Set(Options.FieldPath!.Text, value); break;
            case "global": Context.GlobalContext.Set(Options.FieldPath!.Text, value); break;
            default: Options.FieldPath!.Set(message, value); break;
        }
        return Context.SendAsync(0, message, cancellationToken);
    }

    // mustache.js escapes these characters (more than WebUtility.HtmlEncode does).
    static string EscapeHtml(string text)
    {
        if (text.AsSpan().IndexOfAny("&<>\"'/`=") < 0) return text;
        var builder = new StringBuilder(text.Length + 16);
        foreach (var c in text)
        {
            builder.Append(c switch
            {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&#39;",
                '/' => "&#x2F;",
                '`' => "&#x60;",
                '=' => "&#x3D;",
                _ => null,
            } ?? c.ToString());
        }
        return builder.ToString();
    }

    /// <summary>
    /// A message value as the mustache view sees it: looked up like a JavaScript object and
    /// printed as JavaScript's String() prints it. The root also resolves flow., global. and env.
    /// </summary>
    sealed class MustacheValue
    {
        readonly object? _value;
        readonly Func<string, object?>? _fallback;
        readonly bool _escapeForJson;

        MustacheValue(object? value, bool escapeForJson, Func<string, object?>? fallback = null)
        {
            _value = value;
            _escapeForJson = escapeForJson;
            _fallback = fallback;
        }

        public static MustacheValue Root(FlowMessage message, INodeContext context, bool escapeForJson) =>
            new(message.Properties, escapeForJson, key => key switch
            {
                "flow" => new MustacheValue(new ContextScope(context.FlowContext), escapeForJson),
                "global" => new MustacheValue(new ContextScope(context.GlobalContext), escapeForJson),
                "env" => new MustacheValue(new EnvScope(context), escapeForJson),
                _ => null,
            });

        public static object? Wrap(object? value, bool escapeForJson) => value switch
        {
            null => null,
            List<object?> list => new MustacheList(list, escapeForJson),
            _ => new MustacheValue(value, escapeForJson),
        };

        public object? Lookup(string key)
        {
            switch (_value)
            {
                case Dictionary<string, object?> map when map.TryGetValue(key, out var child):
                    return Wrap(child, _escapeForJson);
                case ContextScope scope:
                    return Wrap(scope.Store.Get(key), _escapeForJson);
                case EnvScope env:
                    return env.Context.GetEnv(key) is { } variable ? new MustacheValue(variable, _escapeForJson) : null;
                case string s when key == "length":
                    return new MustacheValue((double)s.Length, _escapeForJson);
            }
            return _fallback?.Invoke(key);
        }

        public bool IsTruthy => _value is ContextScope or EnvScope || MessageValue.IsTruthy(_value);

        public override string ToString()
        {
            var text = JsString(_value);
            if (!_escapeForJson || _value is not string) return text;
            // Node-RED escapes inserted strings so that "{{payload}}" stays valid JSON.
            return text.Replace("\\", "\\\\").Replace("\n", "\\n").Replace("\t", "\\t").Replace("\r", "\\r").Replace("\f", "\\f").Replace("\b", "\\b");
        }

        public static string JsString(object? value) => value switch
        {
            null => "",
            Dictionary<string, object?> or ContextScope or EnvScope => "[object Object]",
            List<object?> list => string.Join(",", list.Select(JsString)),
            _ => MessageValue.ToText(value),
        };
    }

    /// <summary>An array in the view: sections iterate it, tags print it joined by commas.</summary>
    sealed class MustacheList(List<object?> items, bool escapeForJson) : IEnumerable
    {
        public int Count => items.Count;

        public object? Lookup(string key)
        {
            if (key == "length") return MustacheValue.Wrap((double)items.Count, escapeForJson);
            return int.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out var index) && index < items.Count
                ? MustacheValue.Wrap(items[index], escapeForJson)
                : null;
        }

        public IEnumerator GetEnumerator()
        {
            foreach (var item in items) yield return MustacheValue.Wrap(item, escapeForJson) ?? "";
        }

        public override string ToString() => MustacheValue.JsString(items);
    }

    sealed record ContextScope(IContextStore Store);

    sealed record EnvScope(INodeContext Context);

    // Unquoted scalars become numbers, booleans and null, as js-yaml (Node-RED's parser) reads them.
    static readonly YamlDotNet.Serialization.IDeserializer Yaml = new YamlDotNet.Serialization.DeserializerBuilder()
        .WithAttemptingUnquotedStringTypeDeserialization().Build();

    static object? ParseYaml(string text) => ToMessageValue(Yaml.Deserialize<object?>(text));

    static object? ToMessageValue(object? value) => value switch
    {
        null => null,
        IDictionary<object, object?> map => map.ToDictionary(e => Convert.ToString(e.Key, System.Globalization.CultureInfo.InvariantCulture) ?? "", e => ToMessageValue(e.Value)),
        IList<object?> list => list.Select(ToMessageValue).ToList(),
        string or bool => value,
        IConvertible number => number.ToDouble(System.Globalization.CultureInfo.InvariantCulture),
        _ => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture),
    };
}
