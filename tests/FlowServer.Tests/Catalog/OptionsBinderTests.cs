using System.Text.Json;
using System.Text.Json.Nodes;
using FlowServer.Nodes.Sdk;
using FlowServer.Runtime;
using Xunit;

namespace FlowServer.Tests.CatalogChecks;

/// <summary>
/// The binder takes a shortcut for a JSON value that already has its property's type; whatever
/// it binds must be exactly what the tolerant converters give (value or error), shortcut or not.
/// </summary>
public sealed class OptionsBinderTests
{
    public sealed class Sample : NodeOptions
    {
        [Property("text")] public string Text { get; set; } = "default";
        [Property("count")] public int Count { get; set; } = 7;
        [Property("ratio")] public double Ratio { get; set; } = 0.5;
        [Property("flag")] public bool Flag { get; set; }
        [Property("expiry")] public uint Expiry { get; set; }
    }

    public static TheoryData<string, string> Values()
    {
        var data = new TheoryData<string, string>();
        string[] values = ["\"abc\"", "\" padded \"", "\"12\"", "\"1.5\"", "\"true\"", "\"off\"", "12", "-3", "1.5", "1e3", "2147483648", "0", "true", "false", "[1]", "{\"a\":1}"];
        foreach (var field in new[] { "text", "count", "ratio", "flag", "expiry" })
            foreach (var value in values) data.Add(field, value);
        return data;
    }

    [Theory]
    [MemberData(nameof(Values))]
    public void Binds_every_value_as_the_tolerant_converters_do(string field, string json)
    {
        var property = typeof(Sample).GetProperties().Single(p => p.Name.Equals(field, StringComparison.OrdinalIgnoreCase));
        object? expected = null;
        string? expectedError = null;
        try { expected = JsonNode.Parse(json)!.Deserialize(property.PropertyType, TolerantJson.Options); }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or NotSupportedException) { expectedError = e.GetType().Name; }

        var errors = new List<OptionError>();
        // Parsed as a deploy parses it: values backed by the posted document, not built in code.
        var node = JsonNode.Parse($"{{\"id\":\"n1\",\"type\":\"sample\",\"{field}\":{json}}}")!.AsObject();
        var options = (Sample)new OptionsBinder(typeof(Sample)).Bind(node, null, errors);

        if (expectedError is not null)
        {
            Assert.Contains(errors, e => e.Field == field);
            return;
        }
        Assert.DoesNotContain(errors, e => e.Field == field);
        Assert.Equal(expected, property.GetValue(options));
    }

    [Fact]
    public void A_value_built_in_code_binds_too()
    {
        var node = new JsonObject { ["id"] = "n1", ["type"] = "sample", ["text"] = "x", ["count"] = 3.0, ["ratio"] = 2, ["flag"] = true };
        var errors = new List<OptionError>();
        var options = (Sample)new OptionsBinder(typeof(Sample)).Bind(node, null, errors);
        Assert.Empty(errors);
        Assert.Equal(("x", 3, 2.0, true), (options.Text, options.Count, options.Ratio, options.Flag));
    }
}
