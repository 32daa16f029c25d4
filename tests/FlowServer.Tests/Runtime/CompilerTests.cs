using System.Text.Json.Nodes;
using FlowServer.Runtime;
using FlowServer.Testing;
using Xunit;

namespace FlowServer.Tests.Runtime;

public sealed class CompilerTests
{
    static FlowError Single(string json)
    {
        var errors = FlowTestHarness.Validate(json);
        return Assert.Single(errors);
    }

    [Fact]
    public void Malformed_json_is_reported_with_its_position()
    {
        var error = Single("[{\"id\":\"a\",\"type\":\"inject\",}");
        Assert.Null(error.NodeId);
        Assert.Contains("malformed flow JSON", error.Message);
        Assert.Contains("line 1", error.Message);
    }

    [Fact]
    public void A_document_takes_the_node_objects_it_is_made_from_with_their_credentials_split_off()
    {
        var root = (System.Text.Json.Nodes.JsonArray)System.Text.Json.Nodes.JsonNode.Parse(
            """[{"id":"t","type":"tab"},{"id":"b","type":"mqtt-broker","broker":"h","credentials":{"user":"u","password":"p"}}]""")!;
        var broker = root[1]!.AsObject();

        var document = FlowDocument.FromNode(root, out var credentials, out _);

        Assert.Empty(root); // taken, not copied: the posted objects are the document's own now
        Assert.Same(broker, document.Nodes[1]);
        Assert.Null(broker.Parent);
        Assert.False(broker.ContainsKey("credentials"));
        Assert.Equal("""{"user":"u","password":"p"}""", credentials["b"].ToJsonString());
        Assert.Equal("""[{"id":"t","type":"tab"},{"id":"b","type":"mqtt-broker","broker":"h"}]""", document.ToJson());
    }

    [Fact]
    public void Unknown_type_names_the_node_and_the_field()
    {
        var error = Single("""[{"id":"t","type":"tab"},{"id":"n1","type":"no-such-node","name":"Mystery","z":"t","wires":[]}]""");
        Assert.Equal("n1", error.NodeId);
        Assert.Equal("type", error.Field);
        Assert.Equal("no-such-node 'Mystery' (n1): type unknown node type 'no-such-node'", error.Text);
    }

    [Fact]
    public void Missing_required_property_is_an_error()
    {
        var error = Single("""[{"id":"t","type":"tab"},{"id":"m","type":"test-mark","z":"t","wires":[]}]""");
        Assert.Equal(("m", "test-mark", "mark"), (error.NodeId, error.Type, error.Field));
        Assert.Contains("is required", error.Message);
    }

    [Fact]
    public void Wire_to_a_missing_node_is_an_error()
    {
        var error = Single("""[{"id":"t","type":"tab"},{"id":"j","type":"junction","z":"t","wires":[["ghost"]]}]""");
        Assert.Equal(("j", "wires"), (error.NodeId, error.Field));
        Assert.Contains("'ghost'", error.Message);
    }

    [Theory]
    [InlineData("t", "tab")]
    [InlineData("g", "group")]
    [InlineData("b", "mqtt-broker config node")]
    [InlineData("i", "inject node")]
    public void Wire_to_something_without_an_input_is_an_error(string target, string kind)
    {
        var error = Single($$"""
        [{"id":"t","type":"tab"},
         {"id":"g","type":"group","z":"t","nodes":["j"]},
         {"id":"b","type":"mqtt-broker","broker":"127.0.0.1","port":"1883"},
         {"id":"i","type":"inject","z":"t","wires":[]},
         {"id":"j","type":"junction","z":"t","name":"Fan","wires":[["{{target}}"]]}]
        """);
        Assert.Equal(("j", "junction", "Fan", "wires"), (error.NodeId, error.Type, error.Name, error.Field));
        Assert.Equal($"port 0 is wired to the {kind} '{target}', which takes no input", error.Message);
    }

    [Fact]
    public void Duplicate_ids_are_an_error()
    {
        var error = Single("""[{"id":"t","type":"tab"},{"id":"j","type":"junction","z":"t","wires":[]},{"id":"j","type":"comment","z":"t"}]""");
        Assert.Equal(("j", "id"), (error.NodeId, error.Field));
    }

