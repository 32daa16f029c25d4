using System.Collections.Frozen;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Runtime;

/// <summary>
/// Every node type the runtime knows, found once by scanning assemblies for
/// <see cref="NodeTypeAttribute"/>. Turns each into a <see cref="NodeDescriptor"/> (data for
/// the API and the editor) and an <see cref="OptionsBinder"/> (for deploy).
/// </summary>
public sealed class NodeCatalog
{
    readonly FrozenDictionary<string, NodeTypeInfo> _types;

    public NodeCatalog(IEnumerable<Assembly> assemblies)
    {
        var types = new Dictionary<string, NodeTypeInfo>(StringComparer.Ordinal);
        foreach (var type in assemblies.Distinct().SelectMany(a => a.GetTypes()))
        {
            if (type.GetCustomAttribute<NodeTypeAttribute>() is not { } attribute || type.IsAbstract) continue;
            if (!typeof(FlowNode).IsAssignableFrom(type))
                throw new InvalidOperationException($"{type.FullName} has [NodeType] but does not derive from FlowNode");
            if (types.ContainsKey(attribute.Type))
                throw new InvalidOperationException($"node type '{attribute.Type}' is declared twice ({types[attribute.Type].ClrType.FullName}, {type.FullName})");
            types[attribute.Type] = NodeTypeInfo.Create(type, attribute);
        }
        _types = types.ToFrozenDictionary();
    }

    /// <summary>The catalog of the built-in node types.</summary>
    public static NodeCatalog CreateDefault() => new([typeof(FlowServer.Nodes.NodesAssembly).Assembly]);

    public IEnumerable<NodeTypeInfo> Types => _types.Values.OrderBy(t => t.Descriptor.Category).ThenBy(t => t.Descriptor.Type);

    public bool TryGet(string type, out NodeTypeInfo info) => _types.TryGetValue(type, out info!);
}

/// <summary>One node type: its descriptor, CLR class and options binder.</summary>
public sealed class NodeTypeInfo
{
    NodeTypeInfo(Type clrType, NodeDescriptor descriptor, OptionsBinder binder)
    {
        ClrType = clrType;
        Descriptor = descriptor;
        Binder = binder;
    }

    public Type ClrType { get; }
    public NodeDescriptor Descriptor { get; }
    public OptionsBinder Binder { get; }
    public bool IsConfig => Descriptor.IsConfig;

    public FlowNode CreateInstance() => (FlowNode)Activator.CreateInstance(ClrType)!;

    public static NodeTypeInfo Create(Type type, NodeTypeAttribute attribute)
    {
        var optionsType = FindOptionsType(type);
        var binder = new OptionsBinder(optionsType);
        var isConfig = IsConfigType(type);
        var descriptor = new NodeDescriptor(
            attribute.Type,
            isConfig ? "config" : attribute.Category,
            attribute.Color,
            attribute.Icon,
            attribute.PaletteLabel ?? attribute.Type,
            isConfig ? 0 : attribute.Inputs,
            isConfig ? 0 : attribute.Outputs,
            attribute.OutputsProperty,
            attribute.OutputsFrom,
            attribute.OutputLabels ?? [],
            isConfig,
            binder.DescribeProperties(),
            binder.DescribeCredentials(),
            attribute.Help);
        return new NodeTypeInfo(type, descriptor, binder);
    }

    static Type FindOptionsType(Type type)
    {
        for (var t = type; t is not null; t = t.BaseType)
            if (t.IsGenericType && (t.GetGenericTypeDefinition() == typeof(FlowNode<>) || t.GetGenericTypeDefinition() == typeof(ConfigNode<>)))
                return t.GetGenericArguments()[0];
        return typeof(NoOptions);
    }

    static bool IsConfigType(Type type)
    {
        for (var t = type; t is not null; t = t.BaseType)
            if (t.IsGenericType && t.GetGenericTypeDefinition() == typeof(ConfigNode<>)) return true;
        return false;
    }
}

/// <summary>
/// Binds a node's JSON object to its options class, tolerantly, and checks the declared rules
/// (required, range, choices) and the class's own <see cref="NodeOptions.Validate"/>.
/// </summary>
public sealed class OptionsBinder
{
    readonly Type _optionsType;
    readonly (PropertyInfo Info, PropertyAttribute Spec)[] _properties;
    readonly (PropertyInfo Info, CredentialAttribute Spec)[] _credentials;

