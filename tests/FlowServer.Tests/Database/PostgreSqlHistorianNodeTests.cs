using System.Text.Json.Nodes;
using FlowServer.Nodes.Database;
using FlowServer.Nodes.Sdk;
using FlowServer.Runtime;
using FlowServer.Testing;
using FlowServer.Testing.Fixtures;
using Npgsql;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Database;

public sealed class PostgreSqlHistorianNodeTests(PostgresServer postgres) : IClassFixture<PostgresServer>, IDisposable
{
    static readonly TimeSpan Wait = TimeSpan.FromSeconds(120);
    readonly TempDirectory _bufferDirectory = new("flowserver-historian-test");

    public void Dispose() => _bufferDirectory.Dispose();

    JsonObject Historian(int batchSize = 1000, int flushInterval = 100, long maxBufferMessages = 10_000_000) => new()
    {
        ["id"] = "h",
        ["type"] = "postgresql-historian",
        ["name"] = "History",
        ["postgreSQLConfig"] = "pg",
        ["table"] = "history",
        ["createTable"] = true,
        ["batchSize"] = batchSize,
        ["flushInterval"] = flushInterval,
        ["bufferDir"] = _bufferDirectory.Path,
        ["maxBufferMessages"] = maxBufferMessages,
        ["wires"] = new JsonArray(),
    };

    Task<FlowTestHarness> StartAsync(string database, JsonObject historian, RuntimeOptions? options = null) =>
        FlowTestHarness.StartAsync(Flow(postgres.ConfigNode(database), historian), options);

    static PostgreSqlHistorianNode Node(FlowTestHarness flow) => (PostgreSqlHistorianNode)flow.Runtime.Find("h")!.Node;

    static async Task<long> CountAsync(NpgsqlDataSource db)
    {
        try { return (long)(await db.CreateCommand("SELECT count(*) FROM history").ExecuteScalarAsync())!; }
        catch (PostgresException e) when (e.SqlState == "42P01") { return 0; } // not created yet
        catch (NpgsqlException) { db.Clear(); return 0; } // a pooled connection from before a server restart
    }

    static async Task WaitForRowsAsync(NpgsqlDataSource db, long expected, FlowTestHarness? flow = null)
    {
        var until = DateTime.UtcNow + Wait;
        long count = 0;
        while (DateTime.UtcNow < until)
        {
            count = await CountAsync(db);
            if (count >= expected) return;
            await Task.Delay(100);
        }
        throw new TimeoutException($"{count} of {expected} rows after {Wait.TotalSeconds} s; errors: {string.Join(" | ", flow?.Errors ?? [])}");
    }

    static async Task AssertEveryValueOnceAsync(NpgsqlDataSource db, int count)
    {
        await using var command = db.CreateCommand("SELECT count(*), count(DISTINCT value), sum(value), min(value), max(value) FROM history");
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        Assert.Equal(count, reader.GetInt64(0));
        Assert.Equal(count, reader.GetInt64(1));
        Assert.Equal((double)count * (count - 1) / 2, reader.GetDouble(2));
        Assert.Equal(0, reader.GetDouble(3));
        Assert.Equal(count - 1, reader.GetDouble(4));
    }

    /// <summary>
    /// A fresh database whose history table numbers rows in the order they were inserted (an
    /// identity column the historian does not write), so the write order can be checked.
    /// </summary>
    async Task<(string Name, NpgsqlDataSource DataSource)> CreateDatabaseWithInsertOrderAsync()
    {
        var (name, db) = await postgres.CreateDatabaseAsync();
        await db.CreateCommand("CREATE TABLE history (seq bigint GENERATED ALWAYS AS IDENTITY, time timestamptz NOT NULL, topic text, value double precision, payload jsonb)")
            .ExecuteNonQueryAsync();
        return (name, db);
    }

    // Values were sent in increasing order: each row inserted after another must hold a larger value.
    static async Task AssertWrittenInOrderAsync(NpgsqlDataSource db)
    {
        var outOfOrder = await db.CreateCommand(
            "SELECT count(*) FROM (SELECT value, lag(value) OVER (ORDER BY seq) AS previous FROM history) written WHERE previous >= value").ExecuteScalarAsync();
        Assert.Equal(0L, outOfOrder);
    }

