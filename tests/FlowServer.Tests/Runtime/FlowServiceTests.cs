using System.Text.Json.Nodes;
using FlowServer.Runtime;
using FlowServer.Storage;
using FlowServer.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Runtime;

/// <summary>What runs and what is stored stay the same when a deploy fails half way.</summary>
public sealed class FlowServiceTests
{
    static readonly string First = Flow(new { id = "first", type = "test-mark", mark = "1", wires = new[] { new[] { "out" } } }, new { id = "out", type = "test-capture" });
    static readonly string Second = Flow(new { id = "second", type = "test-mark", mark = "2", wires = new[] { new[] { "out" } } }, new { id = "out", type = "test-capture" });

    [Fact]
    public async Task A_revision_that_cannot_be_stored_is_rolled_back_and_the_flows_before_run_again()
    {
        await using var flow = await StartAsync("[]");
        var store = new FailingStore();
        var service = new FlowService(flow.Compiler, flow.Runtime, store, NullLogger<FlowService>.Instance);
        var firstRev = await DeployAsync(service, First);

        store.FailSaves = true;
        await Assert.ThrowsAsync<IOException>(() => DeployAsync(service, Second));

        Assert.NotNull(flow.Runtime.Find("first"));
        Assert.Null(flow.Runtime.Find("second"));
        Assert.Equal(firstRev, service.Revision);
        Assert.NotNull(service.Document.Find("first"));
        Assert.Single(store.Saved);
        await flow.SendAsync("first", 1.0);
        Assert.Equal(new List<object?> { "1" }, (await flow.NextAsync("out"))["marks"]);
    }

    [Fact]
    public async Task A_deploy_that_fails_in_the_runtime_stores_no_revision_and_the_flows_before_run_again()
    {
        await using var flow = await StartAsync("[]");
        var store = new FailingStore();
        var service = new FlowService(flow.Compiler, flow.Runtime, store, NullLogger<FlowService>.Instance);
        var firstRev = await DeployAsync(service, First);

        var broken = Flow(new { id = "second", type = "test-broken" });
        await Assert.ThrowsAnyAsync<Exception>(() => DeployAsync(service, broken));

        Assert.Single(store.Saved);
        Assert.Equal(firstRev, service.Revision);
        Assert.NotNull(flow.Runtime.Find("first"));
        await flow.SendAsync("first", 1.0);
        Assert.Equal(new List<object?> { "1" }, (await flow.NextAsync("out"))["marks"]);
    }

    static Task<string> DeployAsync(FlowService service, string json) =>
        service.DeployAsync(FlowDocument.Parse(json, out var credentials, out _), credentials, DeploymentType.Full);

    sealed class FailingStore : IFlowStore
    {
        public bool FailSaves { get; set; }
        public List<StoredRevision> Saved { get; } = [];

        public Task InitializeAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;
        public Task<StoredRevision?> GetLatestAsync(CancellationToken cancellationToken = default) => Task.FromResult(Saved.LastOrDefault());
        public Task<StoredRevision?> GetAsync(long id, CancellationToken cancellationToken = default) => Task.FromResult(Saved.FirstOrDefault(r => r.Id == id));

        public Task<StoredRevision> SaveAsync(string flowsJson, int nodeCount, IReadOnlyDictionary<string, JsonObject> credentials, string rev, string deploymentType, CancellationToken cancellationToken = default)
        {
            if (FailSaves) throw new IOException("disk full");
            var revision = new StoredRevision(Saved.Count + 1, rev, DateTimeOffset.UtcNow, deploymentType, flowsJson, credentials);
            Saved.Add(revision);
            return Task.FromResult(revision);
        }

        public Task<IReadOnlyList<RevisionSummary>> ListAsync(int limit = 100, CancellationToken cancellationToken = default) =>
            Task.FromResult<IReadOnlyList<RevisionSummary>>(Saved.Select(r => new RevisionSummary(r.Id, r.Rev, r.CreatedAt, r.DeploymentType, 0)).Reverse().ToList());
    }
}
