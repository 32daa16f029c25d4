using System.Text.Json.Nodes;
using FlowServer.Storage;
using FlowServer.Testing.Fixtures;
using System.Data.Common;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace FlowServer.Tests.Storage;

/// <summary>One real PostgreSQL server for the storage tests of a class.</summary>
public sealed class PostgresServer : IAsyncLifetime
{
    public PostgresFixture Server { get; private set; } = null!;
    public async Task InitializeAsync() => Server = await PostgresFixture.StartAsync();
    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>The store contract, run once on SQLite and once on a real PostgreSQL.</summary>
public abstract class FlowStoreTests : IDisposable
{
    protected readonly TempDirectory Data = new();
    readonly List<ServiceProvider> _providers = [];

    protected abstract Task<StorageOptions> OptionsAsync();

    protected async Task<IFlowStore> OpenAsync(StorageOptions? options = null)
    {
        var services = new ServiceCollection().AddLogging().AddFlowStorage(options ?? await OptionsAsync());
        var provider = services.BuildServiceProvider();
        _providers.Add(provider);
        var store = provider.GetRequiredService<IFlowStore>();
        await store.InitializeAsync();
        return store;
    }

    const string Flows = """[{"id":"t1","type":"tab","label":"Line 1"},{"id":"b1","type":"mqtt-broker","broker":"127.0.0.1"},{"id":"n1","type":"inject","z":"t1","custom":{"kept":true}}]""";

    static Dictionary<string, JsonObject> Secret(string password) =>
        new() { ["b1"] = new JsonObject { ["user"] = "plc", ["password"] = password } };

    /// <summary>A connection of the provider's own to the store's database, for reading and writing rows behind its back.</summary>
    protected static async Task<DbConnection> ConnectAsync(StorageOptions options)
    {
        DbConnection connection = options.IsSqlite
            ? new Microsoft.Data.Sqlite.SqliteConnection(options.EffectiveConnectionString)
            : new Npgsql.NpgsqlConnection(options.EffectiveConnectionString);
        await connection.OpenAsync();
        return connection;
    }

    protected static async Task ExecuteAsync(DbConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    // The table exactly as EF Core 10.0.4 created it for the store's earlier model (its
    // GenerateCreateScript() for each provider), with the row that store wrote for a deploy.
    protected abstract string EfCoreSchema { get; }

    [Fact]
    public async Task A_store_created_by_the_earlier_ef_core_version_opens_unchanged_and_takes_new_revisions()
    {
        var options = await OptionsAsync();
        await using (var connection = await ConnectAsync(options))
        {
            await ExecuteAsync(connection, EfCoreSchema);
            // What the EF Core store wrote: created_at in UTC ticks, credentials sealed by Data Protection.
            var sealedCredentials = DataProtectionProvider
                .Create(new DirectoryInfo(options.KeyDirectory), b => b.SetApplicationName("FlowServer"))
                .CreateProtector(SqlFlowStore.CredentialPurpose).Protect("""{"b1":{"user":"plc","password":"from-ef"}}""");
            await ExecuteAsync(connection, $$"""
                INSERT INTO flow_revisions (rev, created_at, deployment_type, flows_json, credentials, node_count)
                VALUES ('rev-ef', 639321745085350449, 'full', '[{"id":"t1","type":"tab"}]', '{{sealedCredentials}}', 1)
                """);
        }

        var store = await OpenAsync(options);
        var old = (await store.GetLatestAsync())!;
        Assert.Equal(("rev-ef", "full", """[{"id":"t1","type":"tab"}]"""), (old.Rev, old.DeploymentType, old.FlowsJson));
        Assert.Equal(new DateTimeOffset(639321745085350449, TimeSpan.Zero), old.CreatedAt);
        Assert.Equal("from-ef", old.Credentials["b1"]["password"]!.GetValue<string>());

        var added = await store.SaveAsync(Flows, 3, Secret("new"), "rev-next", "nodes");
        Assert.True(added.Id > old.Id);
        Assert.Equal(["rev-next", "rev-ef"], (await store.ListAsync()).Select(r => r.Rev));
        Assert.Equal("new", (await store.GetAsync(added.Id))!.Credentials["b1"]["password"]!.GetValue<string>());
    }

    [Fact]
    public async Task Empty_store_has_no_latest_revision()
    {
        var store = await OpenAsync();
        Assert.Null(await store.GetLatestAsync());
        Assert.Empty(await store.ListAsync());
    }

    [Fact]
    public async Task Saved_revision_comes_back_with_flows_and_credentials()
    {
        var store = await OpenAsync();
        var saved = await store.SaveAsync(Flows, 3, Secret("s3cret-A"), "rev-a", "full");
        var latest = await store.GetLatestAsync();
        Assert.NotNull(latest);
        Assert.Equal(saved.Id, latest.Id);
        Assert.Equal("rev-a", latest.Rev);
        Assert.Equal("full", latest.DeploymentType);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(Flows), JsonNode.Parse(latest.FlowsJson)));
        Assert.Equal("s3cret-A", latest.Credentials["b1"]["password"]!.GetValue<string>());
        Assert.True((DateTimeOffset.UtcNow - latest.CreatedAt).Duration() < TimeSpan.FromMinutes(1));
    }