    public OptionsBinder(Type optionsType)
    {
        _optionsType = optionsType;
        var all = optionsType.GetProperties(BindingFlags.Public | BindingFlags.Instance);
        _properties = all.Select(p => (p, p.GetCustomAttribute<PropertyAttribute>()!)).Where(x => x.Item2 is not null).ToArray();
        _credentials = all.Select(p => (p, p.GetCustomAttribute<CredentialAttribute>()!)).Where(x => x.Item2 is not null).ToArray();
        foreach (var info in _properties.Select(p => p.Info).Concat(_credentials.Select(c => c.Info)))
            if (!info.CanWrite) throw new InvalidOperationException($"{optionsType.Name}.{info.Name} needs a setter or init accessor");
    }

    /// <summary>Names of the credential fields that are secrets.</summary>
    public IEnumerable<string> SecretCredentials => _credentials.Where(c => c.Spec.Secret).Select(c => c.Spec.Name);

    /// <summary>Names of all credential fields.</summary>
    public IEnumerable<string> CredentialNames => _credentials.Select(c => c.Spec.Name);

    public NodeOptions Bind(JsonObject node, JsonObject? credentials, List<OptionError> errors)
    {
        var options = (NodeOptions)Activator.CreateInstance(_optionsType)!;
        foreach (var (info, spec) in _properties)
        {
            node.TryGetPropertyValue(spec.Name, out var value);
            var empty = value is null || (value is JsonValue v && v.GetValueKind() == JsonValueKind.String && string.IsNullOrWhiteSpace(v.GetValue<string>()));
            if (empty)
            {
                if (spec.Required) errors.Add(new OptionError(spec.Name, "is required"));
                // An empty string is a value for text properties; for others it means "use the default".
                if (value is not null && info.PropertyType == typeof(string)) info.SetValue(options, value.GetValue<string>());
                continue;
            }
            object? bound;
            if (TryBindScalar(value!, info.PropertyType, out var scalar)) bound = scalar;
            else try { bound = value.Deserialize(info.PropertyType, TolerantJson.Options); }
            catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or NotSupportedException)
            {
                errors.Add(new OptionError(spec.Name, Describe(e, value!)));
                continue;
            }
            if (!CheckRules(spec, bound, errors)) continue;
            info.SetValue(options, bound);
        }
        foreach (var (info, spec) in _credentials)
        {
            if (credentials is not null && credentials.TryGetPropertyValue(spec.Name, out var value) && value is not null)
                info.SetValue(options, value.GetValueKind() == JsonValueKind.String ? value.GetValue<string>() : value.ToJsonString());
        }
        try { errors.AddRange(options.Validate()); }
        catch (Exception e) { errors.Add(new OptionError("", e.Message)); }
        return options;
    }

    // A JSON value whose kind already is the property's type gives what TolerantJson would
    // (same string, same number), without writing the node out and reading it back: that round
    // trip was most of a 1000-node compile. Everything else goes through the tolerant converters.
    static bool TryBindScalar(JsonNode value, Type type, out object? bound)
    {
        bound = null;
        if (value is not JsonValue json) return false;
        var kind = json.GetValueKind();
        switch (kind)
        {
            case JsonValueKind.String when type == typeof(string):
                bound = json.GetValue<string>();
                return true;
            case JsonValueKind.True or JsonValueKind.False when type == typeof(bool):
                bound = kind == JsonValueKind.True;
                return true;
            case JsonValueKind.Number when type == typeof(double) && json.TryGetValue<double>(out var d):
                bound = d;
                return true;
            case JsonValueKind.Number when type == typeof(int) && json.TryGetValue<int>(out var i):
                bound = i;
                return true;
            default:
                return false;
        }
    }

    static string Describe(Exception e, JsonNode value)
    {
        var message = e.InnerException?.Message ?? e.Message;
        // System.Text.Json messages carry a path and line info that mean nothing to a flow author.
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        if (cut > 0) message = message[..cut];
        if (message.StartsWith("The JSON value could not be converted", StringComparison.Ordinal))
            message = $"has an invalid value {Shorten(value.ToJsonString())}";
        return message;
    }

    static string Shorten(string text) => text.Length > 60 ? text[..57] + "..." : text;

    static bool CheckRules(PropertyAttribute spec, object? value, List<OptionError> errors)
    {
        if (MessageValue.AsNumber(value) is { } number)
        {
            if (!double.IsNaN(spec.Min) && number < spec.Min) { errors.Add(new OptionError(spec.Name, $"must be at least {MessageValue.FormatNumber(spec.Min)}, got {MessageValue.FormatNumber(number)}")); return false; }
            if (!double.IsNaN(spec.Max) && number > spec.Max) { errors.Add(new OptionError(spec.Name, $"must be at most {MessageValue.FormatNumber(spec.Max)}, got {MessageValue.FormatNumber(number)}")); return false; }
        }
        if (spec.Choices is { Length: > 0 } choices && value is not null)
        {
            var text = value is string s ? s : MessageValue.ToText(value);
            if (!choices.Contains(text)) { errors.Add(new OptionError(spec.Name, $"must be one of {string.Join(", ", choices)}, got '{text}'")); return false; }
        }
        return true;
    }

    public IReadOnlyList<PropertyDescriptor> DescribeProperties()
    {
        var defaults = Activator.CreateInstance(_optionsType)!;
        return _properties.Select(p => Describe(p.Info, p.Spec, p.Spec.Editor, defaults) with
        {
            Items = p.Spec.Editor == PropertyEditor.List ? DescribeItems(p.Info.PropertyType) : null,
        }).ToArray();
    }

    static PropertyDescriptor Describe(PropertyInfo info, PropertyAttribute spec, PropertyEditor editor, object defaults) => new(
        spec.Name,
        JsonNamingPolicy.CamelCase.ConvertName(editor.ToString()),
        ValueTypeName(info.PropertyType),
        JsonSerializer.SerializeToNode(info.GetValue(defaults), info.PropertyType, TolerantJson.Options),
        spec.Required,
        spec.Choices,
        double.IsNaN(spec.Min) ? null : spec.Min,
        double.IsNaN(spec.Max) ? null : spec.Max,
        spec.ConfigType,
        spec.TypeProperty,
        spec.Types,
        spec.Label ?? spec.Name,
        spec.Help);

    /// <summary>
    /// The columns of a list of objects: every serialized property of the item class. A column's
    /// default is what a new row gets: the item class's initial value, else the first choice or
    /// value type, else an empty text.
    /// </summary>
    static IReadOnlyList<PropertyDescriptor>? DescribeItems(Type listType)
    {
        var itemType = listType.IsArray ? listType.GetElementType()
            : listType.GetInterfaces().Append(listType).FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>))?.GetGenericArguments()[0];
        if (itemType is null || itemType == typeof(string) || itemType.IsPrimitive || itemType.GetConstructor(Type.EmptyTypes) is null) return null;
        var defaults = Activator.CreateInstance(itemType)!;
        var columns = new List<PropertyDescriptor>();
        foreach (var info in itemType.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (!info.CanWrite || info.GetCustomAttribute<System.Text.Json.Serialization.JsonIgnoreAttribute>() is not null) continue;
            var name = info.GetCustomAttribute<System.Text.Json.Serialization.JsonPropertyNameAttribute>()?.Name ?? JsonNamingPolicy.CamelCase.ConvertName(info.Name);
            var spec = info.GetCustomAttribute<PropertyAttribute>() ?? new PropertyAttribute(name);
            var editor = spec.Editor != PropertyEditor.Text ? spec.Editor : ValueTypeName(info.PropertyType) switch
            {
                "boolean" => PropertyEditor.Checkbox,
                "number" => PropertyEditor.Number,
                _ => PropertyEditor.Text,
            };
            var column = Describe(info, spec, editor, defaults);
            if (column.Default is null) column = column with { Default = JsonValue.Create(spec.Choices?.FirstOrDefault() ?? spec.Types?.FirstOrDefault() ?? "") };
            columns.Add(column);
        }
        return columns.Count > 0 ? columns : null;
    }

    public IReadOnlyList<CredentialDescriptor> DescribeCredentials() =>
        _credentials.Select(c => new CredentialDescriptor(c.Spec.Name, c.Spec.Secret, c.Spec.Label ?? c.Spec.Name)).ToArray();

    /// <summary>The config node references of bound options: (field, referenced id, expected type).</summary>
    public IEnumerable<(string Field, string Id, string ConfigType)> ConfigReferences(NodeOptions options) =>
        _properties.Where(p => p.Spec.ConfigType is not null)
            .Select(p => (p.Spec.Name, p.Info.GetValue(options) as string, p.Spec.ConfigType!))
            .Where(r => !string.IsNullOrEmpty(r.Item2))
            .Select(r => (r.Item1, r.Item2!, r.Item3));

    static string ValueTypeName(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type == typeof(string)) return "string";
        if (type == typeof(bool)) return "boolean";
        if (type.IsPrimitive || type == typeof(decimal)) return "number";
        if (type.IsArray || (type.IsGenericType && type.GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>)))) return "array";
        return "object";
    }
}
