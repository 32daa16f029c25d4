// End-to-end throughput of the postgresql-historian node against single-row INSERTs, on a
// throwaway PostgreSQL and Mosquitto (the test fixtures). Usage: dotnet run -c Release -- [rows] [runs]
// BENCH_CASES=historian,insert (a comma list of the case names below) runs only those cases.
using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using FlowServer.Nodes.Database;
using FlowServer.Testing;
using FlowServer.Testing.Fixtures;
using MQTTnet;
using MQTTnet.Protocol;
using Npgsql;

var rows = args.Length > 0 ? int.Parse(args[0]) : 200_000;
var runs = args.Length > 1 ? int.Parse(args[1]) : 5;
var insertRows = Math.Min(rows, 20_000); // single-row INSERTs are slow; fewer rows give the same rate

string[] allCases = ["mqtt-alone", "mqtt-historian", "mqtt-insert", "historian", "insert", "npgsql", "append"];
var cases = Environment.GetEnvironmentVariable("BENCH_CASES")?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) ?? allCases;
if (cases.Except(allCases).ToList() is [_, ..] unknown) throw new ArgumentException($"BENCH_CASES: unknown case {string.Join(", ", unknown)} (known: {string.Join(", ", allCases)})");
bool Runs(string name) => cases.Contains(name);

if (cases is ["append"])
{
    // The historian's buffer alone, without database or runtime: appends per second with and
    // without handing every record to the OS (what the node does per message), interleaved.
    var (buffered, flushed) = (new List<double>(), new List<double>());
    for (var run = 1; run <= runs; run++)
    {
        buffered.Add(Appends(rows, flushEach: false));
        flushed.Add(Appends(rows, flushEach: true));
        Console.WriteLine($"run {run}: append {buffered[^1]:N0}/s · append + flush to the OS {flushed[^1]:N0}/s");
    }
    Console.WriteLine($"median: append {Median(buffered):N0}/s · append + flush to the OS {Median(flushed):N0}/s");
    return;
}

await using var server = await PostgresFixture.StartAsync();
await using var broker = cases.Any(c => c.StartsWith("mqtt")) ? await BenchBroker.StartAsync() : null;
Console.WriteLine($"cases {string.Join(", ", cases)}; PostgreSQL on port {server.Port}, {broker?.Name} on {broker?.Port}; MQTT QoS {Qos.Level}, {Clients.Publisher} publisher; {rows} rows per historian run, {insertRows} per INSERT run, {runs} runs, {Environment.ProcessorCount} cores");

var mqttAlone = new List<double>();
var mqttHistorian = new List<double>();
var mqttNodeInserts = new List<double>();
var historian = new List<double>();
var nodeInserts = new List<double>();
var rawInserts = new List<double>();
// Run 0 warms up (not counted): in the first seconds .NET is still compiling the hot paths at
// its higher tier, and the first run came out 15-25 % below the later ones. BENCH_WARMUP=0 skips it.
var warmUp = Environment.GetEnvironmentVariable("BENCH_WARMUP") != "0";
for (var run = warmUp ? 0 : 1; run <= runs; run++)
{
    if (Runs("mqtt-alone")) mqttAlone.Add(await MqttAloneAsync(broker!, rows));
    if (Runs("mqtt-historian")) mqttHistorian.Add(await MqttHistorianAsync(server, broker!, rows));
    if (Runs("mqtt-insert")) mqttNodeInserts.Add(await MqttNodeInsertsAsync(server, broker!, insertRows));
    if (Runs("historian")) historian.Add(await HistorianAsync(server, rows));
    if (Runs("insert")) nodeInserts.Add(await NodeInsertsAsync(server, insertRows));
    if (Runs("npgsql")) rawInserts.Add(await RawInsertsAsync(server, insertRows));
    Console.WriteLine($"{(run == 0 ? "warm-up (not counted)" : $"run {run}")}: MQTT alone (publisher → broker → MQTTnet subscriber) {Last(mqttAlone):N0} msgs/s · MQTT → historian {Last(mqttHistorian):N0} rows/s · MQTT → postgresql node INSERT {Last(mqttNodeInserts):N0} rows/s · " +
        $"inbox → historian {Last(historian):N0} rows/s · inbox → postgresql node INSERT {Last(nodeInserts):N0} rows/s · Npgsql INSERT {Last(rawInserts):N0} rows/s");
    if (run == 0) foreach (var list in new[] { mqttAlone, mqttHistorian, mqttNodeInserts, historian, nodeInserts, rawInserts }) list.Clear();
}
Console.WriteLine($"median: MQTT alone {Median(mqttAlone):N0} msgs/s · MQTT → historian {Median(mqttHistorian):N0} rows/s · MQTT → postgresql node INSERT {Median(mqttNodeInserts):N0} rows/s · " +
    $"inbox → historian {Median(historian):N0} rows/s · inbox → postgresql node INSERT {Median(nodeInserts):N0} rows/s · Npgsql INSERT {Median(rawInserts):N0} rows/s");
