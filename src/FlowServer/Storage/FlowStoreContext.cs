using Microsoft.EntityFrameworkCore;

namespace FlowServer.Storage;

/// <summary>One deployed revision as a row. The same model on SQLite and PostgreSQL.</summary>
public sealed class FlowRevisionEntity
{
    public long Id { get; set; }
    /// <summary>Node-RED's revision hash of the flows (what <c>GET /flows</c> v2 returns as <c>rev</c>).</summary>
    public string Rev { get; set; } = "";
    public DateTimeOffset CreatedAt { get; set; }
    public string DeploymentType { get; set; } = "";
    /// <summary>The flow document without credentials, as posted (unknown properties kept).</summary>
    public string FlowsJson { get; set; } = "";
    /// <summary>Credentials by node id as JSON, encrypted with Data Protection.</summary>
    public string CredentialsProtected { get; set; } = "";
    public int NodeCount { get; set; }
}

public sealed class FlowStoreContext(DbContextOptions<FlowStoreContext> options) : DbContext(options)
{
    public DbSet<FlowRevisionEntity> Revisions => Set<FlowRevisionEntity>();

    protected override void OnModelCreating(ModelBuilder model)
    {
        var revision = model.Entity<FlowRevisionEntity>();
        revision.ToTable(RevisionTable.Name);
        revision.HasKey(r => r.Id);
        revision.Property(r => r.Id).HasColumnName(RevisionTable.Id).ValueGeneratedOnAdd();
        revision.Property(r => r.Rev).HasColumnName(RevisionTable.Rev).HasMaxLength(128).IsRequired();
        // Stored as UTC ticks so both providers order and compare them the same way.
        revision.Property(r => r.CreatedAt).HasColumnName(RevisionTable.CreatedAt)
            .HasConversion(v => v.UtcTicks, v => RevisionTable.CreatedAtOf(v));
        revision.Property(r => r.DeploymentType).HasColumnName(RevisionTable.DeploymentType).HasMaxLength(64).IsRequired();
        revision.Property(r => r.FlowsJson).HasColumnName(RevisionTable.FlowsJson).IsRequired();
        revision.Property(r => r.CredentialsProtected).HasColumnName(RevisionTable.Credentials).IsRequired();
        revision.Property(r => r.NodeCount).HasColumnName(RevisionTable.NodeCount);
    }
}

/// <summary>The table's names, shared by the model and the plain SQL of start-up (<see cref="EfFlowStore"/>).</summary>
static class RevisionTable
{
    public const string Name = "flow_revisions";
    public const string Id = "id";
    public const string Rev = "rev";
    public const string CreatedAt = "created_at";
    public const string DeploymentType = "deployment_type";
    public const string FlowsJson = "flows_json";
    public const string Credentials = "credentials";
    public const string NodeCount = "node_count";

    /// <summary>What the <see cref="CreatedAt"/> column's UTC ticks stand for.</summary>
    public static DateTimeOffset CreatedAtOf(long utcTicks) => new(utcTicks, TimeSpan.Zero);
}
