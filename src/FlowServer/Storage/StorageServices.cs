using Microsoft.AspNetCore.DataProtection;

namespace FlowServer.Storage;

/// <summary>Which database holds the flows, and where local files (SQLite, keys) go.</summary>
public sealed class StorageOptions
{
    /// <summary>sqlite (default) or postgresql.</summary>
    public string Provider { get; set; } = "sqlite";
    /// <summary>Connection string; for SQLite the default is <c>{DataDirectory}/flowserver.db</c>.</summary>
    public string? ConnectionString { get; set; }
    /// <summary>Holds the SQLite file and the Data Protection key ring.</summary>
    public string DataDirectory { get; set; } = "./data";

    public bool IsSqlite => Provider.Equals("sqlite", StringComparison.OrdinalIgnoreCase);
    public string KeyDirectory => Path.Combine(Path.GetFullPath(DataDirectory), "keys");

    public string EffectiveConnectionString => ConnectionString is { Length: > 0 } given
        ? given
        : IsSqlite ? $"Data Source={Path.Combine(Path.GetFullPath(DataDirectory), "flowserver.db")}"
        : throw new InvalidOperationException("storage provider postgresql needs a connection string");
}

public static class StorageServices
{
    /// <summary>Registers the flow store (SQLite or PostgreSQL) and the credential key ring.</summary>
    public static IServiceCollection AddFlowStorage(this IServiceCollection services, StorageOptions options)
    {
        if (!options.IsSqlite && !options.Provider.Equals("postgresql", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"storage provider must be sqlite or postgresql, got '{options.Provider}'");
        Directory.CreateDirectory(options.DataDirectory);
        services.AddSingleton(options);
        services.AddDataProtection()
            .SetApplicationName("FlowServer")
            .PersistKeysToFileSystem(new DirectoryInfo(options.KeyDirectory));
        services.AddSingleton<IFlowStore, SqlFlowStore>();
        return services;
    }
}