Console.WriteLine($"ratio MQTT → historian / MQTT → INSERT: {Median(mqttHistorian) / Median(mqttNodeInserts):0.0}×");

static double Appends(int rows, bool flushEach)
{
    using var directory = new TempDirectory("flowserver-historian-bench");
    using var buffer = HistorianBuffer.Open(directory.Path);
    var clock = Stopwatch.StartNew();
    for (var i = 0; i < rows; i++)
    {
        buffer.Append(DateTime.UtcNow.Ticks / 10, $"plant/line{i % 10}/temperature", i, null);
        if (flushEach) buffer.Flush();
    }
    buffer.Flush();
    return rows / clock.Elapsed.TotalSeconds;
}

static double Last(List<double> values) => values.Count > 0 ? values[^1] : double.NaN;

static double Median(List<double> values)
{
    if (values.Count == 0) return double.NaN; // a case not run
    var sorted = values.Order().ToList();
    return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
}

static JsonObject Broker(BenchBroker broker) => new()
{
    ["id"] = "mb", ["type"] = "mqtt-broker", ["broker"] = "127.0.0.1", ["port"] = broker.Port, ["keepalive"] = 30,
};

static JsonObject MqttIn(string target) => new()
{
    ["id"] = "in", ["type"] = "mqtt in", ["topic"] = "plant/#", ["qos"] = Qos.Level.ToString(), ["datatype"] = "auto-detect", ["broker"] = "mb",
    ["wires"] = new JsonArray { new JsonArray { target } },
};

// Publishes every reading with QoS 1 from an independent client, keeping a window of 100
// unacknowledged publishes in flight (as a PLC gateway would), so the publisher is not the limit.
static async Task PublishAsync(BenchBroker broker, int count)
{
    if (Clients.Publisher == "raw")
    {
        using var raw = await RawPublisher.ConnectAsync(broker.Port, "bench-publisher-" + Guid.NewGuid().ToString("N")[..8]);
        await raw.PublishAsync(count, Qos.Level, window: 100, i => $"plant/line{i % 10}/temperature", i => i.ToString());
        return;
    }
    using var client = Clients.Create();
    var options = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", broker.Port)
        .WithClientId("bench-publisher-" + Guid.NewGuid().ToString("N")[..8]).Build();
    ((MqttClientTcpOptions)options.ChannelOptions).BufferSize = 256 * 1024; // the 8 KiB default stalls high rates
    await client.ConnectAsync(options);
    using var window = new SemaphoreSlim(100);
    var pending = new List<Task>(count);
    for (var i = 0; i < count; i++)
    {
        await window.WaitAsync();
        var message = new MqttApplicationMessageBuilder().WithTopic($"plant/line{i % 10}/temperature")
            .WithPayload(Encoding.ASCII.GetBytes(i.ToString())).WithQualityOfServiceLevel((MqttQualityOfServiceLevel)Qos.Level).Build();
        pending.Add(PublishOneAsync(client, message, window));
    }
    await Task.WhenAll(pending);
    await client.DisconnectAsync();

    static async Task PublishOneAsync(IMqttClient client, MqttApplicationMessage message, SemaphoreSlim window)
    {
        try
        {
            var result = await client.PublishAsync(message);
            if (!result.IsSuccess && result.ReasonCode != MqttClientPublishReasonCode.NoMatchingSubscribers)
                throw new InvalidOperationException($"publish failed: {result.ReasonCode}");
        }
        finally { window.Release(); }
    }
}

