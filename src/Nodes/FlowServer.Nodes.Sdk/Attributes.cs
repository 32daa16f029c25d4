namespace FlowServer.Nodes.Sdk;

/// <summary>
/// Marks a class as a node type. The catalog finds every such class once at start-up; adding a
/// node type means adding one class with this attribute and nothing else.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class NodeTypeAttribute(string type) : Attribute
{
    /// <summary>The type name as it appears in flow JSON (Node-RED's name where it shares one).</summary>
    public string Type { get; } = type;
    /// <summary>Palette category: common, function, sequence, parser, network, storage, config.</summary>
    public string Category { get; init; } = "function";
    /// <summary>Number of inputs (0 or 1).</summary>
    public int Inputs { get; init; } = 1;
    /// <summary>Fixed number of outputs; see <see cref="OutputsProperty"/> for a configurable count.</summary>
    public int Outputs { get; init; } = 1;
    /// <summary>Name of the option that holds the output count (as <c>outputs</c> of function and switch).</summary>
    public string? OutputsProperty { get; init; }
    /// <summary>
    /// Name of a list option whose item count is the output count (switch: one output per rule).
    /// The editor keeps <see cref="OutputsProperty"/> equal to that count as the list is edited.
    /// </summary>
    public string? OutputsFrom { get; init; }
    /// <summary>Background colour in the editor.</summary>
    public string Color { get; init; } = "#dddddd";
    /// <summary>Icon name for the editor.</summary>
    public string? Icon { get; init; }
    /// <summary>Label shown in the palette; the type name when null.</summary>
    public string? PaletteLabel { get; init; }
    /// <summary>Labels of the output ports, in order.</summary>
    public string[]? OutputLabels { get; init; }
    /// <summary>Help text in markdown, laid out as Inputs / Outputs / Details.</summary>
    public string Help { get; init; } = "";
}

/// <summary>What editor the property panel uses for a property.</summary>
public enum PropertyEditor
{
    /// <summary>A single-line text box.</summary>
    Text,
    /// <summary>A number box.</summary>
    Number,
    /// <summary>A checkbox.</summary>
    Checkbox,
    /// <summary>A drop-down of <see cref="PropertyAttribute.Choices"/>.</summary>
    Select,
    /// <summary>A value with a type selector (msg, flow, global, str, num, …); the type lives in <see cref="PropertyAttribute.TypeProperty"/>.</summary>
    TypedInput,
    /// <summary>A code editor (JavaScript).</summary>
    Code,
    /// <summary>A multi-line text or template editor.</summary>
    TextArea,
    /// <summary>A JSON editor.</summary>
    Json,
    /// <summary>A reference to a config node of type <see cref="PropertyAttribute.ConfigType"/>.</summary>
    ConfigNode,
    /// <summary>An editable list of structured items (rules, props).</summary>
    List,
    /// <summary>A list of node ids (scope of catch/status, links).</summary>
    NodeList,
    /// <summary>Not shown in the property panel.</summary>
    Hidden,
}

/// <summary>
/// Declares an option of a node type: its JSON name in flow JSON, editor, validation and help.
/// The default is the property's initial value in the options class. On a property of a list
/// option's item class (a rule, a tag row) it describes that column of the list editor; there
/// the editor kind follows the property's type (checkbox, number, text) unless one is given.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class PropertyAttribute(string name) : Attribute
{
    /// <summary>Name in flow JSON.</summary>
    public string Name { get; } = name;
    /// <summary>Deploy fails when the property is missing or empty.</summary>
    public bool Required { get; init; }
    /// <summary>Editor hint for the property panel.</summary>
    public PropertyEditor Editor { get; init; } = PropertyEditor.Text;
    /// <summary>Allowed values (compared as text); empty means any.</summary>
    public string[]? Choices { get; init; }
    /// <summary>Smallest allowed number (NaN = no bound).</summary>
    public double Min { get; init; } = double.NaN;
    /// <summary>Largest allowed number (NaN = no bound).</summary>
    public double Max { get; init; } = double.NaN;
    /// <summary>For <see cref="PropertyEditor.ConfigNode"/>: the config node type referenced.</summary>
    public string? ConfigType { get; init; }
    /// <summary>For <see cref="PropertyEditor.TypedInput"/>: the sibling property holding the value type.</summary>
    public string? TypeProperty { get; init; }
    /// <summary>For <see cref="PropertyEditor.TypedInput"/>: the value types offered.</summary>
    public string[]? Types { get; init; }
    /// <summary>Label in the property panel.</summary>
    public string? Label { get; init; }
    /// <summary>One-line help.</summary>
    public string? Help { get; init; }

    /// <summary>
    /// The <see cref="Choices"/> declared on a property, for validation code that checks the same
    /// list the editor offers. Called once per type (static fields); throws when there are none.
    /// </summary>
    public static string[] ChoicesOf(Type type, string property) => Of(type, property).Choices
        ?? throw new InvalidOperationException($"{type.Name}.{property} declares no choices");

    /// <summary>The <see cref="Types"/> declared on a property, as <see cref="ChoicesOf"/>.</summary>
    public static string[] TypesOf(Type type, string property) => Of(type, property).Types
        ?? throw new InvalidOperationException($"{type.Name}.{property} declares no types");

    static PropertyAttribute Of(Type type, string property) =>
        type.GetProperty(property)?.GetCustomAttributes(typeof(PropertyAttribute), false).OfType<PropertyAttribute>().FirstOrDefault()
        ?? throw new InvalidOperationException($"{type.Name}.{property} has no [Property]");
}

/// <summary>
/// Declares a credential field: stored encrypted, never returned by the API (Node-RED's
/// <c>has_password</c> flags instead for secrets).
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class CredentialAttribute(string name) : Attribute
{
    /// <summary>Name in the node's <c>credentials</c> object.</summary>
    public string Name { get; } = name;
    /// <summary>A secret (password): never shown, reported as <c>has_&lt;name&gt;</c>.</summary>
    public bool Secret { get; init; }
    /// <summary>Label in the property panel.</summary>
    public string? Label { get; init; }
}