    static Task WaitUntilAsync(Func<bool> condition, string what) => Poll.UntilAsync(condition, Wait, what);

    [Fact]
    public async Task A_hundred_thousand_messages_arrive_intact()
    {
        var (name, db) = await CreateDatabaseWithInsertOrderAsync();
        await using var _ = db;
        await using var flow = await StartAsync(name, Historian(batchSize: 5000));

        const int count = 100_000;
        for (var i = 0; i < count; i++) await flow.SendAsync("h", (double)i, $"plant/line{i % 10}/temperature");
        await WaitForRowsAsync(db, count, flow);

        await AssertEveryValueOnceAsync(db, count);
        await AssertWrittenInOrderAsync(db);
        Assert.Equal(10_000L, await db.CreateCommand("SELECT count(*) FROM history WHERE topic = 'plant/line3/temperature'").ExecuteScalarAsync());
        Assert.Equal(0L, await db.CreateCommand("SELECT count(*) FROM history WHERE payload IS NOT NULL").ExecuteScalarAsync());
        await WaitUntilAsync(() => Node(flow).BufferedMessages == 0, "the buffer did not empty");
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task The_buffer_lives_in_the_data_directory_by_default()
    {
        var (name, db) = await postgres.CreateDatabaseAsync();
        await using var _ = db;
        var historian = Historian();
        historian.Remove("bufferDir");
        await using var flow = await StartAsync(name, historian);

        for (var i = 0; i < 10; i++) await flow.SendAsync("h", (double)i, "t");
        await WaitForRowsAsync(db, 10, flow);

        var directory = Path.Combine(flow.DataDirectory, "historian", "h");
        Assert.NotEmpty(Directory.GetFiles(directory, "*.log"));
        var stream = Guid.Parse(File.ReadAllText(Path.Combine(directory, "stream.id")));
        Assert.Equal(stream, await db.CreateCommand("SELECT stream FROM flowserver_historian_offsets WHERE node_id = 'h'").ExecuteScalarAsync());
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Columns_are_mapped_and_non_numeric_payloads_stored_as_json_with_their_timestamp()
    {
        var (name, db) = await postgres.CreateDatabaseAsync();
        await using var _ = db;
        var historian = Historian();
        historian["table"] = "public.readings";
        historian["timeColumn"] = "ts";
        historian["topicColumn"] = "tag";
        historian["valueColumn"] = "val";
        historian["payloadColumn"] = "doc";
        await using var flow = await StartAsync(name, historian);

        var withTime = FlowMessage.WithPayload(new Dictionary<string, object?> { ["state"] = "running", ["speed"] = 3.5 }, "line/1/state");
        withTime["timestamp"] = 1_700_000_000_123.0;
        await flow.SendAsync("h", withTime);
        await flow.SendAsync("h", "12.5", "line/1/numeric-text");
        await flow.SendAsync("h", true, "line/1/flag");
        var until = DateTime.UtcNow + Wait;
        while ((long)(await db.CreateCommand("SELECT count(*) FROM information_schema.tables WHERE table_name = 'readings'").ExecuteScalarAsync())! == 0
               || (long)(await db.CreateCommand("SELECT count(*) FROM readings").ExecuteScalarAsync())! < 3)
        {
            Assert.True(DateTime.UtcNow < until, "rows did not arrive");
            await Task.Delay(100);
        }

        await using var command = db.CreateCommand("SELECT ts, tag, val, doc::text FROM readings ORDER BY tag");
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<(DateTime Time, string Tag, double? Value, string? Doc)>();
        while (await reader.ReadAsync())
            rows.Add((reader.GetDateTime(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetDouble(2), reader.IsDBNull(3) ? null : reader.GetString(3)));
        Assert.Equal(("line/1/flag", 1.0, (string?)null), (rows[0].Tag, rows[0].Value, rows[0].Doc));
        Assert.Equal(("line/1/numeric-text", 12.5, (string?)null), (rows[1].Tag, rows[1].Value, rows[1].Doc));
        Assert.Equal("line/1/state", rows[2].Tag);
        Assert.Null(rows[2].Value);
        Assert.Equal("{\"speed\": 3.5, \"state\": \"running\"}", rows[2].Doc);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123).UtcDateTime, rows[2].Time);
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task A_database_outage_mid_stream_loses_and_duplicates_nothing()
    {
        var (name, db) = await CreateDatabaseWithInsertOrderAsync();
        await using var _ = db;
        await using var flow = await StartAsync(name, Historian(batchSize: 500, flushInterval: 50));
        const int count = 30_000;

        for (var i = 0; i < 10_000; i++) await flow.SendAsync("h", (double)i, "t");
        await postgres.Server.StopAsync();
        try
        {
            for (var i = 10_000; i < 20_000; i++) await flow.SendAsync("h", (double)i, "t");
            await WaitUntilAsync(() => !Node(flow).Connected, "the historian did not notice the outage");
            await WaitUntilAsync(() => Node(flow).BufferedMessages > 0, "nothing was buffered");
            await WaitUntilAsync(() => flow.Events.Any(e => e.Topic == "status/h" && e.Data is NodeStatus { Fill: "red" } status && status.Text!.StartsWith("disconnected: ")),
                "the status did not show the outage with the buffer level");
            // The buffer level is a metric too, with the node's labels.
            var metrics = FlowServer.Api.Metrics.Render(flow.Runtime, flow.Runtime.Events);
            var line = metrics.Split('\n').Single(l => l.StartsWith("flowserver_historian_buffered_messages{node=\"h\""));
            Assert.True(double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture) > 0, line);
        }
        finally
        {
            await postgres.Server.StartAgainAsync();
        }
        for (var i = 20_000; i < count; i++) await flow.SendAsync("h", (double)i, "t");
        await WaitForRowsAsync(db, count, flow);

        await AssertEveryValueOnceAsync(db, count);
        await AssertWrittenInOrderAsync(db);
        await WaitUntilAsync(() => Node(flow).BufferedMessages == 0, "the buffer did not empty");
        Assert.NotEmpty(flow.Errors); // the outage was reported
    }

    [Fact]
    public async Task Rows_buffered_when_the_runtime_stops_are_written_by_the_next_runtime()
    {
        var (name, db) = await CreateDatabaseWithInsertOrderAsync();
        await using var _ = db;
        await using (var first = await StartAsync(name, Historian()))
        {
            for (var i = 0; i < 3000; i++) await first.SendAsync("h", (double)i, "t");
            await WaitForRowsAsync(db, 3000, first);
            await postgres.Server.StopAsync();
            try
            {
                for (var i = 3000; i < 8000; i++) await first.SendAsync("h", (double)i, "t");
                await WaitUntilAsync(() => !Node(first).Connected, "the historian did not notice the outage");
            }
            catch
            {
                await postgres.Server.StartAgainAsync();
                throw;
            }
        } // stops the runtime while the database is down: 5000 rows stay in the buffer
        Assert.NotEmpty(Directory.GetFiles(_bufferDirectory.Path, "*.log"));
        await postgres.Server.StartAgainAsync();

        await using var second = await StartAsync(name, Historian());
        await WaitForRowsAsync(db, 8000, second);

        await AssertEveryValueOnceAsync(db, 8000);
        await AssertWrittenInOrderAsync(db);
        await Task.Delay(500); // nothing more may arrive
        Assert.Equal(8000, await CountAsync(db));
        second.AssertNoErrors();
    }

    [Fact]
    public async Task A_message_the_node_took_is_in_the_buffer_files_without_a_stop()
    {
        var (name, db) = await postgres.CreateDatabaseAsync();
        await using var _ = db;
        await using var flow = await StartAsync(name, Historian());
        await postgres.Server.StopAsync();
        using var copy = new TempDirectory("flowserver-historian-copy");
        try
        {
            for (var i = 0; i < 500; i++) await flow.SendAsync("h", (double)i, "t");
            await WaitUntilAsync(() => Node(flow).BufferedMessages == 500, "the node did not take every message");
            // What another process sees of the files now is what a kill would leave behind.
            foreach (var file in Directory.GetFiles(_bufferDirectory.Path)) File.Copy(file, Path.Combine(copy.Path, Path.GetFileName(file)));
        }
        finally
        {
            await postgres.Server.StartAgainAsync();
        }

        using var survivor = HistorianBuffer.Open(copy.Path);
        var records = new List<HistorianRecord>();
        survivor.Read(records, 1000);
        Assert.Equal(Enumerable.Range(0, 500).Select(i => (double?)i), records.Select(r => r.Value));
    }

    [Fact]
    public async Task Rows_buffered_when_the_server_process_is_killed_are_written_exactly_once_after_a_restart()
    {
        var (name, db) = await CreateDatabaseWithInsertOrderAsync();
        await using var _ = db;
        const int count = 5000;
        var historian = Historian();
        historian.Remove("bufferDir"); // the default: the server's data directory
        var flow = Flow(
            postgres.ConfigNode(name),
            new JsonObject { ["id"] = "go", ["type"] = "inject", ["wires"] = new JsonArray { new JsonArray { "gen" } } },
            new JsonObject
            {
                ["id"] = "gen", ["type"] = "function", ["outputs"] = 1, ["wires"] = new JsonArray { new JsonArray { "h" } },
                ["func"] = $"for (let i = 0; i < {count}; i++) node.send({{ payload: i, topic: 't' }}); return null;",
            },
            historian);
        using var data = new TempDirectory("flowserver-process-data");
        var flowsFile = Path.Combine(data.Path, "flows.json");
        await File.WriteAllTextAsync(flowsFile, flow);
        await using var server = new FlowServerProcess(Path.Combine(data.Path, "data"));

        await postgres.Server.StopAsync();
        try
        {
            await server.StartAsync(flowsFile);
            (await server.Http.PostAsync("/inject/go", null)).EnsureSuccessStatusCode();
            var until = DateTime.UtcNow + Wait;
            while (await server.MetricAsync("historian_buffered_messages", "h") != count)
            {
                Assert.True(DateTime.UtcNow < until, $"the historian did not take {count} messages:\n{server.Output}");
                await Task.Delay(50);
            }
            server.Kill();
        }
        finally
        {
            await postgres.Server.StartAgainAsync();
        }
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(server.DataDirectory, "historian", "h"), "*.log"));

