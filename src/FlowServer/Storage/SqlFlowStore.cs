using System.Data.Common;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace FlowServer.Storage;

/// <summary>
/// <see cref="IFlowStore"/> in plain SQL on the provider's own ADO.NET connection (SQLite or
/// PostgreSQL): one table, a handful of statements, each call on a connection of its own (pooled
/// by the provider), so the store is safe to share. Credentials are encrypted with Data Protection
/// before they reach the database and decrypted only when a revision is loaded.
/// </summary>
/// <remarks>
/// The store was on EF Core until 2026-12. For one table and five statements EF Core cost more
/// than it gave: 20 MiB of a running server's memory (its model, its services and the ~4,700
/// methods compiled for them) and most of a second of JIT at its first use on 2 cores
/// (bench/README.md, 2026-12-06). The table is the one EF Core created, column for column, so a
/// store written by an earlier version opens unchanged.
/// </remarks>
public sealed class SqlFlowStore(IDataProtectionProvider protection, StorageOptions options) : IFlowStore
{
    /// <summary>Data Protection purpose; changing it makes stored credentials unreadable.</summary>
    public const string CredentialPurpose = "FlowServer.Credentials.v1";

    const string Columns = $"{RevisionTable.Id}, {RevisionTable.Rev}, {RevisionTable.CreatedAt}, {RevisionTable.DeploymentType}, {RevisionTable.FlowsJson}, {RevisionTable.Credentials}";

    readonly IDataProtector _protector = protection.CreateProtector(CredentialPurpose);
    readonly Lock _openGate = new();
    Task? _opened;

    /// <summary>
    /// Opens the store once (schema, journal mode); every other call waits for it, so start-up can
    /// run flows from a file while the store is still opening. A failure stays: every later call
    /// fails with it.
    /// </summary>
    public Task InitializeAsync(CancellationToken cancellationToken = default)
    {
        lock (_openGate) _opened ??= Task.Run(OpenAsync, CancellationToken.None);
        return _opened.WaitAsync(cancellationToken);
    }

    // Not cancellable: shared by every caller.
    async Task OpenAsync()
    {
        await using var connection = await OpenConnectionAsync(CancellationToken.None);
        // Checked first: a PostgreSQL user allowed to write the table need not be allowed to create one.
        if (await TableExistsAsync(connection)) return;
        await ExecuteAsync(connection, options.IsSqlite ? RevisionTable.CreateSqlite : RevisionTable.CreatePostgres);
        // WAL: readers never block the deploy that writes, and a crash mid-write cannot tear the
        // file. The mode is kept in the file, so an existing store already has it.
        if (options.IsSqlite) await ExecuteAsync(connection, "PRAGMA journal_mode=WAL;");
    }

    async Task<bool> TableExistsAsync(DbConnection connection)
    {
        await using var command = connection.CreateCommand();
        // PostgreSQL: the table as the search path finds it, as the other statements do.
        command.CommandText = options.IsSqlite
            ? $"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '{RevisionTable.Name}'"
            : $"SELECT count(*) FROM pg_catalog.pg_class WHERE oid = to_regclass('{RevisionTable.Name}')";
        return Convert.ToInt64(await command.ExecuteScalarAsync()) > 0;
    }

    static async Task ExecuteAsync(DbConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    async Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken)
    {
        DbConnection connection = options.IsSqlite ? new SqliteConnection(options.EffectiveConnectionString) : new NpgsqlConnection(options.EffectiveConnectionString);
        try { await connection.OpenAsync(cancellationToken); }
        catch { await connection.DisposeAsync(); throw; }
        return connection;
    }

    public Task<StoredRevision?> GetLatestAsync(CancellationToken cancellationToken = default) =>
        ReadOneAsync($"SELECT {Columns} FROM {RevisionTable.Name} ORDER BY {RevisionTable.Id} DESC LIMIT 1", null, cancellationToken);

    public Task<StoredRevision?> GetAsync(long id, CancellationToken cancellationToken = default) =>
        ReadOneAsync($"SELECT {Columns} FROM {RevisionTable.Name} WHERE {RevisionTable.Id} = @id", id, cancellationToken);

