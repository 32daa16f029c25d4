using System.Text.Json;
using System.Text.Json.Nodes;
using FlowServer.Storage;
using Microsoft.Extensions.Logging;

namespace FlowServer.Runtime;

/// <summary>
/// The one way flows change: parse → compile → deploy → store a revision. A document that does
/// not compile is refused before anything is stored or stopped, so running flows and stored
/// flows stay as they were; a deploy or store that fails starts the previous flows again.
/// </summary>
public sealed class FlowService(FlowCompiler compiler, FlowRuntime runtime, IFlowStore store, ILogger<FlowService> log)
{
    readonly SemaphoreSlim _gate = new(1, 1);
    Dictionary<string, JsonObject> _credentials = new(StringComparer.Ordinal);

    /// <summary>The deployed document (credentials stripped).</summary>
    public FlowDocument Document { get; private set; } = FlowDocument.Empty;
    /// <summary>The deployed revision's hash (Node-RED's <c>rev</c>).</summary>
    public string Revision { get; private set; } = FlowDocument.Empty.ComputeRevision();
    /// <summary>Errors that kept the stored flows from starting (e.g. a node type that no longer exists).</summary>
    public IReadOnlyList<FlowError> StartupErrors { get; private set; } = [];

    public NodeCatalog Catalog => compiler.Catalog;

    /// <summary>The credentials of a node (decrypted), or null.</summary>
    public JsonObject? CredentialsOf(string nodeId) => _credentials.GetValueOrDefault(nodeId);

    /// <summary>Compiles without deploying; returns every error (empty when valid).</summary>
    public IReadOnlyList<FlowError> Validate(FlowDocument document, IReadOnlyDictionary<string, JsonObject> credentials)
    {
        try
        {
            compiler.Compile(document, MergeCredentials(document, credentials));
            return [];
        }
        catch (FlowDocumentException e) { return e.Errors; }
    }