// The ceiling of the MQTT leg on this machine: the same publisher and broker, and a bare
// MQTTnet subscriber (same QoS, same socket buffers) that only counts, no flow and no database.
static async Task<double> MqttAloneAsync(BenchBroker broker, int count)
{
    using var subscriber = Clients.Create();
    var received = 0;
    var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    subscriber.ApplicationMessageReceivedAsync += _ =>
    {
        if (Interlocked.Increment(ref received) == count) all.TrySetResult();
        return Task.CompletedTask;
    };
    var options = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", broker.Port).WithClientId("bench-sub-" + Guid.NewGuid().ToString("N")[..8]).Build();
    ((MqttClientTcpOptions)options.ChannelOptions).BufferSize = 1 << 20;
    await subscriber.ConnectAsync(options);
    await subscriber.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter("plant/#", (MqttQualityOfServiceLevel)Qos.Level).Build());
    var clock = Stopwatch.StartNew();
    await PublishAsync(broker, count);
    if (await Task.WhenAny(all.Task, Task.Delay(TimeSpan.FromSeconds(30))) != all.Task) throw new TimeoutException($"only {received} of {count} messages arrived; the broker said:\n{broker.Output}");
    var rate = count / clock.Elapsed.TotalSeconds;
    await subscriber.DisconnectAsync();
    return rate;
}

static async Task WaitConnectedAsync(FlowTestHarness flow)
{
    var deadline = DateTime.UtcNow.AddSeconds(20);
    while (flow.Runtime.Find("in")?.Status.Text != "connected")
    {
        if (DateTime.UtcNow > deadline) throw new TimeoutException("mqtt in did not connect");
        await Task.Delay(20);
    }
    await Task.Delay(200); // the subscription is sent right after the connection
}

// mqtt in (QoS 1) → historian, timed from the first publish until the last row is committed.
static async Task<double> MqttHistorianAsync(PostgresFixture server, BenchBroker broker, int rows)
{
    var database = await DatabaseAsync(server);
    using var buffer = new TempDirectory("flowserver-historian-bench");
    var node = new JsonObject
    {
        ["id"] = "h", ["type"] = "postgresql-historian", ["postgreSQLConfig"] = "pg", ["table"] = "history",
        ["batchSize"] = 5000, ["flushInterval"] = 200, ["bufferDir"] = buffer.Path, ["wires"] = new JsonArray(),
    };
    await using var flow = await FlowTestHarness.StartAsync(FlowTestHarness.Flow(Config(server, database), Broker(broker), MqttIn("h"), node));
    var historian = (PostgreSqlHistorianNode)flow.Runtime.Find("h")!.Node;
    await WaitConnectedAsync(flow);
    await PublishAsync(broker, 1); // warm-up: table creation is not part of the rate
    while (historian.WrittenRows < 1) await Task.Delay(10);

    var clock = Stopwatch.StartNew();
    await PublishAsync(broker, rows);

    var deadline = DateTime.UtcNow.AddMinutes(5);
    while (historian.WrittenRows < rows + 1)
    {
        if (DateTime.UtcNow > deadline) throw new TimeoutException($"only {historian.WrittenRows} of {rows + 1} rows written");
        await Task.Delay(5);
    }
    var rate = rows / clock.Elapsed.TotalSeconds;
    await using var check = NpgsqlDataSource.Create(server.ConnectionString(database));
    var count = (long)(await check.CreateCommand("SELECT count(*) FROM history").ExecuteScalarAsync())!;
    var distinct = (long)(await check.CreateCommand("SELECT count(DISTINCT value) FROM history").ExecuteScalarAsync())!;
    if (count != rows + 1 || distinct != rows)
        throw new InvalidOperationException($"historian wrote {count} rows ({distinct} distinct values), expected {rows + 1} ({rows} distinct)");
    return rate;
}

