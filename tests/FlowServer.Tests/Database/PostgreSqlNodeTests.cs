using System.Text.Json.Nodes;
using FlowServer.Nodes.Sdk;
using FlowServer.Testing;
using Npgsql;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Database;

public sealed class PostgreSqlNodeTests(PostgresServer postgres) : IClassFixture<PostgresServer>
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    static JsonObject QueryNode(string query, bool split = false, int rowsPerMsg = 1) => new()
    {
        ["id"] = "q",
        ["type"] = "postgresql",
        ["name"] = "Query",
        ["query"] = query,
        ["postgreSQLConfig"] = "pg",
        ["split"] = split,
        ["rowsPerMsg"] = rowsPerMsg,
        ["outputs"] = 1,
        ["wires"] = new JsonArray(new JsonArray("out")),
    };

    static object[] Capture => [
        new { id = "out", type = "test-capture" },
        new { id = "catch", type = "catch", scope = (string[]?)null, wires = new[] { new[] { "caught" } } },
        new { id = "caught", type = "test-capture" }];

    async Task<(FlowTestHarness Flow, NpgsqlDataSource Db)> StartAsync(JsonObject query)
    {
        var (name, db) = await postgres.CreateDatabaseAsync();
        var flow = await FlowTestHarness.StartAsync(Flow([postgres.ConfigNode(name), query, .. Capture]));
        return (flow, db);
    }

    // On a timeout, say which node errors happened instead.
    static async Task<FlowMessage> NextAsync(FlowTestHarness flow, string capture)
    {
        try { return await flow.NextAsync(capture, Wait); }
        catch (TimeoutException e) { throw new TimeoutException($"{e.Message}; node errors: {string.Join(" | ", flow.Errors)}"); }
    }

    static async Task<List<FlowMessage>> TakeAsync(FlowTestHarness flow, int count)
    {
        try { return await flow.Capture("out").TakeAsync(count, Wait); }
        catch (TimeoutException e) { throw new TimeoutException($"{e.Message}; node errors: {string.Join(" | ", flow.Errors)}"); }
    }

    static FlowMessage Message(object? payload, params object?[] parameters)
    {
        var message = FlowMessage.WithPayload(payload);
        if (parameters.Length > 0) message["params"] = parameters.ToList();
        return message;
    }

    [Fact]
    public async Task Params_bind_dollar_placeholders_and_hostile_strings_stay_data()
    {
        var (flow, db) = await StartAsync(QueryNode("INSERT INTO items (id, name) VALUES ($1, $2) RETURNING id, name"));
        await using var _ = flow;
        await using var __ = db;
        await db.CreateCommand("CREATE TABLE items (id int PRIMARY KEY, name text)").ExecuteNonQueryAsync();
        const string hostile = "'; DROP TABLE items; --";

        await flow.SendAsync("q", Message(null, 1.0, hostile));
        await flow.SendAsync("q", Message(null, 2.0, "Robert'); DELETE FROM items; --\" $1 {{msg}}"));
        var first = await NextAsync(flow, "out");
        var second = await NextAsync(flow, "out");

        var row = Assert.IsType<Dictionary<string, object?>>(Assert.Single(Assert.IsType<List<object?>>(first.Payload)));
        Assert.Equal(1.0, row["id"]);
        Assert.Equal(hostile, row["name"]);
        var pgsql = Assert.IsType<Dictionary<string, object?>>(first["pgsql"]);
        Assert.Equal("INSERT", pgsql["command"]);
        Assert.Equal(1.0, pgsql["rowCount"]);
        Assert.NotNull(second.Payload);
        Assert.Equal(2L, await db.CreateCommand("SELECT count(*) FROM items").ExecuteScalarAsync());
        Assert.Equal(hostile, await db.CreateCommand("SELECT name FROM items WHERE id = 1").ExecuteScalarAsync());
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Params_of_every_message_type_are_inferred_by_the_server()
    {
        var (flow, db) = await StartAsync(QueryNode("SELECT $1::int + 1 AS n, $2::text AS t, $3::boolean AS b, $4::int[] AS a, $5::jsonb AS j, $6::text AS z, $7::bytea AS raw, 9000000000::bigint AS big"));
        await using var _ = flow;
        await using var __ = db;

        await flow.SendAsync("q", Message(null, 41.0, "x", true, new List<object?> { 1.0, 2.0 }, new Dictionary<string, object?> { ["k"] = "v" }, null, new byte[] { 1, 2 }));
        var message = await NextAsync(flow, "out");

        var row = Assert.IsType<Dictionary<string, object?>>(Assert.Single(Assert.IsType<List<object?>>(message.Payload)));
        Assert.Equal(42.0, row["n"]);
        Assert.Equal("x", row["t"]);
        Assert.Equal(true, row["b"]);
        Assert.Equal(new List<object?> { 1.0, 2.0 }, row["a"]);
        Assert.Equal("v", Assert.IsType<Dictionary<string, object?>>(row["j"])["k"]);
        Assert.Null(row["z"]);
        Assert.Equal(new byte[] { 1, 2 }, row["raw"]);
        Assert.Equal("9000000000", row["big"]); // as node-pg: int8 as a string
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Query_is_a_mustache_template_rendered_with_msg()
    {
        var (flow, db) = await StartAsync(QueryNode("SELECT {{{msg.payload}}} AS n, '{{msg.topic}}' AS topic;"));
        await using var _ = flow;
        await using var __ = db;

        var input = FlowMessage.WithPayload(6.0 * 7, "line/3");
        await flow.SendAsync("q", input);
        var message = await NextAsync(flow, "out");

        var row = Assert.IsType<Dictionary<string, object?>>(Assert.Single(Assert.IsType<List<object?>>(message.Payload)));
        Assert.Equal(42.0, row["n"]);
        Assert.Equal("line/3", row["topic"]);
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Msg_query_replaces_the_node_query_and_several_statements_report_each()
    {
        var (flow, db) = await StartAsync(QueryNode("SELECT 1 AS never"));
        await using var _ = flow;
        await using var __ = db;

        var input = FlowMessage.WithPayload(null);
        input["query"] = "CREATE TABLE t (v int); INSERT INTO t VALUES (1), (2); SELECT v FROM t ORDER BY v";
        await flow.SendAsync("q", input);
        var message = await NextAsync(flow, "out");

        var rows = Assert.IsType<List<object?>>(message.Payload);
        Assert.Equal([1.0, 2.0], rows.Select(r => ((Dictionary<string, object?>)r!)["v"]));
        var statements = Assert.IsType<List<object?>>(message["pgsql"]);
        Assert.Equal(["CREATE", "INSERT", "SELECT"], statements.Select(s => ((Dictionary<string, object?>)s!)["command"]));
        Assert.Equal(2.0, ((Dictionary<string, object?>)statements[1]!)["rowCount"]);
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Split_sends_rowsPerMsg_rows_per_message_with_parts()
    {
        var (flow, db) = await StartAsync(QueryNode("SELECT g AS n FROM generate_series(1, 10) g", split: true, rowsPerMsg: 3));
        await using var _ = flow;
        await using var __ = db;

        var input = FlowMessage.WithPayload(null, "batch");
        await flow.SendAsync("q", input);
        var messages = await TakeAsync(flow, 4);

        Assert.Equal([3, 3, 3, 1], messages.Select(m => ((List<object?>)m.Payload!).Count));
        Assert.Equal(Enumerable.Range(1, 10).Select(i => (object?)(double)i),
            messages.SelectMany(m => (List<object?>)m.Payload!).Select(r => ((Dictionary<string, object?>)r!)["n"]));
        var parts = messages.Select(m => Assert.IsType<Dictionary<string, object?>>(m["parts"])).ToList();
        Assert.Equal([0.0, 1.0, 2.0, 3.0], parts.Select(p => p["index"]));
        Assert.Single(parts.Select(p => p["id"]).Distinct());
        Assert.Equal(4.0, parts[3]["count"]);
        Assert.Equal(true, messages[3]["complete"]);
        Assert.All(messages.Take(3), m => Assert.Null(m["complete"]));
        Assert.All(messages, m => Assert.Equal("batch", m.Topic));
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(300)));
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Split_with_one_row_per_message_sends_the_row_itself()
    {
        var (flow, db) = await StartAsync(QueryNode("SELECT g AS n FROM generate_series(1, 3) g", split: true));
        await using var _ = flow;
        await using var __ = db;

        await flow.SendAsync("q", Message(null));
        var messages = await TakeAsync(flow, 3);

        Assert.Equal([1.0, 2.0, 3.0], messages.Select(m => ((Dictionary<string, object?>)m.Payload!)["n"]));
        Assert.Equal(3.0, ((Dictionary<string, object?>)messages[2]["parts"]!)["count"]);
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Bad_sql_goes_to_catch_with_the_server_error()
    {
        var (flow, db) = await StartAsync(QueryNode("SELEC nonsense"));
        await using var _ = flow;
        await using var __ = db;

        await flow.SendAsync("q", FlowMessage.WithPayload("p1", "t1"));
        var caught = await flow.NextAsync("caught", Wait);

        var error = Assert.IsType<Dictionary<string, object?>>(caught["error"]);
        var text = Assert.IsType<string>(error["message"]);
        Assert.Contains("syntax error at or near \"SELEC\"", text);
        Assert.Contains("postgresql 'Query'", text);
        Assert.Equal("q", ((Dictionary<string, object?>)error["source"]!)["id"]);
        Assert.Equal("p1", caught.Payload);
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(200)));
    }

    [Fact]
    public async Task Missing_table_goes_to_catch_with_the_server_error()
    {
        var (flow, db) = await StartAsync(QueryNode("SELECT * FROM no_such_table WHERE id = $1"));
        await using var _ = flow;
        await using var __ = db;

        await flow.SendAsync("q", Message(null, 1.0));
        var caught = await flow.NextAsync("caught", Wait);

        var text = (string)((Dictionary<string, object?>)caught["error"]!)["message"]!;
        Assert.Contains("relation \"no_such_table\" does not exist", text);
        Assert.Contains("42P01", text);
    }

    [Fact]
    public async Task Fields_come_from_env_and_credentials_as_newer_exports_have_them()
    {
        var (name, db) = await postgres.CreateDatabaseAsync();
        await using var __ = db;
        var variable = "FS_TEST_PG_PORT_" + Guid.NewGuid().ToString("N")[..8];
        Environment.SetEnvironmentVariable(variable, postgres.Server.Port.ToString());
        var config = postgres.ConfigNode(name);
        config["port"] = variable;
        config["portFieldType"] = "env";
        config["user"] = "";
        config["credentials"] = new JsonObject { ["user"] = "postgres", ["password"] = "" };
        await using var flow = await FlowTestHarness.StartAsync(Flow([config, QueryNode("SELECT current_database() AS db, current_user AS who"), .. Capture]));

        await flow.SendAsync("q", Message(null));
        var message = await NextAsync(flow, "out");

        var row = (Dictionary<string, object?>)((List<object?>)message.Payload!)[0]!;
        Assert.Equal(name, row["db"]);
        Assert.Equal("postgres", row["who"]);
        flow.AssertNoErrors();
    }

    [Theory]
    [InlineData("1, 2", "string")]
    [InlineData(7.0, "number")]
    public async Task Params_that_are_not_an_array_go_to_catch_naming_the_node_and_field(object value, string type)
    {
        var (flow, db) = await StartAsync(QueryNode("INSERT INTO items (id) VALUES ($1)"));
        await using var _ = flow;
        await using var __ = db;
        await db.CreateCommand("CREATE TABLE items (id int)").ExecuteNonQueryAsync();
        var message = FlowMessage.WithPayload(null);
        message["params"] = value;

        await flow.SendAsync("q", message);
        var caught = await NextAsync(flow, "caught");

        Assert.Equal($"postgresql 'Query': msg.params must be an array of the values for $1, $2, …, not {type}",
            ((Dictionary<string, object?>)caught["error"]!)["message"]);
        Assert.Equal(0L, await db.CreateCommand("SELECT count(*) FROM items").ExecuteScalarAsync());
    }

    [Fact]
    public async Task A_lost_connection_goes_to_catch_and_the_node_recovers_when_the_server_is_back()
    {
        var (flow, db) = await StartAsync(QueryNode("SELECT $1::int AS n"));
        await using var _ = flow;
        await using var __ = db;
        await flow.SendAsync("q", Message(null, 1.0));
        await NextAsync(flow, "out");

        await postgres.Server.StopAsync();
        try
        {
            await flow.SendAsync("q", Message(null, 2.0));
            var caught = await flow.NextAsync("caught", Wait);
            Assert.Contains("postgresql 'Query'", (string)((Dictionary<string, object?>)caught["error"]!)["message"]!);
        }
        finally
        {
            await postgres.Server.StartAgainAsync();
        }
        flow.ClearErrors();

        await flow.SendAsync("q", Message(null, 3.0));
        var message = await NextAsync(flow, "out");

        Assert.Equal(3.0, ((Dictionary<string, object?>)((List<object?>)message.Payload!)[0]!)["n"]);
        flow.AssertNoErrors();
    }
}
