using System.Data.Common;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace FlowServer.Storage;

/// <summary>
/// <see cref="IFlowStore"/> on EF Core. Each call uses its own short-lived context, so the
/// store is safe to share. Credentials are encrypted with Data Protection before they reach
/// the database and decrypted only when a revision is loaded.
/// </summary>
/// <remarks>
/// What a restart needs (is the table there, the newest revision) is plain SQL on a connection of
/// the provider's own, not EF Core: EF's first use (its services, the model, the schema check, the
/// query's translation) is most of a second of JIT on a 2-core machine, and a restarted server's
/// flows waited for all of it. EF Core then warms up on the first deploy or listing, and creates
/// the schema when the table is missing.
/// </remarks>
public sealed class EfFlowStore(IDbContextFactory<FlowStoreContext> contexts, IDataProtectionProvider protection, StorageOptions options) : IFlowStore
{
    /// <summary>Data Protection purpose; changing it makes stored credentials unreadable.</summary>
    public const string CredentialPurpose = "FlowServer.Credentials.v1";

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
        // Off the caller's thread: EF Core opens synchronously inside its async calls (hundreds of ms
        // of first use), which would otherwise hold up the caller, the flows of a start-up among
        // them. Long-running, so it does not take one of the pool's few threads for that long.
        lock (_openGate) _opened ??= Task.Factory.StartNew(OpenAsync, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
        return _opened.WaitAsync(cancellationToken);
    }

    // Not cancellable: shared by every caller.
    async Task OpenAsync()
    {
        await using (var connection = await OpenConnectionAsync(CancellationToken.None))
        {
            if (await TableExistsAsync(connection)) return;
        }
        await using var db = await contexts.CreateDbContextAsync();
        await db.Database.EnsureCreatedAsync();
        if (options.IsSqlite)
        {
            // WAL: readers never block the deploy that writes, and a crash mid-write cannot tear the
            // file. The mode is kept in the file, so an existing store already has it.
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;");
        }
    }

    async Task<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken)
    {
        DbConnection connection = options.IsSqlite ? new SqliteConnection(options.EffectiveConnectionString) : new NpgsqlConnection(options.EffectiveConnectionString);
        try { await connection.OpenAsync(cancellationToken); }
        catch { await connection.DisposeAsync(); throw; }
        return connection;
    }

    async Task<bool> TableExistsAsync(DbConnection connection)
    {
        await using var command = connection.CreateCommand();
        // PostgreSQL: the table as the search path finds it, as EF Core's own statements do.
        command.CommandText = options.IsSqlite
            ? $"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '{RevisionTable.Name}'"
            : $"SELECT count(*) FROM pg_catalog.pg_class WHERE oid = to_regclass('{RevisionTable.Name}')";
        return Convert.ToInt64(await command.ExecuteScalarAsync()) > 0;
    }

    public async Task<StoredRevision?> GetLatestAsync(CancellationToken cancellationToken = default)
    {
        await InitializeAsync(cancellationToken);
        await using var connection = await OpenConnectionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT {RevisionTable.Id}, {RevisionTable.Rev}, {RevisionTable.CreatedAt}, {RevisionTable.DeploymentType}, {RevisionTable.FlowsJson}, {RevisionTable.Credentials}
            FROM {RevisionTable.Name} ORDER BY {RevisionTable.Id} DESC LIMIT 1
            """;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken)) return null;
        return ToRevision(new FlowRevisionEntity
        {
            Id = reader.GetInt64(0),
            Rev = reader.GetString(1),
            CreatedAt = RevisionTable.CreatedAtOf(reader.GetInt64(2)),
            DeploymentType = reader.GetString(3),
            FlowsJson = reader.GetString(4),
            CredentialsProtected = reader.GetString(5),
        });
    }

    public async Task<StoredRevision?> GetAsync(long id, CancellationToken cancellationToken = default)
    {
        await InitializeAsync(cancellationToken);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var row = await db.Revisions.AsNoTracking().FirstOrDefaultAsync(r => r.Id == id, cancellationToken);
        return row is null ? null : ToRevision(row);
    }

    public async Task<StoredRevision> SaveAsync(string flowsJson, IReadOnlyDictionary<string, JsonObject> credentials, string rev, string deploymentType, CancellationToken cancellationToken = default)
    {
        var row = new FlowRevisionEntity
        {
            Rev = rev,
            CreatedAt = DateTimeOffset.UtcNow,
            DeploymentType = deploymentType,
            FlowsJson = flowsJson,
            CredentialsProtected = _protector.Protect(SerializeCredentials(credentials)),
            NodeCount = CountNodes(flowsJson),
        };
        await InitializeAsync(cancellationToken);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        db.Revisions.Add(row);
        await db.SaveChangesAsync(cancellationToken); // one INSERT: all or nothing
        return new StoredRevision(row.Id, row.Rev, row.CreatedAt, row.DeploymentType, row.FlowsJson, credentials);
    }

    public async Task<IReadOnlyList<RevisionSummary>> ListAsync(int limit = 100, CancellationToken cancellationToken = default)
    {
        await InitializeAsync(cancellationToken);
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        return await db.Revisions.AsNoTracking().OrderByDescending(r => r.Id).Take(limit)
            .Select(r => new RevisionSummary(r.Id, r.Rev, r.CreatedAt, r.DeploymentType, r.NodeCount))
            .ToListAsync(cancellationToken);
    }

    StoredRevision ToRevision(FlowRevisionEntity row)
    {
        IReadOnlyDictionary<string, JsonObject> credentials;
        try
        {
            credentials = DeserializeCredentials(_protector.Unprotect(row.CredentialsProtected));
        }
        catch (System.Security.Cryptography.CryptographicException e)
        {
            throw new InvalidOperationException(
                $"the credentials of revision {row.Id} cannot be decrypted: the key ring in '{options.KeyDirectory}' is not the one they were stored with ({e.Message})", e);
        }
        return new StoredRevision(row.Id, row.Rev, row.CreatedAt, row.DeploymentType, row.FlowsJson, credentials);
    }

    static string SerializeCredentials(IReadOnlyDictionary<string, JsonObject> credentials)
    {
        var all = new JsonObject();
        foreach (var (id, values) in credentials) all[id] = values.DeepClone();
        return all.ToJsonString();
    }

    static IReadOnlyDictionary<string, JsonObject> DeserializeCredentials(string json)
    {
        var result = new Dictionary<string, JsonObject>();
        if (JsonNode.Parse(json) is JsonObject all)
            foreach (var (id, values) in all)
                if (values is JsonObject o) result[id] = (JsonObject)o.DeepClone();
        return result;
    }

    static int CountNodes(string flowsJson)
    {
        try
        {
            using var doc = JsonDocument.Parse(flowsJson);
            return doc.RootElement.ValueKind == JsonValueKind.Array ? doc.RootElement.GetArrayLength() : 0;
        }
        catch (JsonException) { return 0; }
    }
}
