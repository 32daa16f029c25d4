using System.Text.Json.Nodes;
using FlowServer.Runtime;
using FlowServer.Testing;
using Xunit;

namespace FlowServer.Tests.CatalogChecks;

/// <summary>Checks that hold for every registered node type.</summary>
public sealed class CatalogTests
{
    public static TheoryData<string> BuiltInTypes()
    {
        var data = new TheoryData<string>();
        foreach (var type in NodeCatalog.CreateDefault().Types) data.Add(type.Descriptor.Type);
        return data;
    }

    static NodeTypeInfo Info(string type) => NodeCatalog.CreateDefault().TryGet(type, out var info) ? info : throw new KeyNotFoundException(type);

    [Theory]
    [MemberData(nameof(BuiltInTypes))]
    public void Descriptor_is_well_formed(string type)
    {
        var d = Info(type).Descriptor;
        Assert.False(string.IsNullOrWhiteSpace(d.Help), $"{type} has no help text");
        Assert.False(string.IsNullOrWhiteSpace(d.Category));
        Assert.Matches("^#[0-9a-fA-F]{6}$", d.Color);
        Assert.InRange(d.Inputs, 0, 1);
        Assert.True(d.Outputs >= 0);
        Assert.Equal(d.Properties.Count, d.Properties.Select(p => p.Name).Distinct().Count());
        foreach (var p in d.Properties.Where(p => p.Editor == "configNode"))
            Assert.True(p.ConfigType is not null && NodeCatalog.CreateDefault().TryGet(p.ConfigType, out var config) && config.IsConfig,
                $"{type}.{p.Name} refers to config type '{p.ConfigType}', which is not a registered config node");
        if (d.IsConfig) Assert.Equal((0, 0), (d.Inputs, d.Outputs));
        if (d.OutputsFrom is { } list)
            Assert.True(d.OutputsProperty is not null && d.Properties.Any(p => p.Name == list && p.Editor == "list"), $"{type}: outputs follow '{list}', which is not a list property, or there is no outputs property");
        // List columns as the editor draws them: a new row's default is a valid choice, a typed value names its type column.
        foreach (var column in d.Properties.SelectMany(p => p.Items ?? []))
        {
            if (column.Choices is { } choices) Assert.Contains((string?)column.Default, choices);
            if (column.TypeProperty is { } typeColumn)
                Assert.True(d.Properties.Any(p => p.Items?.Any(c => c.Name == typeColumn && c.Types is { Count: > 0 }) == true), $"{type}.{column.Name}: type column '{typeColumn}' is missing or offers no types");
        }
    }

    [Fact]
    public void Rule_and_tag_lists_describe_typed_columns()
    {
        var columns = (string type, string list) => Info(type).Descriptor.Properties.Single(p => p.Name == list).Items!.ToDictionary(c => c.Name);
        var change = columns("change", "rules");
        Assert.Equal(["set", "change", "delete", "move"], change["t"].Choices);
        Assert.Equal(("checkbox", "typedInput", "hidden"), (change["dc"].Editor, change["to"].Editor, change["tot"].Editor));
        var tags = columns("modbus-decode", "tags");
        Assert.Equal(("number", "select", "uint16"), (tags["register"].Editor, tags["type"].Editor, (string?)tags["type"].Default));
        Assert.Equal(1.0, (double)tags["scale"].Default!);
        Assert.Equal("checkbox", columns("switch", "rules")["case"].Editor);
    }

    [Theory]
    [MemberData(nameof(BuiltInTypes))]
    public void Defaults_are_valid_once_required_fields_are_given(string type)
    {
        var info = Info(type);
        var errors = new List<FlowServer.Nodes.Sdk.OptionError>();
        info.Binder.Bind(new JsonObject { ["id"] = "n", ["type"] = type }, null, errors);
        // A static link call must name its target, which no default can do.
        if (type == "link call") errors.RemoveAll(e => e.Field == "links");
        Assert.All(errors, e => Assert.True(
            info.Descriptor.Properties.Any(p => p.Name == e.Field && p.Required) && e.Message == "is required",
            $"{type}: default options are invalid: {e.Field} {e.Message}"));
    }

    [Theory]
    [MemberData(nameof(BuiltInTypes))]
    public async Task Starts_and_stops_within_the_deadline(string type)
    {
        var info = Info(type);
        var node = new JsonObject { ["id"] = "n", ["type"] = type };
        var flow = new JsonArray { new JsonObject { ["id"] = "tab1", ["type"] = "tab" }, node };
        if (!info.IsConfig) node["z"] = "tab1";
        // Fill required fields with a value of the right kind; config references get a config node.
        foreach (var p in info.Descriptor.Properties.Where(p => p.Required))
        {
            if (p.ConfigType is not null)
            {
                flow.Add(MinimalConfig(p.ConfigType));
                node[p.Name] = "cfg-" + p.ConfigType;
            }
            else node[p.Name] = SampleValue(p, "x");
        }
        // A static link call needs a target node, which no default can name; the dynamic mode needs none.
        if (type == "link call") node["linkType"] = "dynamic";
        var started = DateTime.UtcNow;
        await using (var harness = await FlowTestHarness.StartAsync(flow.ToJsonString(), new RuntimeOptions { StopDeadline = TimeSpan.FromSeconds(3) }))
            Assert.NotNull(harness.Runtime.Find("n"));
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(10), $"{type} took {(DateTime.UtcNow - started).TotalSeconds:0.0} s to start and stop");
    }

    static JsonObject MinimalConfig(string type)
    {
        var config = new JsonObject { ["id"] = "cfg-" + type, ["type"] = type };
        foreach (var p in Info(type).Descriptor.Properties.Where(p => p.Required))
            config[p.Name] = SampleValue(p, "127.0.0.1");
        return config;
    }

    /// <summary>
    /// A valid value for a required field: its non-empty default, else its first choice, else a number
    /// distinct from the other sampled numbers (ranges such as minin/maxin must differ).
    /// </summary>
    static JsonNode SampleValue(FlowServer.Nodes.Sdk.PropertyDescriptor p, string text) =>
        (p.Default is { } d && d.ToJsonString() != "\"\"" ? d.DeepClone() : null)
        ?? (p.Choices is { Count: > 0 } choices ? JsonValue.Create(choices[0])
        : p.ValueType == "number" ? JsonValue.Create(Math.Max(p.Min ?? 0, 0) + Interlocked.Increment(ref _sampleNumber))
        : JsonValue.Create(text));

    static int _sampleNumber;

    [Fact]
    public void Every_example_flow_compiles()
    {
        var directory = Path.Combine(AppContext.BaseDirectory, "flows", "examples");
        var files = Directory.GetFiles(directory, "*.json");
        Assert.NotEmpty(files);
        foreach (var file in files)
        {
            var errors = FlowTestHarness.Validate(File.ReadAllText(file));
            Assert.True(errors.Count == 0, $"{Path.GetFileName(file)}: {string.Join("; ", errors.Select(e => e.Text))}");
        }
    }
}