    [Fact]
    public async Task A_reopened_store_reads_its_newest_revision_as_it_reads_that_revision_by_number()
    {
        var options = await OptionsAsync();
        var writer = await OpenAsync(options);
        await writer.SaveAsync("[]", 0, new Dictionary<string, JsonObject>(), "rev-old", "full");
        var saved = await writer.SaveAsync(Flows, 3, Secret("after-restart"), "rev-new", "nodes");

        var reopened = await OpenAsync(options); // the table is there: no schema step
        var latest = (await reopened.GetLatestAsync())!;
        var byNumber = (await reopened.GetAsync(saved.Id))!;
        Assert.Equal((saved.Id, "rev-new", "nodes", saved.CreatedAt), (latest.Id, latest.Rev, latest.DeploymentType, latest.CreatedAt));
        Assert.Equal((byNumber.Id, byNumber.Rev, byNumber.DeploymentType, byNumber.CreatedAt, byNumber.FlowsJson), (latest.Id, latest.Rev, latest.DeploymentType, latest.CreatedAt, latest.FlowsJson));
        Assert.Equal(TimeSpan.Zero, latest.CreatedAt.Offset);
        Assert.Equal("after-restart", latest.Credentials["b1"]["password"]!.GetValue<string>());
        Assert.Equal(["rev-new", "rev-old"], (await reopened.ListAsync()).Select(r => r.Rev));
    }

    [Fact]
    public async Task Every_save_is_a_new_revision_listed_newest_first()
    {
        var store = await OpenAsync();
        var first = await store.SaveAsync(Flows, 3, Secret("one"), "rev-1", "full");
        var second = await store.SaveAsync("[]", 0, new Dictionary<string, JsonObject>(), "rev-2", "nodes");
        Assert.True(second.Id > first.Id);

        var list = await store.ListAsync();
        Assert.Equal(["rev-2", "rev-1"], list.Select(r => r.Rev));
        Assert.Equal([0, 3], list.Select(r => r.NodeCount));
        Assert.Equal("nodes", list[0].DeploymentType);

        var old = await store.GetAsync(first.Id);
        Assert.Equal("one", old!.Credentials["b1"]["password"]!.GetValue<string>());
        Assert.Null(await store.GetAsync(second.Id + 100));
        Assert.Equal("rev-2", (await store.GetLatestAsync())!.Rev);
    }

