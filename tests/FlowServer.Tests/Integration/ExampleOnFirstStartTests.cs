using System.Text;
using System.Text.Json.Nodes;
using FlowServer.Mqtt;
using FlowServer.Testing;
using FlowServer.Testing.Fixtures;
using FlowServer.Tests.Mqtt;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace FlowServer.Tests.Integration;

/// <summary>
/// The first start of a server with an empty store deploys flows/examples/getting-started.json
/// on its built-in broker, and the README's tour works against it.
/// </summary>
public sealed class ExampleOnFirstStartTests
{
    [Fact]
    public async Task An_empty_store_gets_the_example_on_the_built_in_broker_and_it_normalises_a_reading()
    {
        // Not 1883: the example must follow --broker-port. Fixed, so the restart gets the same port.
        var brokerPort = FreePort.Next();
        await using var server = await FlowServerInstance.StartAsync(o => { o.BrokerEnabled = true; o.BrokerPort = brokerPort; o.DeployExampleWhenEmpty = true; });

        var flows = JsonNode.Parse(await server.Http.GetStringAsync("/flows"))!.AsArray();
        Assert.Contains(flows, n => (string?)n!["id"] == "gs-tab");
        var broker = flows.Single(n => (string?)n!["type"] == "mqtt-broker")!;
        Assert.Equal(brokerPort.ToString(), (string?)broker["port"]);
        Assert.Equal("127.0.0.1", (string?)broker["broker"]);
        Assert.Single(JsonNode.Parse(await server.Http.GetStringAsync("/api/revisions"))!.AsArray());

        await AssertTheTourReadingIsNormalisedAsync(brokerPort);

        await server.RestartAsync();
        flows = JsonNode.Parse(await server.Http.GetStringAsync("/flows"))!.AsArray();
        Assert.Single(flows, n => (string?)n!["id"] == "gs-tab");
        Assert.Single(JsonNode.Parse(await server.Http.GetStringAsync("/api/revisions"))!.AsArray());
        await AssertTheTourReadingIsNormalisedAsync(brokerPort);
    }

    [Fact]
    public async Task The_example_follows_the_broker_port_chosen_at_start()
    {
        await using var server = await FlowServerInstance.StartAsync(o => { o.BrokerEnabled = true; o.BrokerPort = 0; o.DeployExampleWhenEmpty = true; });
        var port = server.Services.GetRequiredService<BuiltInBroker>().Port;

        var flows = JsonNode.Parse(await server.Http.GetStringAsync("/flows"))!.AsArray();
        Assert.Equal(port.ToString(), (string?)flows.Single(n => (string?)n!["type"] == "mqtt-broker")!["port"]);
        await AssertTheTourReadingIsNormalisedAsync(port);
    }

    [Fact]
    public async Task Without_the_built_in_broker_the_example_is_not_deployed()
    {
        await using var server = await FlowServerInstance.StartAsync(o => { o.BrokerEnabled = false; o.DeployExampleWhenEmpty = true; });

        Assert.Null(server.Services.GetService<BuiltInBroker>());
        Assert.Equal("[]", await server.Http.GetStringAsync("/flows"));
        Assert.Empty(JsonNode.Parse(await server.Http.GetStringAsync("/api/revisions"))!.AsArray());
    }

    // README: mosquitto_pub -t acme/plant1/area1/line1/cell7/temperature -m '{"value":26.5,"unit":"C"}'
    //   → acme/plant1/area1/line1/cell7/normalised {"value":26.5,"unit":"C","fahrenheit":79.7,"site":"plant1"}
    static async Task AssertTheTourReadingIsNormalisedAsync(int brokerPort)
    {
        await using var client = await MqttTestClient.ConnectAsync(brokerPort);
        await client.SubscribeAsync("acme/+/+/+/cell7/normalised");
        // The flow's mqtt in subscribes shortly after start; publish until it has.
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            await client.PublishAsync("acme/plant1/area1/line1/cell7/temperature", """{"value":26.5,"unit":"C"}""");
            try
            {
                var message = await client.NextAsync(TimeSpan.FromSeconds(1));
                Assert.Equal("acme/plant1/area1/line1/cell7/normalised", message.Topic);
                var payload = JsonNode.Parse(Encoding.UTF8.GetString(message.Payload))!;
                Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"value":26.5,"unit":"C","fahrenheit":79.7,"site":"plant1"}"""), payload), payload.ToJsonString());
                return;
            }
            catch (TimeoutException) when (!deadline.IsCancellationRequested) { }
        }
    }
}
