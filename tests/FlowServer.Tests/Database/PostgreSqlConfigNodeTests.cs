using System.Text.Json.Nodes;
using FlowServer.Nodes.Database;
using FlowServer.Nodes.Sdk;
using FlowServer.Testing;
using FlowServer.Testing.Fixtures;
using Npgsql;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Database;

public sealed class PostgreSqlConfigNodeTests(PostgresServer postgres) : IClassFixture<PostgresServer>
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

    static string Variable(string name, string value)
    {
        var variable = $"FS_TEST_PG_{name}_{Guid.NewGuid():N}"[..40];
        Environment.SetEnvironmentVariable(variable, value);
        return variable;
    }

    static PostgreSqlConfigNode Config(FlowTestHarness flow, string id = "pg") => (PostgreSqlConfigNode)flow.Runtime.Find(id)!.Node;

    [Fact]
    public async Task Fields_come_from_env_and_global_and_pool_and_timeouts_reach_npgsql()
    {
        var (name, db) = await postgres.CreateDatabaseAsync();
        await using var _ = db;
        var config = postgres.ConfigNode(name);
        (config["host"], config["hostFieldType"]) = ("pg.host", "global");
        (config["port"], config["portFieldType"]) = ("pgPort", "global");
        (config["database"], config["databaseFieldType"]) = (Variable("DB", name), "env");
        (config["applicationName"], config["applicationNameType"]) = (Variable("APP", "line-3-historian"), "env");
        (config["max"], config["maxFieldType"]) = (Variable("MAX", "3"), "env");
        (config["idle"], config["idleFieldType"]) = ("pgIdle", "global");
        (config["connectionTimeout"], config["connectionTimeoutFieldType"]) = ("2500", "num");
        // Credentials naming environment variables, as 0.16+ exports carry them.
        (config["user"], config["userFieldType"]) = ("", "env");
        config["credentials"] = new JsonObject { ["user"] = Variable("USER", "postgres") };
        var query = new JsonObject
        {
            ["id"] = "q", ["type"] = "postgresql", ["postgreSQLConfig"] = "pg", ["outputs"] = 1, ["wires"] = new JsonArray(new JsonArray("out")),
            ["query"] = "SELECT current_database() AS db, current_user AS who, current_setting('application_name') AS app",
        };
        await using var flow = await FlowTestHarness.StartAsync(Flow());
        flow.Runtime.GlobalContext.Set("pg", new Dictionary<string, object?> { ["host"] = "127.0.0.1" });
        flow.Runtime.GlobalContext.Set("pgPort", (double)postgres.Server.Port);
        flow.Runtime.GlobalContext.Set("pgIdle", 4500.0);
        await flow.DeployAsync(Flow(config, query, new { id = "out", type = "test-capture" }));

        await flow.SendAsync("q", FlowMessage.WithPayload(null));
        var row = Assert.IsType<Dictionary<string, object?>>(Assert.Single(Assert.IsType<List<object?>>((await flow.NextAsync("out", Wait)).Payload)));
        Assert.Equal((name, "postgres", "line-3-historian"), (row["db"], row["who"], row["app"]));

        var settings = new NpgsqlConnectionStringBuilder(Config(flow).DataSource.ConnectionString);
        Assert.Equal(("127.0.0.1", postgres.Server.Port, 3), (settings.Host, settings.Port, settings.MaxPoolSize));
        Assert.Equal(5, settings.ConnectionIdleLifetime); // 4500 ms, in whole seconds up
        Assert.Equal(3, settings.Timeout); // 2500 ms, in whole seconds up
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task A_pool_of_max_one_makes_a_second_query_wait_until_the_connection_timeout()
    {
        var (name, db) = await postgres.CreateDatabaseAsync();
        await using var _ = db;
        var config = postgres.ConfigNode(name);
        config["max"] = "1";
        config["connectionTimeout"] = "1000";
        JsonObject Query(string id, string sql) => new()
        {
            ["id"] = id, ["type"] = "postgresql", ["name"] = id, ["postgreSQLConfig"] = "pg", ["query"] = sql, ["outputs"] = 1,
            ["wires"] = new JsonArray(new JsonArray("out")),
        };
        await using var flow = await FlowTestHarness.StartAsync(Flow(config, Query("slow", "SELECT pg_sleep(8)"), Query("quick", "SELECT 1 AS one"),
            new { id = "out", type = "test-capture" }));

        // The pool's one connection opened first, so that the slow query does not itself depend on
        // connecting within the 1 s timeout (on a loaded machine it did not, and never started).
        await flow.SendAsync("quick", FlowMessage.WithPayload(null));
        await flow.NextAsync("out");
        await flow.SendAsync("slow", FlowMessage.WithPayload(null));
        var until = DateTime.UtcNow + Wait;
        while ((long)(await db.CreateCommand("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(8)'").ExecuteScalarAsync())! == 0)
        {
            Assert.True(DateTime.UtcNow < until, "the slow query did not start");
            await Task.Delay(20);
        }
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await flow.SendAsync("quick", FlowMessage.WithPayload(null));
        var error = await flow.WaitForErrorAsync("quick", TimeSpan.FromSeconds(6));

        Assert.Contains("postgresql 'quick': cannot reach", error);
        Assert.Contains("pool", error, StringComparison.OrdinalIgnoreCase);
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(6)); // the timeout, not the 8 s query
    }
}
