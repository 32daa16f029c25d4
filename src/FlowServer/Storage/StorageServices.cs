using Microsoft.AspNetCore.DataProtection;
using Microsoft.EntityFrameworkCore;

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
    /// <summary>Registers the flow store (EF Core on SQLite or PostgreSQL) and the credential key ring.</summary>
    public static IServiceCollection AddFlowStorage(this IServiceCollection services, StorageOptions options)
    {
        Directory.CreateDirectory(options.DataDirectory);
        services.AddSingleton(options);
        services.AddDataProtection()
            .SetApplicationName("FlowServer")
            .PersistKeysToFileSystem(new DirectoryInfo(options.KeyDirectory));
        var connection = options.EffectiveConnectionString;
        // Pooled: a context created anew resolves EF Core's internal services again, and on the
        // first deploy after start-up that (with the JIT it sets off) was ~45 ms of a 1000-node deploy.
        services.AddPooledDbContextFactory<FlowStoreContext>(db =>
        {
            switch (options.Provider.ToLowerInvariant())
            {
                case "sqlite": db.UseSqlite(connection); break;
                case "postgresql": db.UseNpgsql(connection); break;
                default: throw new ArgumentException($"storage provider must be sqlite or postgresql, got '{options.Provider}'");
            }
        });
        services.AddSingleton<IFlowStore, EfFlowStore>();
        return services;
    }
}
