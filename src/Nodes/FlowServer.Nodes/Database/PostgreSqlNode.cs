using System.Globalization;
using System.Net.Sockets;
using System.Text;
using FlowServer.Nodes.Sdk;
using Npgsql;
using NpgsqlTypes;
using Stubble.Core;
using Stubble.Core.Builders;
using Stubble.Core.Settings;

namespace FlowServer.Nodes.Database;

public sealed class PostgreSqlOptions : NodeOptions
{
    [Property("postgreSQLConfig", Required = true, Editor = PropertyEditor.ConfigNode, ConfigType = "postgreSQLConfig", Label = "Server")]
    public string PostgreSqlConfig { get; set; } = "";

    [Property("query", Editor = PropertyEditor.TextArea, Help = "SQL as a mustache template rendered with { msg }; $1…$n take msg.params")]
    public string Query { get; set; } = "SELECT * FROM ;";

    [Property("split", Editor = PropertyEditor.Checkbox, Label = "Split results into several messages")]
    public bool Split { get; set; }

    [Property("rowsPerMsg", Editor = PropertyEditor.Number, Min = 1, Label = "Rows per message")]
    public int RowsPerMsg { get; set; } = 1;

    [Property("outputs", Editor = PropertyEditor.Hidden)]
    public int Outputs { get; set; } = 1;
}

[NodeType("postgresql", Category = "storage", Inputs = 1, Outputs = 1, Color = "#5b85a7", Icon = "db",
    Help = """
    Runs a SQL query against PostgreSQL and sends the resulting rows.

    ### Inputs
    : query (string) : SQL to run instead of the node's query (used as is, not as a template).
    : params (array) : values bound to `$1`, `$2`, … — always sent as parameters, never spliced into the SQL.

    ### Outputs
    : payload (array) : the rows, each an object keyed by column name.
    : pgsql (object) : `{command, rowCount}`; an array of them when the query holds several statements.
    : parts (object) : with *split*: `{id, type:"array", index, count}` (count on the last message, which also has `complete: true`).

    ### Details
    The query is a mustache template rendered with `{ msg }`, so `{{{msg.payload}}}` inserts
    the payload as is — only do that with trusted values; `msg.params` is the safe way to pass
    data. As in node-red-contrib-postgresql, parameters are sent as text of unknown type so the
    server infers their types; arrays become PostgreSQL arrays, objects JSON. Values come back
    as node-pg returns them: `bigint` and `numeric` as strings, `json` parsed, timestamps as
    ISO strings. With *split*, rows are sent in messages of *rowsPerMsg* rows as they are read,
    waiting while the next node is busy. Errors (bad SQL, missing table, lost connection) go to
    catch nodes with the server's message.
    """)]
public sealed class PostgreSqlNode : FlowNode<PostgreSqlOptions>
{
    static readonly StubbleVisitorRenderer Mustache = new StubbleBuilder().Build();
    static readonly RenderSettings RenderSettings = new() { CultureInfo = CultureInfo.InvariantCulture };

