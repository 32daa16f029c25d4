using System.Net;
using System.Text.Json.Nodes;
using FlowServer.Testing;
using FlowServer.Tests.Storage;
using Xunit;

namespace FlowServer.Tests.Integration;

/// <summary>The whole server configured for PostgreSQL storage, as a plant would run it.</summary>
public sealed class PostgresStorageAppTests(PostgresServer postgres) : IClassFixture<PostgresServer>
{
    const string Flow = """
    [{"id":"pt","type":"tab","label":"Historian feed"},
     {"id":"pb","type":"mqtt-broker","name":"b","broker":"127.0.0.1","port":"1","autoConnect":false,"credentials":{"user":"plc","password":"pg-secret"}},
     {"id":"pi","type":"inject","z":"pt","name":"tick","props":[{"p":"payload"}],"payload":"42","payloadType":"num","repeat":"","once":false,"x":100,"y":80,"wires":[["pd"]],"vendorField":[1,2,3]},
     {"id":"pd","type":"debug","z":"pt","name":"out","active":true,"complete":"payload","x":300,"y":80,"wires":[]}]
    """;

    [Fact]
    public async Task Server_on_PostgreSQL_keeps_flows_and_credentials_across_a_restart()
    {
        var connection = await postgres.Server.CreateDatabaseAsync();
        await using var server = await FlowServerInstance.StartAsync(o => { o.Storage = "postgresql"; o.ConnectionString = connection; });

        Assert.Equal(HttpStatusCode.NoContent, (await server.DeployAsync(Flow)).StatusCode);
        await server.RestartAsync();

        var flows = JsonNode.Parse(await server.Http.GetStringAsync("/flows"))!.AsArray();
        var inject = flows.Single(n => (string?)n!["id"] == "pi")!;
        Assert.Equal("[1,2,3]", inject["vendorField"]!.ToJsonString());
        Assert.DoesNotContain("pg-secret", flows.ToJsonString());
        var credentials = JsonNode.Parse(await server.Http.GetStringAsync("/credentials/mqtt-broker/pb"))!;
        Assert.True(credentials["has_password"]!.GetValue<bool>());
        Assert.Equal("plc", (string?)credentials["user"]);

        var revisions = JsonNode.Parse(await server.Http.GetStringAsync("/api/revisions"))!.AsArray();
        Assert.Single(revisions);
        Assert.Equal(HttpStatusCode.OK, (await server.Http.PostAsync("/inject/pi", null)).StatusCode);
    }
}
