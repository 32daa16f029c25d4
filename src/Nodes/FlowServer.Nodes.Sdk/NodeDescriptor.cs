using System.Text.Json.Nodes;

namespace FlowServer.Nodes.Sdk;

/// <summary>
/// The data that describes a node type: served at <c>GET /nodes</c>, read by the editor's
/// palette and property panel, and used to validate flows on deploy.
/// </summary>
public sealed record NodeDescriptor(
    string Type,
    string Category,
    string Color,
    string? Icon,
    string PaletteLabel,
    int Inputs,
    int Outputs,
    string? OutputsProperty,
    string? OutputsFrom,
    IReadOnlyList<string> OutputLabels,
    bool IsConfig,
    IReadOnlyList<PropertyDescriptor> Properties,
    IReadOnlyList<CredentialDescriptor> Credentials,
    string Help);

/// <summary>
/// One option of a node type; for a list option, <see cref="Items"/> describes one column per
/// field of its items (the same record, so a column has an editor kind, choices and a default).
/// </summary>
public sealed record PropertyDescriptor(
    string Name,
    string Editor,
    string ValueType,
    JsonNode? Default,
    bool Required,
    IReadOnlyList<string>? Choices,
    double? Min,
    double? Max,
    string? ConfigType,
    string? TypeProperty,
    IReadOnlyList<string>? Types,
    string Label,
    string? Help,
    IReadOnlyList<PropertyDescriptor>? Items = null);

/// <summary>One credential field of a node type.</summary>
public sealed record CredentialDescriptor(string Name, bool Secret, string Label);
