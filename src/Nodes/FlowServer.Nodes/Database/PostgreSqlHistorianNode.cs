using System.Diagnostics;
using System.Globalization;
using FlowServer.Nodes.Sdk;
using Npgsql;
using NpgsqlTypes;

namespace FlowServer.Nodes.Database;

public sealed class PostgreSqlHistorianOptions : NodeOptions
{
    [Property("postgreSQLConfig", Required = true, Editor = PropertyEditor.ConfigNode, ConfigType = "postgreSQLConfig", Label = "Server")]
    public string PostgreSqlConfig { get; set; } = "";

    [Property("table", Help = "Target table, optionally schema-qualified (schema.table); used exactly as written")]
    public string Table { get; set; } = "flowserver_history";

    [Property("createTable", Editor = PropertyEditor.Checkbox, Label = "Create the table if missing (a hypertable when TimescaleDB is installed)")]
    public bool CreateTable { get; set; } = true;

    [Property("timeColumn", Label = "Time column", Help = "timestamptz: msg.timestamp (ms or ISO text) or the arrival time")]
    public string TimeColumn { get; set; } = "time";

    [Property("topicColumn", Label = "Topic column", Help = "text: msg.topic; empty to leave out")]
    public string TopicColumn { get; set; } = "topic";

    [Property("valueColumn", Label = "Value column", Help = "double precision: the payload when it is a number, numeric text or boolean; empty to leave out")]
    public string ValueColumn { get; set; } = "value";

    [Property("payloadColumn", Label = "Payload column", Help = "jsonb: the payload as JSON; empty to leave out")]
    public string PayloadColumn { get; set; } = "payload";

    [Property("payloadMode", Editor = PropertyEditor.Select, Choices = ["non-numeric", "always"], Label = "Store the JSON payload",
        Help = "non-numeric: only when the payload has no numeric value; always: for every message")]
    public string PayloadMode { get; set; } = "non-numeric";

    [Property("batchSize", Editor = PropertyEditor.Number, Min = 1, Max = 1_000_000, Label = "Rows per batch")]
    public int BatchSize { get; set; } = 5000;

    [Property("flushInterval", Editor = PropertyEditor.Number, Min = 10, Label = "Flush interval (ms)", Help = "A partial batch is written after this long")]
    public int FlushInterval { get; set; } = 1000;

    [Property("bufferDir", Label = "Buffer directory", Help = "Where messages wait while the database is unreachable; default: <data dir>/historian/<node id>")]
    public string BufferDir { get; set; } = "";

    [Property("maxBufferMessages", Editor = PropertyEditor.Number, Min = 1, Label = "Buffer limit (messages)", Help = "Beyond this the node stops taking messages (backpressure)")]
    public long MaxBufferMessages { get; set; } = 10_000_000;

    [Property("maxBufferMegabytes", Editor = PropertyEditor.Number, Min = 1, Label = "Buffer limit (MB)")]
    public double MaxBufferMegabytes { get; set; } = 1024;

    [Property("segmentBytes", Editor = PropertyEditor.Hidden)]
    public long SegmentBytes { get; set; } = 16 << 20;

    public override IEnumerable<OptionError> Validate()
    {
        if (string.IsNullOrWhiteSpace(TimeColumn)) yield return new OptionError("timeColumn", "is required");
        if (string.IsNullOrWhiteSpace(TopicColumn) && string.IsNullOrWhiteSpace(ValueColumn) && string.IsNullOrWhiteSpace(PayloadColumn))
            yield return new OptionError("valueColumn", "at least one of topic, value and payload columns is needed");
        var columns = new[] { TimeColumn, TopicColumn, ValueColumn, PayloadColumn }.Where(c => !string.IsNullOrWhiteSpace(c)).ToList();
        if (columns.Distinct(StringComparer.Ordinal).Count() != columns.Count) yield return new OptionError("timeColumn", "two columns have the same name");
        if (Table.Split('.').Any(string.IsNullOrWhiteSpace) || Table.Split('.').Length > 2) yield return new OptionError("table", $"'{Table}' is not a table name or schema.table");
    }
}

