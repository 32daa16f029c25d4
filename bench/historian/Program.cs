// End-to-end throughput of the postgresql-historian node against single-row INSERTs, on a
// throwaway PostgreSQL (the test fixture). Usage: dotnet run -c Release -- [rows] [runs]
using System.Diagnostics;
using System.Text.Json.Nodes;
using FlowServer.Nodes.Database;
using FlowServer.Testing;
using FlowServer.Testing.Fixtures;
using Npgsql;

var rows = args.Length > 0 ? int.Parse(args[0]) : 200_000;
var runs = args.Length > 1 ? int.Parse(args[1]) : 5;
var insertRows = Math.Min(rows, 20_000); // single-row INSERTs are slow; fewer rows give the same rate

await using var server = await PostgresFixture.StartAsync();
Console.WriteLine($"PostgreSQL on port {server.Port}; {rows} rows per historian run, {insertRows} per INSERT run, {runs} runs, {Environment.ProcessorCount} cores");

var historian = new List<double>();
var nodeInserts = new List<double>();
var rawInserts = new List<double>();
for (var run = 1; run <= runs; run++)
{
    historian.Add(await HistorianAsync(server, rows));
    nodeInserts.Add(await NodeInsertsAsync(server, insertRows));
    rawInserts.Add(await RawInsertsAsync(server, insertRows));
    Console.WriteLine($"run {run}: historian {historian[^1]:N0} rows/s · postgresql node INSERT {nodeInserts[^1]:N0} rows/s · Npgsql INSERT {rawInserts[^1]:N0} rows/s");
}
Console.WriteLine($"median: historian {Median(historian):N0} rows/s · postgresql node INSERT {Median(nodeInserts):N0} rows/s · Npgsql INSERT {Median(rawInserts):N0} rows/s");

static double Median(List<double> values)
{
    var sorted = values.Order().ToList();
    return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
}

static async Task<string> DatabaseAsync(PostgresFixture server)
{
    var name = "bench_" + Guid.NewGuid().ToString("N")[..12];
    await server.CreateDatabaseAsync(name);
    return name;
}

static JsonObject Config(PostgresFixture server, string database) => new()
{
    ["id"] = "pg", ["type"] = "postgreSQLConfig", ["host"] = "127.0.0.1", ["port"] = server.Port,
    ["database"] = database, ["user"] = "postgres", ["max"] = 10,
};

// Messages delivered to the historian's inbox as fast as it takes them, timed until the last row is committed.
static async Task<double> HistorianAsync(PostgresFixture server, int rows)
{
    var database = await DatabaseAsync(server);
    using var buffer = new TempDirectory("flowserver-historian-bench");
    var node = new JsonObject
    {
        ["id"] = "h", ["type"] = "postgresql-historian", ["postgreSQLConfig"] = "pg", ["table"] = "history",
        ["batchSize"] = 5000, ["flushInterval"] = 200, ["bufferDir"] = buffer.Path, ["wires"] = new JsonArray(),
    };
    await using var flow = await FlowTestHarness.StartAsync(FlowTestHarness.Flow(Config(server, database), node));
    var historian = (PostgreSqlHistorianNode)flow.Runtime.Find("h")!.Node;
    await flow.SendAsync("h", -1.0, "warm-up"); // table creation is not part of the rate
    while (historian.WrittenRows < 1) await Task.Delay(10);

    var clock = Stopwatch.StartNew();
    for (var i = 0; i < rows; i++) await flow.SendAsync("h", (double)i, $"plant/line{i % 10}/temperature");
    while (historian.WrittenRows < rows + 1) await Task.Delay(5);
    var rate = rows / clock.Elapsed.TotalSeconds;
    await using var check = NpgsqlDataSource.Create(server.ConnectionString(database));
    var count = (long)(await check.CreateCommand("SELECT count(*) FROM history").ExecuteScalarAsync())!;
    if (count != rows + 1) throw new InvalidOperationException($"historian wrote {count} rows, expected {rows + 1}");
    return rate;
}

// The Node-RED way without a historian: a postgresql node with INSERT … VALUES ($1, $2, $3) per message.
static async Task<double> NodeInsertsAsync(PostgresFixture server, int rows)
{
    var database = await DatabaseAsync(server);
    await using var db = NpgsqlDataSource.Create(server.ConnectionString(database));
    await db.CreateCommand("CREATE TABLE history (time timestamptz NOT NULL, topic text, value double precision)").ExecuteNonQueryAsync();
    var node = new JsonObject
    {
        ["id"] = "q", ["type"] = "postgresql", ["postgreSQLConfig"] = "pg",
        ["query"] = "INSERT INTO history (time, topic, value) VALUES (now(), $1, $2)", ["wires"] = new JsonArray(),
    };
    await using var flow = await FlowTestHarness.StartAsync(FlowTestHarness.Flow(Config(server, database), node));
    var clock = Stopwatch.StartNew();
    for (var i = 0; i < rows; i++)
    {
        var message = FlowServer.Nodes.Sdk.FlowMessage.WithPayload(null);
        message["params"] = new List<object?> { $"plant/line{i % 10}/temperature", (double)i };
        await flow.SendAsync("q", message);
    }
    while ((long)(await db.CreateCommand("SELECT count(*) FROM history").ExecuteScalarAsync())! < rows) await Task.Delay(5);
    return rows / clock.Elapsed.TotalSeconds;
}

// The floor of the baseline: one autocommitted INSERT per row straight through Npgsql.
static async Task<double> RawInsertsAsync(PostgresFixture server, int rows)
{
    var database = await DatabaseAsync(server);
    await using var db = NpgsqlDataSource.Create(server.ConnectionString(database));
    await db.CreateCommand("CREATE TABLE history (time timestamptz NOT NULL, topic text, value double precision)").ExecuteNonQueryAsync();
    await using var connection = await db.OpenConnectionAsync();
    await using var insert = new NpgsqlCommand("INSERT INTO history (time, topic, value) VALUES ($1, $2, $3)", connection);
    var time = new NpgsqlParameter<DateTime> { TypedValue = DateTime.UtcNow };
    var topic = new NpgsqlParameter<string> { TypedValue = "" };
    var value = new NpgsqlParameter<double>();
    insert.Parameters.Add(time);
    insert.Parameters.Add(topic);
    insert.Parameters.Add(value);
    await insert.PrepareAsync();
    var clock = Stopwatch.StartNew();
    for (var i = 0; i < rows; i++)
    {
        time.TypedValue = DateTime.UtcNow;
        topic.TypedValue = $"plant/line{i % 10}/temperature";
        value.TypedValue = i;
        await insert.ExecuteNonQueryAsync();
    }
    return rows / clock.Elapsed.TotalSeconds;
}
