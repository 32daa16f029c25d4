using System.Globalization;
using System.Text.Json;

namespace FlowServer.Nodes.Sdk;

/// <summary>
/// A Node-RED typed input (a value plus its type: msg, flow, global, str, num, bool, json, bin,
/// date, env, re, jsonata), parsed once at deploy and evaluated per message.
/// </summary>
public sealed class TypedValue
{
    /// <summary>The value types this runtime evaluates.</summary>
    public static readonly string[] SupportedTypes = ["msg", "flow", "global", "str", "num", "bool", "json", "bin", "date", "env", "re", "jsonata"];

    readonly object? _constant;
    readonly PropertyPath? _path;

    TypedValue(string type, string text, object? constant, PropertyPath? path)
    {
        Type = type;
        Text = text;
        _constant = constant;
        _path = path;
    }

    /// <summary>The value type (msg, str, num, …).</summary>
    public string Type { get; }
    /// <summary>The value as written in the flow.</summary>
    public string Text { get; }
    /// <summary>The parsed path for msg/flow/global types.</summary>
    public PropertyPath? Path => _path;

    /// <summary>
    /// Parses a typed value. Throws <see cref="FormatException"/> with a message fit for a
    /// deploy error (the caller adds node and field).
    /// </summary>
    public static TypedValue Parse(string? type, string? text)
    {
        type = string.IsNullOrEmpty(type) ? "str" : type;
        text ??= "";
        switch (type)
        {
            case "msg":
                return new TypedValue(type, text, null, PropertyPath.Parse(text));
            case "flow" or "global":
                return new TypedValue(type, text, null, PropertyPath.Parse(WithoutContextStore(text)));
            case "str" or "env":
                return new TypedValue(type, text, text, null);
            case "num":
                if (!double.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var number))
                    throw new FormatException($"'{text}' is not a number");
                return new TypedValue(type, text, number, null);
            case "bool":
                return new TypedValue(type, text, text.Trim() == "true", null);
            case "json":
                try { return new TypedValue(type, text, MessageJson.Parse(text.Length == 0 ? "\"\"" : text), null); }
                catch (JsonException e) { throw new FormatException($"invalid JSON: {e.Message}"); }
            case "bin":
                try
                {
                    var parsed = text.Length == 0 ? new List<object?>() : MessageJson.Parse(text);
                    if (parsed is not List<object?> items) throw new FormatException("a buffer is written as a JSON array of bytes");
                    return new TypedValue(type, text, items.Select(b => (byte)MessageValue.ToNumber(b)).ToArray(), null);
                }
                catch (JsonException e) { throw new FormatException($"invalid buffer JSON: {e.Message}"); }
            case "date":
                return new TypedValue(type, text, null, null);
            case "re":
                try { return new TypedValue(type, text, new System.Text.RegularExpressions.Regex(text), null); }
                catch (ArgumentException e) { throw new FormatException($"invalid regular expression: {e.Message}"); }
            case "jsonata":
                return new TypedValue(type, text, JsonataExpression.Compile(text), null);
            default:
                throw new FormatException($"unknown value type '{type}' (expected one of {string.Join(", ", SupportedTypes)})");
        }
    }

    /// <summary>Evaluates the value against a message and the node's context.</summary>
    public object? Evaluate(FlowMessage? message, INodeContext context) => Type switch
    {
        "msg" => message is null ? null : MessageValue.DeepClone(_path!.Get(message)),
        "flow" => _path!.Get(ContextRoot(context.FlowContext, _path)),
        "global" => _path!.Get(ContextRoot(context.GlobalContext, _path)),
        "env" => Environment(context),
        "date" => (double)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
        "json" or "bin" => MessageValue.DeepClone(_constant),
        "jsonata" => ((JsonataExpression)_constant!).Evaluate(message, context),
        _ => _constant,
    };

    // Context stores hold top-level keys; the first segment picks the key, the rest walks inside.
    static Dictionary<string, object?> ContextRoot(IContextStore store, PropertyPath path) =>
        path.Segments[0] is string key ? new Dictionary<string, object?> { [key] = store.Get(key) } : [];

    object? Environment(INodeContext context)
    {
        // ${NAME} references inside the text are substituted; a bare name is looked up.
        if (!Text.Contains("${", StringComparison.Ordinal)) return context.GetEnvValue(Text) ?? "";
        return System.Text.RegularExpressions.Regex.Replace(Text, @"\$\{([^}]+)\}", m => context.GetEnv(m.Groups[1].Value) ?? "");
    }

    static readonly System.Text.RegularExpressions.Regex ContextStorePrefix = new(@"^#:\((\S+?)\)::(.*)$");

    /// <summary>
    /// A flow/global key without Node-RED's store prefix (<c>#:(file)::count</c> is <c>count</c>):
    /// there is one context store here, and Node-RED too uses its default store for an unknown name.
    /// </summary>
    public static string WithoutContextStore(string key) => ContextStorePrefix.Match(key) is { Success: true } m ? m.Groups[2].Value : key;

    /// <summary>The compiled expression of a <c>jsonata</c> value.</summary>
    public JsonataExpression? Expression => _constant as JsonataExpression;

    /// <summary>The regular expression of a <c>re</c> value.</summary>
    public System.Text.RegularExpressions.Regex? Regex => _constant as System.Text.RegularExpressions.Regex;
}