[NodeType("postgresql-historian", Category = "storage", Inputs = 1, Outputs = 0, Color = "#5b85a7", Icon = "db", PaletteLabel = "historian",
    Help = """
    Stores every message as a row in a PostgreSQL (or TimescaleDB) table, at line rate, without
    losing or duplicating a row across database outages and restarts.

    ### Inputs
    : payload (number | string | boolean | object) : the value; numbers, numeric text and booleans fill the value column, anything else the JSON payload column.
    : topic (string) : the topic column.
    : timestamp (number | string) : optional time of the reading (ms since 1970 or ISO 8601); the arrival time otherwise.

    ### Details
    Messages are appended to a local log first (*bufferDir*, by default `historian/<node id>`
    in the server's data directory, `--data-dir`) and written with binary COPY in
    batches of *batchSize* rows, or after *flushInterval* ms for a partial batch. Each batch
    commits together with the log position it reached (table `flowserver_historian_offsets`),
    so after a lost connection or a restart writing resumes exactly after the last committed
    row. While the database is unreachable the log keeps growing up to *maxBufferMessages* /
    *maxBufferMegabytes*; at the limit the node stops taking messages, so upstream nodes wait
    instead of losing data. The status shows the connection and how many messages wait.
    A message is in the log, handed to the operating system, before the node takes the next one,
    so killing the process loses nothing the node took; the log is synced to disk every
    *flushInterval* (at least every second) against a power loss.

    With *createTable* the table is created with the configured columns (time timestamptz,
    topic text, value double precision, payload jsonb) and an index on (topic, time); it becomes
    a hypertable when the TimescaleDB extension is installed in the database.
    """)]
// Inline (IRunsInline): appending is short, and run on the sender's thread a message from mqtt in
// is in the log before mqtt in acknowledges it to the broker, instead of waiting in the inbox.
public sealed class PostgreSqlHistorianNode : FlowNode<PostgreSqlHistorianOptions>, IMetricsSource, IRunsInline
{
    const string OffsetTable = "flowserver_historian_offsets";

    PostgreSqlConfigNode? _server;
    HistorianBuffer? _buffer;
    Task? _writer;
    Timer? _sync;
    readonly CancellationTokenSource _writerStop = new();
    readonly SemaphoreSlim _wake = new(0, 1);
    volatile bool _draining;
    volatile bool _connected;
    volatile bool _full;
    string _copySql = "";
    string _lastError = "";
    long _written;
    long _lastStatusTicks;
    string _lastStatusText = "";

    /// <summary>Messages waiting in the buffer (for status and metrics).</summary>
    public long BufferedMessages => _buffer?.Pending ?? 0;
    /// <summary>Bytes of buffer files on disk.</summary>
    public long BufferedBytes => _buffer?.Bytes ?? 0;
    /// <summary>Rows written since start.</summary>
    public long WrittenRows => Interlocked.Read(ref _written);