    /// <summary>
    /// Deploys a document. Throws <see cref="FlowDocumentException"/> when it is invalid and
    /// <see cref="RevisionMismatchException"/> when <paramref name="expectedRevision"/> is stale.
    /// </summary>
    public async Task<string> DeployAsync(FlowDocument document, IReadOnlyDictionary<string, JsonObject> credentials, DeploymentType type,
        string? expectedRevision = null, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (expectedRevision is not null && expectedRevision != Revision) throw new RevisionMismatchException(Revision);
            if (type == DeploymentType.Reload) return await ReloadLockedAsync(cancellationToken);
            var merged = MergeCredentials(document, credentials);
            var plan = compiler.Compile(document, merged);
            return await ApplyLockedAsync(document, merged, plan, type, type.ToString().ToLowerInvariant(), cancellationToken);
        }
        finally { _gate.Release(); }
    }

    // Runs the plan, then stores it as a revision: a revision is stored only for flows that run.
    // Should either fail, the flows deployed before run again, so what runs is what is stored.
    async Task<string> ApplyLockedAsync(FlowDocument document, Dictionary<string, JsonObject> credentials, FlowPlan plan, DeploymentType type, string reason,
        CancellationToken cancellationToken)
    {
        // The text to store (once: it is both what is stored and what the revision hashes) is
        // written on the other core while the nodes start: the runtime works from the plan and
        // does not touch the document's objects, which are only read here.
        var text = Task.Run(() =>
        {
            var json = document.ToJson();
            return (Json: json, Rev: FlowDocument.RevisionOf(json));
        }, CancellationToken.None);
        try
        {
            await runtime.DeployAsync(plan, type, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested) { await text; throw; } // nothing was touched
        catch (Exception e)
        {
            await text; // done with the document before the rollback goes on
            await RollBackLockedAsync(e);
            throw;
        }
        var (json, rev) = await text;
        try
        {
            // Not cancellable: once the flows run, their revision is stored or they are rolled back.
            await store.SaveAsync(json, document.Nodes.Count, credentials, rev, reason, CancellationToken.None);
        }
        catch (Exception e)
        {
            await RollBackLockedAsync(e);
            throw;
        }
        (Document, Revision, _credentials, StartupErrors) = (document, rev, credentials, []);
        return rev;
    }

    async Task RollBackLockedAsync(Exception cause)
    {
        // The reason in one line (the caller reports the failure itself); the stack only when debugging.
        log.LogError("The deploy failed ({Reason}); the flows deployed before (revision {Rev}) are started again", cause.Message, Revision);
        log.LogDebug(cause, "Why the deploy failed");
        try
        {
            var plan = Document.Nodes.Count == 0 ? FlowPlan.Empty : compiler.Compile(Document, _credentials);
            await runtime.DeployAsync(plan, DeploymentType.Full, CancellationToken.None);
        }
        catch (Exception e) { log.LogError(e, "The flows deployed before could not be started again"); }
    }

    /// <summary>Starts what the store holds (at start-up, and for a <c>reload</c> deploy).</summary>
    public async Task<bool> LoadStoredAsync(CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var latest = await store.GetLatestAsync(cancellationToken);
            if (latest is null) return false;
            await StartStoredLockedAsync(latest, cancellationToken);
            return true;
        }
        finally { _gate.Release(); }
    }

    async Task<string> ReloadLockedAsync(CancellationToken cancellationToken)
    {
        var latest = await store.GetLatestAsync(cancellationToken);
        if (latest is null)
        {
            await runtime.DeployAsync(FlowPlan.Empty, DeploymentType.Full, cancellationToken);
            return Revision;
        }
        await StartStoredLockedAsync(latest, cancellationToken);
        return Revision;
    }

    async Task StartStoredLockedAsync(StoredRevision stored, CancellationToken cancellationToken)
    {
        var document = FlowDocument.Parse(stored.FlowsJson, out _, out _);
        var credentials = new Dictionary<string, JsonObject>(stored.Credentials, StringComparer.Ordinal);
        (Document, Revision, _credentials) = (document, stored.Rev, credentials);
        try
        {
            var plan = compiler.Compile(document, credentials);
            await runtime.DeployAsync(plan, DeploymentType.Full, cancellationToken);
            StartupErrors = [];
        }
        catch (FlowDocumentException e)
        {
            // The stored flows stay as they are: the user fixes them in the editor and deploys again.
            StartupErrors = e.Errors;
            log.LogError("The stored flows (revision {Id}) do not compile and were not started: {Errors}", stored.Id, e.Message);
        }
    }

    /// <summary>Deploys an earlier revision again (a rollback is a deploy).</summary>
    public async Task<string> RestoreAsync(long revisionId, CancellationToken cancellationToken = default)
    {
        var stored = await store.GetAsync(revisionId, cancellationToken) ?? throw new KeyNotFoundException($"revision {revisionId} does not exist");
        var document = FlowDocument.Parse(stored.FlowsJson, out _, out _);
        await _gate.WaitAsync(cancellationToken);
        try
        {
            // Credentials come from the old revision only: a rollback restores them too.
            var credentials = new Dictionary<string, JsonObject>(stored.Credentials, StringComparer.Ordinal);
            var plan = compiler.Compile(document, credentials);
            return await ApplyLockedAsync(document, credentials, plan, DeploymentType.Full, $"restore:{revisionId}", cancellationToken);
        }
        finally { _gate.Release(); }
    }

    // Node-RED semantics: a posted node without credentials keeps the ones it had; posted
    // fields replace stored ones field by field; nodes no longer in the document lose theirs.
    Dictionary<string, JsonObject> MergeCredentials(FlowDocument document, IReadOnlyDictionary<string, JsonObject> posted)
    {
        var merged = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        foreach (var node in document.Nodes)
        {
            var id = FlowDocument.IdOf(node)!;
            var result = _credentials.TryGetValue(id, out var existing) ? (JsonObject)existing.DeepClone() : new JsonObject();
            if (posted.TryGetValue(id, out var fresh))
                foreach (var (key, value) in fresh)
                {
                    // The editor posts "__PWRD__" for an unchanged secret, as Node-RED's does.
                    if (value is JsonValue v && v.GetValueKind() == JsonValueKind.String && v.GetValue<string>() == "__PWRD__") continue;
                    result[key] = value?.DeepClone();
                }
            if (result.Count > 0) merged[id] = result;
        }
        return merged;
    }
}

/// <summary>A v2 deploy named a revision that is no longer the deployed one (HTTP 409).</summary>
public sealed class RevisionMismatchException(string current) : Exception($"the flows were changed since revision was read; current revision is {current}")
{
    public string Current { get; } = current;
}
