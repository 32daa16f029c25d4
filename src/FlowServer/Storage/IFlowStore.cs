using System.Text.Json.Nodes;

namespace FlowServer.Storage;

/// <summary>
/// Where deployed flows live: every deploy is a revision (flows JSON without credentials, plus
/// the credentials encrypted at rest). The latest revision is what runs after a restart.
/// </summary>
public interface IFlowStore
{
    /// <summary>Opens the store, creating the schema when it is missing. Called at start-up; the other calls wait for it (and open the store themselves when nobody did).</summary>
    Task InitializeAsync(CancellationToken cancellationToken = default);

    /// <summary>The newest revision, or null when nothing was ever deployed.</summary>
    Task<StoredRevision?> GetLatestAsync(CancellationToken cancellationToken = default);

    /// <summary>One revision by its number, or null.</summary>
    Task<StoredRevision?> GetAsync(long id, CancellationToken cancellationToken = default);

    /// <summary>
    /// Stores a new revision (atomically: all or nothing) and returns it. <paramref name="nodeCount"/>
    /// is the number of entries in <paramref name="flowsJson"/>, which the caller has parsed already
    /// (reading 1000 nodes again only to count them was 6 ms of a deploy).
    /// </summary>
    Task<StoredRevision> SaveAsync(string flowsJson, int nodeCount, IReadOnlyDictionary<string, JsonObject> credentials, string rev, string deploymentType, CancellationToken cancellationToken = default);

    /// <summary>Revisions, newest first, without their bodies.</summary>
    Task<IReadOnlyList<RevisionSummary>> ListAsync(int limit = 100, CancellationToken cancellationToken = default);
}

/// <summary>A stored revision with its (decrypted) credentials.</summary>
public sealed record StoredRevision(long Id, string Rev, DateTimeOffset CreatedAt, string DeploymentType, string FlowsJson, IReadOnlyDictionary<string, JsonObject> Credentials);

/// <summary>A revision without its bodies, for listings.</summary>
public sealed record RevisionSummary(long Id, string Rev, DateTimeOffset CreatedAt, string DeploymentType, int NodeCount);