    public IEnumerable<NodeMetric> Metrics =>
    [
        new("historian_buffered_messages", "Messages held in the historian's on-disk buffer, not yet committed to PostgreSQL.", "gauge", BufferedMessages),
        new("historian_buffer_bytes", "Bytes of the historian's on-disk buffer segments.", "gauge", _buffer?.Bytes ?? 0),
        new("historian_rows_written_total", "Rows the historian committed to PostgreSQL.", "counter", WrittenRows),
    ];
    /// <summary>Whether the last database operation succeeded.</summary>
    public bool Connected => _connected;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        _server = Context.GetConfigNode<PostgreSqlConfigNode>(Options.PostgreSqlConfig);
        var directory = string.IsNullOrWhiteSpace(Options.BufferDir)
            ? Path.Combine(Context.DataDirectory, "historian", Context.NodeId)
            : Options.BufferDir;
        _buffer = HistorianBuffer.Open(directory, Options.SegmentBytes);
        _copySql = $"COPY {QuoteName(Options.Table)} ({string.Join(", ", Columns().Select(c => Quote(c.Name)))}) FROM STDIN (FORMAT BINARY)";
        _writer = Task.Run(WriteLoopAsync);
        var syncInterval = TimeSpan.FromMilliseconds(Math.Max(Options.FlushInterval, 1000));
        _sync = new Timer(_ => SyncToDisk(), null, syncInterval, syncInterval);
        ShowStatus(force: true);
        return Task.CompletedTask;
    }

    public override async ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        var buffer = _buffer!;
        // Backpressure: while the buffer is at its bound, this node's inbox fills and senders wait.
        while (buffer.Pending >= Options.MaxBufferMessages || buffer.Bytes >= Options.MaxBufferMegabytes * 1024 * 1024)
        {
            if (!_full) { _full = true; ShowStatus(force: true); }
            await Task.Delay(20, cancellationToken);
        }
        if (_full) { _full = false; ShowStatus(force: true); }

        var payload = message.Payload;
        var value = NumericValue(payload);
        string? json = null;
        if (!string.IsNullOrWhiteSpace(Options.PayloadColumn) && (value is null || Options.PayloadMode == "always"))
            json = MessageJson.Serialize(payload).Replace("\\u0000", "", StringComparison.Ordinal); // jsonb rejects NUL
        var topic = message.Topic?.Replace("\0", "", StringComparison.Ordinal); // so does text
        buffer.Append(TimeOf(message), topic, value, json);
        // Into the OS before the message counts as taken (and upstream may acknowledge it): a killed process loses nothing.
        buffer.Flush();
        if (buffer.Unread >= Options.BatchSize) Wake();
    }

    // Periodic fsync: what the OS holds survives a process kill, this covers a power loss too.
    void SyncToDisk()
    {
        try { _buffer?.Flush(toDisk: true); }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            Context.ReportError($"postgresql-historian '{Context.NodeName ?? Context.NodeId}': cannot sync the buffer to disk: {e.Message}", null, e);
        }
    }

    void Wake()
    {
        if (_wake.CurrentCount == 0) try { _wake.Release(); } catch (SemaphoreFullException) { }
    }

    static double? NumericValue(object? payload) => payload switch
    {
        bool b => b ? 1 : 0,
        string s when double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => d,
        _ => MessageValue.AsNumber(payload),
    };

    static long TimeOf(FlowMessage message)
    {
        switch (message["timestamp"])
        {
            case string text when DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed):
                return (parsed.UtcTicks - DateTime.UnixEpoch.Ticks) / 10;
            case var raw when MessageValue.AsNumber(raw) is { } ms && ms > 0 && ms < 253402300800000:
                return (long)(ms * 1000);
            default:
                return (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) / 10;
        }
    }

    async Task WriteLoopAsync()
    {
        var token = _writerStop.Token;
        var buffer = _buffer!;
        var batch = new List<HistorianRecord>(Options.BatchSize);
        var interval = TimeSpan.FromMilliseconds(Options.FlushInterval);
        var batchAge = Stopwatch.StartNew();
        var backoff = TimeSpan.FromMilliseconds(200);
        while (!token.IsCancellationRequested)
        {
            try
            {
                if (!_connected)
                {
                    await ConnectAsync(batch, token);
                    _connected = true;
                    backoff = TimeSpan.FromMilliseconds(200);
                    ShowStatus(force: true);
                }
                var before = batch.Count;
                buffer.Read(batch, Options.BatchSize - batch.Count);
                if (before == 0 && batch.Count > 0) batchAge.Restart();
                var due = batch.Count >= Options.BatchSize || batch.Count > 0 && (_draining || batchAge.Elapsed >= interval);
                if (!due)
                {
                    if (_draining) return; // nothing left to write
                    ShowStatus();
                    var wait = batch.Count == 0 ? interval : interval - batchAge.Elapsed;
                    await _wake.WaitAsync(wait > TimeSpan.Zero ? wait : TimeSpan.Zero, token);
                    continue;
                }
                await WriteBatchAsync(batch, token);
                buffer.Commit(batch[^1].Sequence);
                Interlocked.Add(ref _written, batch.Count);
                batch.Clear();
                ShowStatus();
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested) { return; }
            catch (Exception e)
            {
                // The batch stays: after reconnecting, the offset in the database says which of it is already there.
                var wasConnected = _connected;
                _connected = false;
                // A dead server leaves every idle pooled connection dead too; a data error does not.
                if (e is NpgsqlException and not PostgresException || e is PostgresException { SqlState: ['0', '8', ..] or ['5', '7', ..] }) _server!.DataSource.Clear();
                var text = e is PostgresException pg ? $"{pg.MessageText} (SQLSTATE {pg.SqlState})" : e.Message;
                if (wasConnected || text != _lastError) Context.ReportError($"postgresql-historian '{Context.NodeName ?? Context.NodeId}': {text}; {buffer.Pending} messages kept in the buffer", null, e);
                _lastError = text;
                ShowStatus(force: true);
                if (_draining) return; // stopping: what is left stays on disk for the next start
                try { await Task.Delay(backoff, token); } catch (OperationCanceledException) { return; }
                backoff = TimeSpan.FromMilliseconds(Math.Min(5000, backoff.TotalMilliseconds * 2));
            }
        }
    }

    async Task ConnectAsync(List<HistorianRecord> batch, CancellationToken token)
    {
        await using var connection = await _server!.DataSource.OpenConnectionAsync(token);
        await EnsureTablesAsync(connection, token);
        await using var read = new NpgsqlCommand($"SELECT last_seq FROM {OffsetTable} WHERE stream = $1", connection);
        read.Parameters.Add(new NpgsqlParameter { Value = _buffer!.StreamId });
        if (await read.ExecuteScalarAsync(token) is long committed && committed > _buffer.Committed)
        {
            // The last commit reached the database but its acknowledgement did not reach us.
            _buffer.Commit(committed);
            batch.RemoveAll(r => r.Sequence <= committed);
        }
    }

    async Task EnsureTablesAsync(NpgsqlConnection connection, CancellationToken token)
    {
        await ExecuteIgnoringRaceAsync(connection,
            $"CREATE TABLE IF NOT EXISTS {OffsetTable} (stream uuid PRIMARY KEY, node_id text, table_name text, last_seq bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())", token);
        if (!Options.CreateTable) return;
        var definitions = Columns().Select(c => $"{Quote(c.Name)} {c.SqlType}{(c.Name == Options.TimeColumn ? " NOT NULL" : "")}");
        await ExecuteIgnoringRaceAsync(connection, $"CREATE TABLE IF NOT EXISTS {QuoteName(Options.Table)} ({string.Join(", ", definitions)})", token);
        if (!string.IsNullOrWhiteSpace(Options.TopicColumn))
        {
            var index = Quote((Options.Table.Split('.')[^1] + "_topic_time").Replace("\"", ""));
            await ExecuteIgnoringRaceAsync(connection, $"CREATE INDEX IF NOT EXISTS {index} ON {QuoteName(Options.Table)} ({Quote(Options.TopicColumn)}, {Quote(Options.TimeColumn)} DESC)", token);
        }
        await using var probe = new NpgsqlCommand("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')", connection);
        if (await probe.ExecuteScalarAsync(token) is true)
        {
            await using var hypertable = new NpgsqlCommand("SELECT create_hypertable($1::regclass, $2::name, if_not_exists => TRUE, migrate_data => TRUE)", connection);
            hypertable.Parameters.Add(new NpgsqlParameter { Value = QuoteName(Options.Table) });
            hypertable.Parameters.Add(new NpgsqlParameter { Value = Options.TimeColumn });
            await hypertable.ExecuteNonQueryAsync(token);
        }
    }

    // Two historians creating the same table at once race in the catalog; the loser's error means "exists".
    static async Task ExecuteIgnoringRaceAsync(NpgsqlConnection connection, string sql, CancellationToken token)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        try { await command.ExecuteNonQueryAsync(token); }
        catch (PostgresException e) when (e.SqlState is "23505" or "42P07") { }
    }

    async Task WriteBatchAsync(List<HistorianRecord> batch, CancellationToken token)
    {
        await using var connection = await _server!.DataSource.OpenConnectionAsync(token);
        await using var transaction = await connection.BeginTransactionAsync(token);
        var columns = Columns();
        await using (var importer = await connection.BeginBinaryImportAsync(_copySql, token))
        {
            foreach (var record in batch)
            {
                importer.StartRow();
                foreach (var column in columns)
                {
                    switch (column.Kind)
                    {
                        case ColumnKind.Time: importer.Write(DateTime.UnixEpoch.AddTicks(record.TimeMicroseconds * 10), NpgsqlDbType.TimestampTz); break;
                        case ColumnKind.Topic when record.Topic is not null: importer.Write(record.Topic, NpgsqlDbType.Text); break;
                        case ColumnKind.Value when record.Value is not null: importer.Write(record.Value.Value, NpgsqlDbType.Double); break;
                        case ColumnKind.Payload when record.PayloadJson is not null: importer.Write(record.PayloadJson, NpgsqlDbType.Jsonb); break;
                        default: importer.WriteNull(); break;
                    }
                }
            }
            await importer.CompleteAsync(token);
        }
        await using (var offset = new NpgsqlCommand(
            $"INSERT INTO {OffsetTable} (stream, node_id, table_name, last_seq) VALUES ($1, $2, $3, $4) " +
            "ON CONFLICT (stream) DO UPDATE SET last_seq = EXCLUDED.last_seq, node_id = EXCLUDED.node_id, table_name = EXCLUDED.table_name, updated_at = now()", connection, transaction))
        {
            offset.Parameters.Add(new NpgsqlParameter { Value = _buffer!.StreamId });
            offset.Parameters.Add(new NpgsqlParameter { Value = Context.NodeId });
            offset.Parameters.Add(new NpgsqlParameter { Value = Options.Table });
            offset.Parameters.Add(new NpgsqlParameter { Value = batch[^1].Sequence });
            await offset.ExecuteNonQueryAsync(token);
        }
        await transaction.CommitAsync(token);
    }

    enum ColumnKind { Time, Topic, Value, Payload }

    List<(string Name, string SqlType, ColumnKind Kind)> Columns()
    {
        var columns = new List<(string, string, ColumnKind)> { (Options.TimeColumn, "timestamptz", ColumnKind.Time) };
        if (!string.IsNullOrWhiteSpace(Options.TopicColumn)) columns.Add((Options.TopicColumn, "text", ColumnKind.Topic));
        if (!string.IsNullOrWhiteSpace(Options.ValueColumn)) columns.Add((Options.ValueColumn, "double precision", ColumnKind.Value));
        if (!string.IsNullOrWhiteSpace(Options.PayloadColumn)) columns.Add((Options.PayloadColumn, "jsonb", ColumnKind.Payload));
        return columns;
    }

    static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"") + "\"";

    static string QuoteName(string name) => string.Join('.', name.Split('.').Select(part => Quote(part.Trim())));

    void ShowStatus(bool force = false)
    {
        var now = Stopwatch.GetTimestamp();
        if (!force && Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastStatusTicks), now) < TimeSpan.FromMilliseconds(500)) return;
        Interlocked.Exchange(ref _lastStatusTicks, now);
        var pending = BufferedMessages;
        var status = _full ? NodeStatus.Pending($"buffer full: {pending} waiting")
            : !_connected ? NodeStatus.Failed($"disconnected: {pending} buffered")
            : NodeStatus.Ok($"{WrittenRows} written, {pending} buffered");
        if (status.Text == _lastStatusText) return;
        _lastStatusText = status.Text!;
        Context.SetStatus(status);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        // Write what is buffered while the stop deadline allows; the rest stays on disk for the next start.
        _draining = true;
        Wake();
        if (_writer is not null)
        {
            try { await _writer.WaitAsync(cancellationToken); }
            catch (OperationCanceledException) { }
            _writerStop.Cancel();
            try { await _writer; } catch (OperationCanceledException) { }
        }
        if (_sync is not null) await _sync.DisposeAsync();
        _buffer?.Dispose();
        _wake.Dispose();
        _writerStop.Dispose();
    }
}