        await server.StartAsync(); // the stored flow, the same data directory
        await WaitForRowsAsync(db, count);
        await AssertEveryValueOnceAsync(db, count);
        await AssertWrittenInOrderAsync(db);
        await Task.Delay(500); // nothing more may arrive
        Assert.Equal(count, await CountAsync(db));
    }

    [Fact]
    public async Task A_commit_whose_acknowledgement_was_lost_is_not_written_twice()
    {
        var (name, db) = await CreateDatabaseWithInsertOrderAsync();
        await using var _ = db;
        await using (var first = await StartAsync(name, Historian()))
        {
            for (var i = 0; i < 2000; i++) await first.SendAsync("h", (double)i, "t");
            await WaitForRowsAsync(db, 2000, first);
            await WaitUntilAsync(() => Node(first).BufferedMessages == 0, "the buffer did not empty");
        }
        // As if the process died between the database commit and recording it locally.
        var rewound = new byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(rewound, 1000);
        File.WriteAllBytes(Path.Combine(_bufferDirectory.Path, "committed"), rewound);

        await using var second = await StartAsync(name, Historian());
        for (var i = 2000; i < 2010; i++) await second.SendAsync("h", (double)i, "t");
        await WaitForRowsAsync(db, 2010, second);
        await Task.Delay(500);

        await AssertEveryValueOnceAsync(db, 2010);
        await AssertWrittenInOrderAsync(db);
        second.AssertNoErrors();
    }

    [Fact]
    public async Task A_full_buffer_holds_senders_back_instead_of_dropping()
    {
        var (name, db) = await CreateDatabaseWithInsertOrderAsync();
        await using var _ = db;
        await using var flow = await StartAsync(name, Historian(batchSize: 50, maxBufferMessages: 100), new RuntimeOptions { DefaultQueueCapacity = 10 });
        await flow.SendAsync("h", -1.0, "warm-up");
        await WaitForRowsAsync(db, 1, flow);
        await db.CreateCommand("DELETE FROM history").ExecuteNonQueryAsync();

        Task sending;
        await postgres.Server.StopAsync();
        try
        {
            sending = Task.Run(async () => { for (var i = 0; i < 300; i++) await flow.SendAsync("h", (double)i, "t"); });
            await WaitUntilAsync(() => Node(flow).BufferedMessages >= 100, "the buffer did not fill");
            await Task.Delay(1000);

            Assert.False(sending.IsCompleted);
            Assert.Equal(100, Node(flow).BufferedMessages);
            Assert.Equal(0, flow.Runtime.Find("h")!.Dropped);
        }
        finally
        {
            await postgres.Server.StartAgainAsync();
        }
        await sending.WaitAsync(Wait);
        await WaitForRowsAsync(db, 300, flow);

        await AssertEveryValueOnceAsync(db, 300);
        await AssertWrittenInOrderAsync(db);
    }

    [Fact]
    public async Task The_megabyte_bound_holds_senders_back_and_shows_buffer_full()
    {
        var (name, db) = await CreateDatabaseWithInsertOrderAsync();
        await using var _ = db;
        var historian = Historian(batchSize: 50);
        historian["createTable"] = false; // the table exists (without the topic index, which an 8 KB topic would not fit)
        historian["maxBufferMegabytes"] = 1;
        historian["segmentBytes"] = 65536;
        await using var flow = await StartAsync(name, historian, new RuntimeOptions { DefaultQueueCapacity = 10 });
        var bigTopic = "t/" + new string('x', 8000); // each record ~8 KB: the byte bound comes long before the message bound
        const long limit = 1 << 20;

        Task sending;
        await postgres.Server.StopAsync();
        try
        {
            sending = Task.Run(async () => { for (var i = 0; i < 300; i++) await flow.SendAsync("h", (double)i, bigTopic); });
            await WaitUntilAsync(() => Node(flow).BufferedBytes >= limit, "the buffer did not reach 1 MB");
            await Task.Delay(1000);

            Assert.False(sending.IsCompleted);
            Assert.InRange(Node(flow).BufferedBytes, limit, limit + 8100); // at most the one record that crossed the bound
            Assert.InRange(Node(flow).BufferedMessages, 120, 140);
            Assert.Equal(0, flow.Runtime.Find("h")!.Dropped);
            await WaitUntilAsync(() => flow.Runtime.Find("h")!.Status is { Fill: "yellow" } status && status.Text!.StartsWith("buffer full: "),
                $"the status did not say the buffer is full: {flow.Runtime.Find("h")!.Status.Text}");
        }
        finally
        {
            await postgres.Server.StartAgainAsync();
        }
        await sending.WaitAsync(Wait);
        await WaitForRowsAsync(db, 300, flow);

        await AssertEveryValueOnceAsync(db, 300);
        await AssertWrittenInOrderAsync(db);
        await WaitUntilAsync(() => flow.Runtime.Find("h")!.Status.Text!.StartsWith("300 written"), "the status did not recover");
    }

    [Fact]
    public async Task Without_createTable_a_missing_table_is_an_error_and_rows_wait_until_it_exists()
    {
        var (name, db) = await postgres.CreateDatabaseAsync();
        await using var _ = db;
        var historian = Historian();
        historian["createTable"] = false;
        await using var flow = await StartAsync(name, historian);

        for (var i = 0; i < 10; i++) await flow.SendAsync("h", (double)i, "t");
        var error = await flow.WaitForErrorAsync("relation \"history\" does not exist", Wait);
        Assert.Contains("postgresql-historian 'History'", error);
        Assert.Contains("10 messages kept in the buffer", error);
        Assert.Equal(0L, await db.CreateCommand("SELECT count(*) FROM information_schema.tables WHERE table_name = 'history'").ExecuteScalarAsync());

        await db.CreateCommand("CREATE TABLE history (seq bigint GENERATED ALWAYS AS IDENTITY, time timestamptz NOT NULL, topic text, value double precision, payload jsonb)")
            .ExecuteNonQueryAsync();
        await WaitForRowsAsync(db, 10, flow);
        await AssertEveryValueOnceAsync(db, 10);
        await AssertWrittenInOrderAsync(db);
    }
}
