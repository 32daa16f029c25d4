using System.Text.Json.Nodes;
using FlowServer.Nodes.Database;
using FlowServer.Nodes.Sdk;
using FlowServer.Testing;
using FlowServer.Testing.Fixtures;
using Npgsql;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Database;

public sealed class PostgreSqlConfigNodeTests
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    public static TheoryData<object?, SslMode> SslValues => new()
    {
        { true, SslMode.VerifyFull },
        { false, SslMode.Disable },
        { "true", SslMode.VerifyFull },
        { "false", SslMode.Disable },
        { "", SslMode.Disable },
        { null, SslMode.Disable },
        { "{\"rejectUnauthorized\":false}", SslMode.Require },
        { " {\"rejectUnauthorized\": true} ", SslMode.VerifyFull },
        { "{}", SslMode.VerifyFull },
        { new Dictionary<string, object?> { ["rejectUnauthorized"] = false }, SslMode.Require },
        { new Dictionary<string, object?> { ["ca"] = "…" }, SslMode.VerifyFull },
    };

    // node-pg: ssl true (or an object) verifies the server's certificate unless rejectUnauthorized is false.
    [Theory]
    [MemberData(nameof(SslValues))]
    public void Ssl_values_map_to_npgsql_ssl_modes_as_node_pg_reads_them(object? value, SslMode expected) =>
        Assert.Equal(expected, PostgreSqlConfigNode.Ssl(value));

    static JsonObject Query(string id, string config) => new()
    {
        ["id"] = id, ["type"] = "postgresql", ["name"] = id, ["postgreSQLConfig"] = config,
        ["query"] = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", ["outputs"] = 1,
        ["wires"] = new JsonArray(new JsonArray("out")),
    };

    [Fact]
    public async Task Ssl_connects_over_tls_and_ssl_true_checks_the_certificate()
    {
        await using var server = await PostgresFixture.StartAsync(ssl: true);
        var database = "db_ssl";
        await server.CreateDatabaseAsync(database);
        var unverified = PostgresServer.ConfigNode(server.Port, database, "tls");
        unverified["ssl"] = "{\"rejectUnauthorized\":false}";
        unverified["sslFieldType"] = "json";
        var verified = PostgresServer.ConfigNode(server.Port, database, "verified");
        verified["ssl"] = "true";
        await using var flow = await FlowTestHarness.StartAsync(Flow(
            unverified, verified, PostgresServer.ConfigNode(server.Port, database, "plain"),
            Query("q-tls", "tls"), Query("q-verified", "verified"), Query("q-plain", "plain"), new { id = "out", type = "test-capture" }));

        await flow.SendAsync("q-tls", FlowMessage.WithPayload(null));
        var row = Assert.IsType<Dictionary<string, object?>>(Assert.Single(Assert.IsType<List<object?>>((await flow.NextAsync("out", Wait)).Payload)));
        Assert.Equal(true, row["ssl"]);

        await flow.SendAsync("q-plain", FlowMessage.WithPayload(null));
        row = Assert.IsType<Dictionary<string, object?>>(Assert.Single(Assert.IsType<List<object?>>((await flow.NextAsync("out", Wait)).Payload)));
        Assert.Equal(false, row["ssl"]);

        // A self-signed certificate no one trusts: ssl true refuses it.
        await flow.SendAsync("q-verified", FlowMessage.WithPayload(null));
        var error = await flow.WaitForErrorAsync("q-verified", Wait);
        Assert.Contains("postgresql 'q-verified': cannot reach", error);
        Assert.Contains("certificate", error, StringComparison.OrdinalIgnoreCase);
    }
}