    PostgreSqlConfigNode? _server;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        _server = Context.GetConfigNode<PostgreSqlConfigNode>(Options.PostgreSqlConfig);
        return Task.CompletedTask;
    }

    public override async ValueTask ReceiveAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        // Ticks drive node-pg's cursor; here SendAsync already waits for a busy downstream.
        if (MessageValue.IsTruthy(message["tick"])) return;
        var sql = message["query"] is string dynamic && dynamic.Length > 0 ? dynamic : Render(Options.Query, message);
        var server = _server ?? throw new FlowNodeException("no PostgreSQL server configured");
        var parameters = message["params"] switch
        {
            null => [],
            List<object?> list => list,
            var other => throw new FlowNodeException($"{Describe()}: msg.params must be an array of the values for $1, $2, …, not {MessageValue.TypeName(other)}"),
        };
        try
        {
            await using var connection = await server.DataSource.OpenConnectionAsync(cancellationToken);
            await using var command = new NpgsqlCommand(sql, connection);
            foreach (var value in parameters) command.Parameters.Add(ToParameter(value));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            if (Options.Split) await SendSplitAsync(reader, message, cancellationToken);
            else await SendAllAsync(reader, message, cancellationToken);
            Context.SetStatus(NodeStatus.Ok("ok"));
        }
        catch (PostgresException e)
        {
            if (e.SqlState is ['0', '8', ..] or ['5', '7', ..]) server.DataSource.Clear(); // server shutting down: pooled connections are dead
            Context.SetStatus(NodeStatus.Failed(e.SqlState));
            throw new FlowNodeException($"{Describe()}: {e.MessageText} (SQLSTATE {e.SqlState}) in query: {Shorten(sql)}");
        }
        catch (Exception e) when (e is NpgsqlException or SocketException or IOException or TimeoutException)
        {
            // Every idle pooled connection is likely as broken as this one; the next message opens fresh ones.
            server.DataSource.Clear();
            Context.SetStatus(NodeStatus.Failed("disconnected"));
            var reason = e.InnerException is { } inner ? $"{e.Message} ({inner.Message})" : e.Message; // e.g. the certificate check that failed
            throw new FlowNodeException($"{Describe()}: cannot reach {server.Label}: {reason}");
        }
    }

    string Describe() => $"postgresql '{Context.NodeName ?? Context.NodeId}'";

    static string Shorten(string sql) => sql.Length > 200 ? sql[..197] + "..." : sql;

    static string Render(string template, FlowMessage message) =>
        template.Contains("{{", StringComparison.Ordinal)
            ? Mustache.Render(template, new Dictionary<string, object?> { ["msg"] = message.Properties }, RenderSettings)
            : template;

    async Task SendAllAsync(NpgsqlDataReader reader, FlowMessage message, CancellationToken cancellationToken)
    {
        var rows = new List<object?>();
        var results = new List<object?>();
        do
        {
            var start = rows.Count;
            while (await reader.ReadAsync(cancellationToken)) rows.Add(ReadRow(reader));
            results.Add(rows.Count - start);
        }
        while (await reader.NextResultAsync(cancellationToken));
        // Per-statement tags of a multi-statement command text are only offered here (DbBatch needs statements split up front).
#pragma warning disable CS0618
        var statements = reader.Statements;
#pragma warning restore CS0618
        message.Payload = rows;
        if (statements.Count == 1) message["pgsql"] = Summary(statements[0]);
        else message["pgsql"] = statements.Select(s => (object?)Summary(s)).ToList();
        await Context.SendAsync(0, message, cancellationToken);
    }

    static Dictionary<string, object?> Summary(NpgsqlBatchCommand statement) => new()
    {
        ["command"] = statement.StatementType == StatementType.Other ? FirstKeyword(statement.CommandText) : statement.StatementType.ToString().ToUpperInvariant(),
        ["rowCount"] = (double)statement.Rows,
    };

    // Npgsql names only DML statements; node-pg reports the command tag's first word (CREATE, DROP, …).
    static string FirstKeyword(string sql)
    {
        var text = sql.AsSpan().TrimStart();
        var end = 0;
        while (end < text.Length && char.IsLetter(text[end])) end++;
        return end == 0 ? "OTHER" : text[..end].ToString().ToUpperInvariant();
    }

    async Task SendSplitAsync(NpgsqlDataReader reader, FlowMessage message, CancellationToken cancellationToken)
    {
        var size = Math.Max(1, Options.RowsPerMsg);
        var partsId = FlowMessage.NewMessageId();
        var outer = message["parts"];
        message.Properties.Remove("complete");
        var index = 0;
        List<object?>? pending = null;
        // One batch is held back so that the last one can carry parts.count and complete.
        while (true)
        {
            var batch = new List<object?>(size);
            while (batch.Count < size && await reader.ReadAsync(cancellationToken)) batch.Add(ReadRow(reader));
            var last = batch.Count < size;
            if (pending is not null)
            {
                if (last && batch.Count == 0) { await SendBatchAsync(pending, true); return; }
                await SendBatchAsync(pending, false);
            }
            if (last) { await SendBatchAsync(batch, true); return; }
            pending = batch;
        }

        ValueTask SendBatchAsync(List<object?> rows, bool final)
        {
            var part = message.Clone();
            part.Payload = size > 1 ? rows : rows.Count > 0 ? rows[0] : null;
            part["pgsql"] = new Dictionary<string, object?> { ["command"] = "SELECT", ["rowCount"] = (double)rows.Count };
            var parts = new Dictionary<string, object?> { ["id"] = partsId, ["type"] = "array", ["index"] = (double)index++ };
            if (outer is not null) parts["parts"] = MessageValue.DeepClone(outer);
            if (final) { parts["count"] = (double)index; part["complete"] = true; }
            part["parts"] = parts;
            return Context.SendAsync(0, part, cancellationToken);
        }
    }

    static Dictionary<string, object?> ReadRow(NpgsqlDataReader reader)
    {
        var row = new Dictionary<string, object?>(reader.FieldCount);
        for (var i = 0; i < reader.FieldCount; i++)
        {
            var value = reader.IsDBNull(i) ? null : reader.GetValue(i);
            row[reader.GetName(i)] = reader.GetDataTypeName(i) is "json" or "jsonb" && value is string json ? MessageJson.Parse(json) : ToMessageValue(value);
        }
        return row;
    }

    /// <summary>A database value as node-pg would hand it to a flow.</summary>
    internal static object? ToMessageValue(object? value) => value switch
    {
        null or DBNull => null,
        string or bool or double or byte[] => value,
        short or int or float or byte or sbyte or ushort or uint => Convert.ToDouble(value, CultureInfo.InvariantCulture),
        // node-pg returns int8 and numeric as strings: they may not fit a JavaScript number.
        long or ulong or decimal or System.Numerics.BigInteger => Convert.ToString(value, CultureInfo.InvariantCulture),
        DateTime { Kind: DateTimeKind.Utc } utc => utc.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture),
        DateTime local => local.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture),
        DateTimeOffset offset => offset.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture),
        DateOnly date => date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        char c => c.ToString(),
        Array array => array.Cast<object?>().Select(ToMessageValue).ToList(),
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString(),
    };

    /// <summary>
    /// A message value as a query parameter, the way node-pg sends it: text of unknown type (the
    /// server infers the type from the statement), bytea for buffers.
    /// </summary>
    internal static NpgsqlParameter ToParameter(object? value) => value switch
    {
        null => new NpgsqlParameter { Value = DBNull.Value, NpgsqlDbType = NpgsqlDbType.Unknown },
        byte[] bytes => new NpgsqlParameter { Value = bytes, NpgsqlDbType = NpgsqlDbType.Bytea },
        _ => new NpgsqlParameter { Value = ParameterText(value), NpgsqlDbType = NpgsqlDbType.Unknown },
    };

    static string ParameterText(object? value) => value switch
    {
        string s => s,
        List<object?> list => ArrayLiteral(list),
        Dictionary<string, object?> => MessageJson.Serialize(value),
        _ => MessageValue.ToText(value),
    };

    // PostgreSQL array input syntax: {1,"two",NULL,{3,4}}; element text is quoted and escaped.
    static string ArrayLiteral(List<object?> list)
    {
        var text = new StringBuilder("{");
        for (var i = 0; i < list.Count; i++)
        {
            if (i > 0) text.Append(',');
            switch (list[i])
            {
                case null: text.Append("NULL"); break;
                case List<object?> inner: text.Append(ArrayLiteral(inner)); break;
                case byte[] bytes: text.Append("\"\\\\x").Append(Convert.ToHexStringLower(bytes)).Append('"'); break;
                case var item:
                    text.Append('"').Append(ParameterText(item).Replace("\\", "\\\\").Replace("\"", "\\\"")).Append('"');
                    break;
            }
        }
        return text.Append('}').ToString();
    }
}