// The Node-RED way without a historian: mqtt in → postgresql node with one INSERT per message.
static async Task<double> MqttNodeInsertsAsync(PostgresFixture server, BenchBroker broker, int rows)
{
    var database = await DatabaseAsync(server);
    await using var db = NpgsqlDataSource.Create(server.ConnectionString(database));
    await db.CreateCommand("CREATE TABLE history (time timestamptz NOT NULL, topic text, value double precision)").ExecuteNonQueryAsync();
    var node = new JsonObject
    {
        ["id"] = "q", ["type"] = "postgresql", ["postgreSQLConfig"] = "pg",
        ["query"] = "INSERT INTO history (time, topic, value) VALUES (now(), '{{{msg.topic}}}', {{{msg.payload}}})", ["wires"] = new JsonArray(),
    };
    await using var flow = await FlowTestHarness.StartAsync(FlowTestHarness.Flow(Config(server, database), Broker(broker), MqttIn("q"), node));
    await WaitConnectedAsync(flow);
    var clock = Stopwatch.StartNew();
    await PublishAsync(broker, rows);
    var deadline = DateTime.UtcNow.AddMinutes(5);
    while ((long)(await db.CreateCommand("SELECT count(*) FROM history").ExecuteScalarAsync())! < rows)
    {
        if (DateTime.UtcNow > deadline) throw new TimeoutException("INSERTs did not finish");
        await Task.Delay(20);
    }
    return rows / clock.Elapsed.TotalSeconds;
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

// The publisher: BENCH_CLIENT=raw (default) encodes PUBLISH packets itself (RawPublisher.cs), the
// cheapest stand-in for devices publishing from other machines; lean is an MQTTnet client over
// the engine's own connection (one send per burst, read-ahead receives), mqttnet MQTTnet's stock
// one. The bare subscriber of "MQTT alone" is the lean client unless mqttnet is asked for. On 2
// shared cores a cheaper publisher leaves more CPU to the broker and the engine.
static class Clients
{
    public static readonly string Publisher = Environment.GetEnvironmentVariable("BENCH_CLIENT") ?? "raw";
    public static readonly bool Stock = Publisher == "mqttnet";
    public static IMqttClient Create() => Stock
        ? new MqttClientFactory().CreateMqttClient()
        : new MqttClientFactory().CreateMqttClient(new FlowServer.Nodes.Network.Mqtt.MqttSocketAdapterFactory());
}

static class Qos
{
    // QoS of the MQTT leg (publisher and mqtt in): 1 (default, nothing may be lost) or 0.
    public static readonly int Level = int.Parse(Environment.GetEnvironmentVariable("BENCH_QOS") ?? "1");
}

// The broker of the MQTT cases: Mosquitto (default), or with BENCH_BROKER=builtin FlowServer's
// built-in broker (MQTTnet's server) in this process, as a FlowServer on its defaults has it.
sealed class BenchBroker : IAsyncDisposable
{
    MosquittoFixture? _mosquitto;
    FlowServer.Mqtt.BuiltInBroker? _builtIn;
    public int Port { get; private init; }
    public string Name => _mosquitto is null ? "built-in MQTTnet broker" : "Mosquitto";
    public string Output => _mosquitto?.Output ?? "";

    public static async Task<BenchBroker> StartAsync()
    {
        if (Environment.GetEnvironmentVariable("BENCH_BROKER") != "builtin")
        {
            var mosquitto = await MosquittoFixture.StartNewAsync(Environment.GetEnvironmentVariable("BENCH_MOSQUITTO_EXTRA") ?? "");
            return new BenchBroker { _mosquitto = mosquitto, Port = mosquitto.Port };
        }
        var broker = new FlowServer.Mqtt.BuiltInBroker(new FlowServer.Mqtt.BuiltInBrokerOptions { Port = 0 });
        await broker.StartAsync(CancellationToken.None);
        return new BenchBroker { _builtIn = broker, Port = broker.Port };
    }

    public async ValueTask DisposeAsync()
    {
        if (_mosquitto is not null) await _mosquitto.DisposeAsync();
        if (_builtIn is not null) await _builtIn.DisposeAsync();
    }
}
