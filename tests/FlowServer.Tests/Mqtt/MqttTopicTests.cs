using FlowServer.Nodes.Network.Mqtt;
using FlowServer.Testing;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Mqtt;

public sealed class MqttTopicTests
{
    [Theory]
    [InlineData("a/b", "a/b", true)]
    [InlineData("a/+", "a/b", true)]
    [InlineData("a/+", "a/b/c", false)]
    [InlineData("a/+/c", "a/x/c", true)]
    [InlineData("a/#", "a", true)]
    [InlineData("a/#", "a/b/c", true)]
    [InlineData("#", "a/b", true)]
    [InlineData("#", "$SYS/uptime", false)]
    [InlineData("+/b", "/b", true)]
    [InlineData("a/b", "a/B", false)]
    [InlineData("$share/group/a/+", "a/b", true)]
    [InlineData("$share/group/#", "a/b", true)]
    [InlineData("$share/group", "a", false)]
    [InlineData("a/b", "a/b/c", false)]
    [InlineData("a/b/c", "a/b", false)]
    [InlineData("a/+/#", "a/b", true)]
    [InlineData("a/+/#", "a", false)]
    [InlineData("+", "", true)]
    [InlineData("+", "a/b", false)]
    [InlineData("a//c", "a//c", true)]
    [InlineData("a/+/c", "a//c", true)]
    [InlineData("a/", "a", false)]
    [InlineData("a/", "a/", true)]
    [InlineData("+/+", "/", true)]
    [InlineData("$SYS/#", "$SYS/uptime", true)]
    [InlineData("+/uptime", "$SYS/uptime", false)]
    public void Filters_match_as_the_mqtt_specification_says(string filter, string topic, bool expected) =>
        Assert.Equal(expected, MqttTopic.Matches(filter, topic));

    [Fact]
    public void Deploy_refuses_bad_topics_and_missing_brokers_naming_the_node()
    {
        var errors = Validate(Flow(
            new { id = "b1", type = "mqtt-broker", broker = "127.0.0.1" },
            new { id = "in1", type = "mqtt in", name = "Bad filter", topic = "a/#/b", broker = "b1", wires = Array.Empty<string[]>() },
            new { id = "in2", type = "mqtt in", topic = "", broker = "b1", wires = Array.Empty<string[]>() },
            new { id = "in3", type = "mqtt in", topic = "x", broker = "nope", wires = Array.Empty<string[]>() },
            new { id = "out1", type = "mqtt out", topic = "a/+", broker = "b1" },
            new { id = "b2", type = "mqtt-broker", broker = "", protocolVersion = "6" }));

        Assert.Contains(errors, e => e is { NodeId: "in1", Field: "topic" } && e.Text.Contains("'#' must be a whole level and the last one"));
        Assert.Contains(errors, e => e is { NodeId: "in2", Field: "topic" } && e.Message == "is required");
        Assert.Contains(errors, e => e is { NodeId: "in3", Field: "broker" } && e.Message.Contains("'nope'"));
        Assert.Contains(errors, e => e is { NodeId: "out1", Field: "topic" } && e.Message.Contains("wildcards"));
        Assert.Contains(errors, e => e is { NodeId: "b2", Field: "broker" });
        Assert.Contains(errors, e => e is { NodeId: "b2", Field: "protocolVersion" });
        Assert.Equal(6, errors.Count);
    }
}