    [Fact]
    public async Task Credentials_are_encrypted_at_rest()
    {
        var options = await OptionsAsync();
        var store = await OpenAsync(options);
        await store.SaveAsync(Flows, 3, Secret("plain-text-password-123"), "rev-x", "full");

        await using var connection = await ConnectAsync(options);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT credentials, flows_json FROM flow_revisions";
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        var (credentials, flows) = (reader.GetString(0), reader.GetString(1));
        Assert.False(await reader.ReadAsync());
        Assert.DoesNotContain("plain-text-password-123", credentials);
        Assert.DoesNotContain("plain-text-password-123", flows);
        Assert.NotEmpty(credentials);
        Assert.True(Directory.EnumerateFiles(options.KeyDirectory, "*.xml").Any(), "the key ring lives in the data directory");
    }

    [Fact]
    public async Task Reopened_store_reads_what_an_earlier_process_wrote()
    {
        var options = await OptionsAsync();
        await (await OpenAsync(options)).SaveAsync(Flows, 3, Secret("persisted"), "rev-p", "full");

        var reopened = await OpenAsync(new StorageOptions { Provider = options.Provider, ConnectionString = options.ConnectionString, DataDirectory = options.DataDirectory });
        var latest = await reopened.GetLatestAsync();
        Assert.Equal("rev-p", latest!.Rev);
        Assert.Equal("persisted", latest.Credentials["b1"]["password"]!.GetValue<string>());
    }

    [Fact]
    public async Task Credentials_under_a_different_key_ring_give_a_clear_error()
    {
        var options = await OptionsAsync();
        await (await OpenAsync(options)).SaveAsync(Flows, 3, Secret("x"), "rev-k", "full");
        Directory.Delete(options.KeyDirectory, recursive: true);

        var reopened = await OpenAsync(new StorageOptions { Provider = options.Provider, ConnectionString = options.ConnectionString, DataDirectory = options.DataDirectory });
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => reopened.GetLatestAsync());
        Assert.Contains("cannot be decrypted", error.Message);
        Assert.Contains("keys", error.Message);
    }

    public void Dispose()
    {
        foreach (var p in _providers) p.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools(); // release the file before deleting it
        Data.Dispose();
        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteFlowStoreTests : FlowStoreTests
{
    protected override Task<StorageOptions> OptionsAsync() =>
        Task.FromResult(new StorageOptions { Provider = "sqlite", DataDirectory = Data.Path });

    protected override string EfCoreSchema => """
        CREATE TABLE "flow_revisions" (
            "id" INTEGER NOT NULL CONSTRAINT "PK_flow_revisions" PRIMARY KEY AUTOINCREMENT,
            "rev" TEXT NOT NULL,
            "created_at" INTEGER NOT NULL,
            "deployment_type" TEXT NOT NULL,
            "flows_json" TEXT NOT NULL,
            "credentials" TEXT NOT NULL,
            "node_count" INTEGER NOT NULL
        );
        """;

    [Fact]
    public async Task Sqlite_file_lives_in_the_data_directory_in_wal_mode()
    {
        await OpenAsync();
        Assert.True(File.Exists(Path.Combine(Data.Path, "flowserver.db")));
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(Data.Path, "flowserver.db")}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode;";
        Assert.Equal("wal", (string?)await command.ExecuteScalarAsync());
    }
}

public sealed class PostgresFlowStoreTests(PostgresServer postgres) : FlowStoreTests, IClassFixture<PostgresServer>
{
    string? _connection;

    protected override async Task<StorageOptions> OptionsAsync()
    {
        _connection ??= await postgres.Server.CreateDatabaseAsync(); // a database per test: tests stay independent
        return new StorageOptions { Provider = "postgresql", ConnectionString = _connection, DataDirectory = Data.Path };
    }

    protected override string EfCoreSchema => """
        CREATE TABLE flow_revisions (
            id bigint GENERATED BY DEFAULT AS IDENTITY,
            rev character varying(128) NOT NULL,
            created_at bigint NOT NULL,
            deployment_type character varying(64) NOT NULL,
            flows_json text NOT NULL,
            credentials text NOT NULL,
            node_count integer NOT NULL,
            CONSTRAINT "PK_flow_revisions" PRIMARY KEY (id)
        );
        """;
}
