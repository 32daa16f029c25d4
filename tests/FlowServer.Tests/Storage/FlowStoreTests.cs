using System.Text.Json.Nodes;
using FlowServer.Storage;
using FlowServer.Testing.Fixtures;
using Microsoft.EntityFrameworkCore;
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

    [Fact]
    public async Task Contexts_are_pooled_so_a_deploy_does_not_build_a_new_one()
    {
        // A fresh context resolves EF Core's internal services again; on the first deploy after
        // start-up that re-resolution (and the JIT it triggers) was ~45 ms of a 1000-node deploy.
        await OpenAsync();
        var contexts = _providers[^1].GetRequiredService<IDbContextFactory<FlowStoreContext>>();
        FlowStoreContext first;
        await using (first = await contexts.CreateDbContextAsync()) first.Revisions.Add(new FlowRevisionEntity { Rev = "unsaved" });
        await using var second = await contexts.CreateDbContextAsync();
        Assert.Same(first, second);
        Assert.Empty(second.ChangeTracker.Entries()); // handed back clean: nothing of the first use is saved by the next
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
        var saved = await store.SaveAsync(Flows, Secret("s3cret-A"), "rev-a", "full");
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
    public async Task A_reopened_store_reads_its_newest_revision_with_plain_sql_exactly_as_ef_core_reads_it()
    {
        // A restart opens the store and reads the newest revision without EF Core (its first use
        // was most of a second of a restart); what it reads must be what EF Core wrote and reads.
        var options = await OptionsAsync();
        var writer = await OpenAsync(options);
        await writer.SaveAsync("[]", new Dictionary<string, JsonObject>(), "rev-old", "full");
        var saved = await writer.SaveAsync(Flows, Secret("after-restart"), "rev-new", "nodes");

        var reopened = await OpenAsync(options); // the table is there: no schema step
        var latest = (await reopened.GetLatestAsync())!;
        var throughEf = (await reopened.GetAsync(saved.Id))!;
        Assert.Equal((saved.Id, "rev-new", "nodes", saved.CreatedAt), (latest.Id, latest.Rev, latest.DeploymentType, latest.CreatedAt));
        Assert.Equal((throughEf.Id, throughEf.Rev, throughEf.DeploymentType, throughEf.CreatedAt, throughEf.FlowsJson), (latest.Id, latest.Rev, latest.DeploymentType, latest.CreatedAt, latest.FlowsJson));
        Assert.Equal(TimeSpan.Zero, latest.CreatedAt.Offset);
        Assert.Equal("after-restart", latest.Credentials["b1"]["password"]!.GetValue<string>());
        Assert.Equal(["rev-new", "rev-old"], (await reopened.ListAsync()).Select(r => r.Rev));
    }

    [Fact]
    public async Task Every_save_is_a_new_revision_listed_newest_first()
    {
        var store = await OpenAsync();
        var first = await store.SaveAsync(Flows, Secret("one"), "rev-1", "full");
        var second = await store.SaveAsync("[]", new Dictionary<string, JsonObject>(), "rev-2", "nodes");
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
        await store.SaveAsync(Flows, Secret("plain-text-password-123"), "rev-x", "full");

        var db = new DbContextOptionsBuilder<FlowStoreContext>();
        if (options.IsSqlite) db.UseSqlite(options.EffectiveConnectionString); else db.UseNpgsql(options.EffectiveConnectionString);
        await using var context = new FlowStoreContext(db.Options);
        var row = await context.Revisions.SingleAsync();
        Assert.DoesNotContain("plain-text-password-123", row.CredentialsProtected);
        Assert.DoesNotContain("plain-text-password-123", row.FlowsJson);
        Assert.NotEmpty(row.CredentialsProtected);
        Assert.True(Directory.EnumerateFiles(options.KeyDirectory, "*.xml").Any(), "the key ring lives in the data directory");
    }

    [Fact]
    public async Task Reopened_store_reads_what_an_earlier_process_wrote()
    {
        var options = await OptionsAsync();
        await (await OpenAsync(options)).SaveAsync(Flows, Secret("persisted"), "rev-p", "full");

        var reopened = await OpenAsync(new StorageOptions { Provider = options.Provider, ConnectionString = options.ConnectionString, DataDirectory = options.DataDirectory });
        var latest = await reopened.GetLatestAsync();
        Assert.Equal("rev-p", latest!.Rev);
        Assert.Equal("persisted", latest.Credentials["b1"]["password"]!.GetValue<string>());
    }

    [Fact]
    public async Task Credentials_under_a_different_key_ring_give_a_clear_error()
    {
        var options = await OptionsAsync();
        await (await OpenAsync(options)).SaveAsync(Flows, Secret("x"), "rev-k", "full");
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
}