    async Task<StoredRevision?> ReadOneAsync(string sql, long? id, CancellationToken cancellationToken)
    {
        await InitializeAsync(cancellationToken);
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        if (id is { } value) AddParameter(command, "id", value);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken)) return null;
        var rowId = reader.GetInt64(0);
        return new StoredRevision(rowId, reader.GetString(1), RevisionTable.CreatedAtOf(reader.GetInt64(2)), reader.GetString(3), reader.GetString(4),
            Unprotect(rowId, reader.GetString(5)));
    }

    public async Task<StoredRevision> SaveAsync(string flowsJson, int nodeCount, IReadOnlyDictionary<string, JsonObject> credentials, string rev, string deploymentType, CancellationToken cancellationToken = default)
    {
        var createdAt = DateTimeOffset.UtcNow;
        var protectedCredentials = _protector.Protect(SerializeCredentials(credentials));
        await InitializeAsync(cancellationToken);
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        // One INSERT: all or nothing. RETURNING is SQLite (3.35+) and PostgreSQL alike.
        command.CommandText = $"""
            INSERT INTO {RevisionTable.Name} ({RevisionTable.Rev}, {RevisionTable.CreatedAt}, {RevisionTable.DeploymentType}, {RevisionTable.FlowsJson}, {RevisionTable.Credentials}, {RevisionTable.NodeCount})
            VALUES (@rev, @created, @type, @flows, @credentials, @nodes) RETURNING {RevisionTable.Id}
            """;
        AddParameter(command, "rev", rev);
        AddParameter(command, "created", createdAt.UtcTicks);
        AddParameter(command, "type", deploymentType);
        AddParameter(command, "flows", flowsJson);
        AddParameter(command, "credentials", protectedCredentials);
        AddParameter(command, "nodes", nodeCount);
        var id = Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken));
        return new StoredRevision(id, rev, RevisionTable.CreatedAtOf(createdAt.UtcTicks), deploymentType, flowsJson, credentials);
    }

    public async Task<IReadOnlyList<RevisionSummary>> ListAsync(int limit = 100, CancellationToken cancellationToken = default)
    {
        await InitializeAsync(cancellationToken);
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT {RevisionTable.Id}, {RevisionTable.Rev}, {RevisionTable.CreatedAt}, {RevisionTable.DeploymentType}, {RevisionTable.NodeCount}
            FROM {RevisionTable.Name} ORDER BY {RevisionTable.Id} DESC LIMIT @limit
            """;
        AddParameter(command, "limit", limit);
        var list = new List<RevisionSummary>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
            list.Add(new RevisionSummary(reader.GetInt64(0), reader.GetString(1), RevisionTable.CreatedAtOf(reader.GetInt64(2)), reader.GetString(3), reader.GetInt32(4)));
        return list;
    }

    static void AddParameter(DbCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
    }

    IReadOnlyDictionary<string, JsonObject> Unprotect(long id, string protectedCredentials)
    {
        try
        {
            return DeserializeCredentials(_protector.Unprotect(protectedCredentials));
        }
        catch (System.Security.Cryptography.CryptographicException e)
        {
            throw new InvalidOperationException(
                $"the credentials of revision {id} cannot be decrypted: the key ring in '{options.KeyDirectory}' is not the one they were stored with ({e.Message})", e);
        }
    }

    // Written straight from the caller's objects: a node belongs to one parent, so gathering them
    // into one JsonObject first meant copying every one.
    static string SerializeCredentials(IReadOnlyDictionary<string, JsonObject> credentials) => JsonSerializer.Serialize(credentials);

    static IReadOnlyDictionary<string, JsonObject> DeserializeCredentials(string json)
    {
        var result = new Dictionary<string, JsonObject>();
        if (JsonNode.Parse(json) is JsonObject all)
            foreach (var (id, values) in all)
                if (values is JsonObject o) result[id] = (JsonObject)o.DeepClone();
        return result;
    }
}

/// <summary>The revision table: its names and its definition on each provider.</summary>
static class RevisionTable
{
    public const string Name = "flow_revisions";
    public const string Id = "id";
    public const string Rev = "rev";
    /// <summary>UTC ticks, so that both providers order and compare them the same way.</summary>
    public const string CreatedAt = "created_at";
    public const string DeploymentType = "deployment_type";
    /// <summary>The flow document without credentials, as posted (unknown properties kept).</summary>
    public const string FlowsJson = "flows_json";
    /// <summary>Credentials by node id as JSON, encrypted with Data Protection.</summary>
    public const string Credentials = "credentials";
    public const string NodeCount = "node_count";

    // Column for column what EF Core 10 created for the earlier store's model, so that its stores open unchanged.
    public const string CreateSqlite = $"""
        CREATE TABLE IF NOT EXISTS "{Name}" (
            "{Id}" INTEGER NOT NULL CONSTRAINT "PK_{Name}" PRIMARY KEY AUTOINCREMENT,
            "{Rev}" TEXT NOT NULL,
            "{CreatedAt}" INTEGER NOT NULL,
            "{DeploymentType}" TEXT NOT NULL,
            "{FlowsJson}" TEXT NOT NULL,
            "{Credentials}" TEXT NOT NULL,
            "{NodeCount}" INTEGER NOT NULL
        );
        """;

    public const string CreatePostgres = $"""
        CREATE TABLE IF NOT EXISTS {Name} (
            {Id} bigint GENERATED BY DEFAULT AS IDENTITY,
            {Rev} character varying(128) NOT NULL,
            {CreatedAt} bigint NOT NULL,
            {DeploymentType} character varying(64) NOT NULL,
            {FlowsJson} text NOT NULL,
            {Credentials} text NOT NULL,
            {NodeCount} integer NOT NULL,
            CONSTRAINT "PK_{Name}" PRIMARY KEY ({Id})
        );
        """;

    /// <summary>What the <see cref="CreatedAt"/> column's UTC ticks stand for.</summary>
    public static DateTimeOffset CreatedAtOf(long utcTicks) => new(utcTicks, TimeSpan.Zero);
}