    [Fact]
    public void Out_of_range_and_wrong_typed_values_are_errors()
    {
        var errors = FlowTestHarness.Validate("""
            [{"id":"t","type":"tab"},
             {"id":"i","type":"inject","z":"t","repeat":"-5","wires":[]},
             {"id":"d","type":"debug","z":"t","active":"maybe","wires":[]},
             {"id":"q","type":"junction","z":"t","queueSize":0,"queueOverflow":"spill","wires":[]}]
            """);
        Assert.Contains(errors, e => e is { NodeId: "i", Field: "repeat" } && e.Message.Contains("at least 0"));
        Assert.Contains(errors, e => e is { NodeId: "d", Field: "active" });
        Assert.Contains(errors, e => e is { NodeId: "q", Field: "queueSize" });
        Assert.Contains(errors, e => e is { NodeId: "q", Field: "queueOverflow" });
    }

    [Fact]
    public void Loose_values_as_node_red_writes_them_are_accepted()
    {
        Assert.Empty(FlowTestHarness.Validate("""
            [{"id":"t","type":"tab"},
             {"id":"i","type":"inject","z":"t","repeat":"","once":"true","onceDelay":"0.5","payload":"","payloadType":"date","unknownProp":{"kept":true},"wires":[[]]}]
            """));
    }

    [Fact]
    public void Every_error_of_a_document_is_reported_at_once()
    {
        var errors = FlowTestHarness.Validate("""
            [{"id":"t","type":"tab"},{"id":"a","type":"nope","z":"t"},{"id":"b","type":"test-mark","z":"t","wires":[["zz"]]}]
            """);
        Assert.Equal(3, errors.Count);
    }

    // Large documents compile on every core; what comes out must not depend on that.
    [Fact]
    public void A_large_document_compiles_to_the_same_plan_and_errors_in_document_order_as_its_parts()
    {
        var nodes = new List<string> { """{"id":"t","type":"tab"}""" };
        var broken = new List<(string Id, string Json)>();
        for (var i = 0; i < 300; i++)
        {
            nodes.Add($$"""{"id":"i{{i}}","type":"inject","z":"t","repeat":"","payloadType":"date","wires":[["f{{i}}"]]}""");
            nodes.Add($$"""{"id":"f{{i}}","type":"function","z":"t","func":"msg.n = {{i}};\nreturn msg;","outputs":1,"wires":[["d{{i}}"]]}""");
            nodes.Add($$"""{"id":"d{{i}}","type":"debug","z":"t","wires":[]}""");
            if (i % 37 != 5) continue;
            // A node with an error of its own every so often, of a different kind each time.
            var bad = (i / 37 % 3) switch
            {
                0 => $$"""{"id":"x{{i}}","type":"no-such-type","z":"t"}""",
                1 => $$"""{"id":"x{{i}}","type":"function","z":"t","func":"return msg;;}{","wires":[[]]}""",
                _ => $$"""{"id":"x{{i}}","type":"inject","z":"t","repeat":"-{{i}}","wires":[["nowhere{{i}}"]]}""",
            };
            nodes.Add(bad);
            broken.Add(($"x{i}", bad));
        }
        var large = "[" + string.Join(",", nodes) + "]";
        Assert.True(nodes.Count >= 900);

        var errors = FlowTestHarness.Validate(large);
        // The same errors, in the same order, as each broken node gives in a document of its own (compiled serially).
        var expected = broken.SelectMany(b => FlowTestHarness.Validate($$"""[{"id":"t","type":"tab"},{{b.Json}}]""")).ToList();
        Assert.Equal(expected.Count, errors.Count);
        Assert.Equal(expected.Select(e => e.Text), errors.Select(e => e.Text));
        Assert.Equal(broken.Select(b => b.Id), errors.Select(e => e.NodeId).Distinct());

        // Without the broken nodes the plan holds every node, in document order.
        var valid = "[" + string.Join(",", nodes.Where(n => !broken.Any(b => b.Json == n))) + "]";
        var document = FlowDocument.Parse(valid, out var credentials, out _);
        var plan = new FlowCompiler(FlowTestHarness.Catalog).Compile(document, credentials);
        Assert.Equal(document.Nodes.Skip(1).Select(FlowDocument.IdOf), plan.Nodes.Select(n => n.Id));
        Assert.Equal(["f7"], plan.Nodes.Single(n => n.Id == "i7").Wires.Single());
    }
}
