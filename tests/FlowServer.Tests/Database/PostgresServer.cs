using System.Text.Json.Nodes;
using FlowServer.Testing.Fixtures;
using Npgsql;
using Xunit;

namespace FlowServer.Tests.Database;

/// <summary>One real PostgreSQL server per test class; each test makes its own database.</summary>
public sealed class PostgresServer : IAsyncLifetime
{
    PostgresFixture? _server;

    public PostgresFixture Server => _server ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync() => _server = await PostgresFixture.StartAsync();

    public async Task DisposeAsync()
    {
        if (_server is not null) await _server.DisposeAsync();
    }

    /// <summary>A fresh database: its name and a data source on it.</summary>
    public async Task<(string Name, NpgsqlDataSource DataSource)> CreateDatabaseAsync()
    {
        var name = "db_" + Guid.NewGuid().ToString("N")[..12];
        var connectionString = await Server.CreateDatabaseAsync(name);
        return (name, NpgsqlDataSource.Create(connectionString));
    }

    /// <summary>A <c>postgreSQLConfig</c> node as node-red-contrib-postgresql exports it (user as a plain property, as before 0.16).</summary>
    public JsonObject ConfigNode(string database, string id = "pg") => ConfigNode(Server.Port, database, id);

    /// <summary>The same for a server of a test's own on <paramref name="port"/>.</summary>
    public static JsonObject ConfigNode(int port, string database, string id = "pg") => new()
    {
        ["id"] = id,
        ["type"] = "postgreSQLConfig",
        ["name"] = "",
        ["host"] = "127.0.0.1",
        ["hostFieldType"] = "str",
        ["port"] = port.ToString(),
        ["portFieldType"] = "num",
        ["database"] = database,
        ["databaseFieldType"] = "str",
        ["ssl"] = "false",
        ["sslFieldType"] = "bool",
        ["applicationName"] = "",
        ["applicationNameType"] = "str",
        ["max"] = "10",
        ["maxFieldType"] = "num",
        ["idle"] = "1000",
        ["idleFieldType"] = "num",
        ["connectionTimeout"] = "10000",
        ["connectionTimeoutFieldType"] = "num",
        ["user"] = "postgres",
        ["userFieldType"] = "str",
        ["password"] = "",
        ["passwordFieldType"] = "str",
    };
}
