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
        revision.ToTable("flow_revisions");
        revision.HasKey(r => r.Id);
        revision.Property(r => r.Id).HasColumnName("id").ValueGeneratedOnAdd();
        revision.Property(r => r.Rev).HasColumnName("rev").HasMaxLength(128).IsRequired();
        // Stored as UTC ticks so both providers order and compare them the same way.
        revision.Property(r => r.CreatedAt).HasColumnName("created_at")
            .HasConversion(v => v.UtcTicks, v => new DateTimeOffset(v, TimeSpan.Zero));
        revision.Property(r => r.DeploymentType).HasColumnName("deployment_type").HasMaxLength(64).IsRequired();
        revision.Property(r => r.FlowsJson).HasColumnName("flows_json").IsRequired();
        revision.Property(r => r.CredentialsProtected).HasColumnName("credentials").IsRequired();
        revision.Property(r => r.NodeCount).HasColumnName("node_count");
    }
}
