using System.Collections.Concurrent;
using FlowServer.Nodes.Sdk;
using Microsoft.Extensions.Logging;

namespace FlowServer.Runtime;

/// <summary>How much of the running graph a deploy replaces (Node-RED's deployment types).</summary>
public enum DeploymentType { Full, Flows, Nodes, Reload }

/// <summary>
/// The running graph. Deploys a <see cref="FlowPlan"/> by diffing it against what runs:
/// added, changed and removed nodes are started and stopped; unchanged (and merely rewired)
/// nodes keep their instance, state and connections.
/// </summary>
public sealed class FlowRuntime : IAsyncDisposable
{
    readonly ILoggerFactory _loggers;
    readonly ILogger _log;
    readonly SemaphoreSlim _deployGate = new(1, 1);
    readonly ConcurrentDictionary<string, IContextStore> _nodeContexts = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, IContextStore> _flowContexts = new(StringComparer.Ordinal);
    volatile Graph _graph = Graph.Empty;

    public FlowRuntime(RuntimeOptions options, RuntimeEvents events, ILoggerFactory loggers)
    {
        Options = options;
        Events = events;
        _loggers = loggers;
        _log = loggers.CreateLogger<FlowRuntime>();
        if (options.CompactMemoryAfterDeploy is { } delay) _compaction = new MemoryCompaction(delay);
    }

    readonly MemoryCompaction? _compaction;

    /// <summary>Full compacting collections run after deploys so far (<see cref="RuntimeOptions.CompactMemoryAfterDeploy"/>).</summary>
    public long MemoryCompactions => _compaction?.Runs ?? 0;

    public RuntimeOptions Options { get; }
    public RuntimeEvents Events { get; }
    public IContextStore GlobalContext { get; } = new MemoryContextStore();

    /// <summary>The running node hosts by id.</summary>
    public IReadOnlyDictionary<string, NodeHost> Hosts => _graph.Hosts;

    /// <summary>The plan that runs now.</summary>
    public FlowPlan Plan => _graph.Plan;

    public NodeHost? Find(string id) => _graph.Hosts.GetValueOrDefault(id);

    /// <summary>Puts a message into a running node's inbox, as a wire would (used by tests and tools).</summary>
    public ValueTask DeliverAsync(string nodeId, FlowMessage message, CancellationToken cancellationToken = default) =>
        (Find(nodeId) ?? throw new KeyNotFoundException($"node '{nodeId}' is not running")).EnqueueAsync(message, cancellationToken);

    internal IContextStore FlowContextFor(string? flowId) => _flowContexts.GetOrAdd(flowId ?? "", _ => new MemoryContextStore());

    internal TabInfo? TabOf(string? flowId) => flowId is null ? null : _graph.Plan.Tabs.GetValueOrDefault(flowId);

    internal T GetConfigNode<T>(string id, NodeHost requester) where T : FlowNode
    {
        if (!_graph.Hosts.TryGetValue(id, out var host) && !_pending.TryGetValue(id, out host))
            throw new FlowNodeException($"config node '{id}' is not running");
        return host.Node as T ?? throw new FlowNodeException($"node '{id}' is a {host.NodeType}, not the config node {requester.NodeType} needs");
    }

    // Hosts of the deploy under way, visible to GetConfigNode before the new graph is published.
    ConcurrentDictionary<string, NodeHost> _pending = new(StringComparer.Ordinal);

    /// <summary>Deploys a plan. Serialised: one deploy at a time.</summary>
    public async Task<DeployReport> DeployAsync(FlowPlan plan, DeploymentType type, CancellationToken cancellationToken = default)
    {
        await _deployGate.WaitAsync(cancellationToken);
        try { return await DeployLockedAsync(plan, type); }
        finally
        {
            _deployGate.Release();
            _compaction?.AfterDeploy();
        }
    }

    async Task<DeployReport> DeployLockedAsync(FlowPlan plan, DeploymentType type)
    {
        var old = _graph;
        var runnable = plan.Nodes.Where(n => !n.Disabled).ToDictionary(n => n.Id, StringComparer.Ordinal);
        var restart = ChooseRestarts(old, runnable, type);

        var kept = new Dictionary<string, NodeHost>(StringComparer.Ordinal);
        var stopping = new List<NodeHost>();
        foreach (var (id, host) in old.Hosts)
        {
            if (runnable.TryGetValue(id, out var planned) && !restart.Contains(id))
            {
                host.Plan = planned;
                kept[id] = host;
            }
            else stopping.Add(host);
        }

        var created = new List<NodeHost>();
        _pending = new ConcurrentDictionary<string, NodeHost>(kept, StringComparer.Ordinal);
        foreach (var planned in runnable.Values.Where(n => !kept.ContainsKey(n.Id)))
        {
            var host = CreateHost(planned);
            created.Add(host);
            _pending[planned.Id] = host;
        }

        var hosts = new Dictionary<string, NodeHost>(kept, StringComparer.Ordinal);
        foreach (var host in created) hosts[host.NodeId] = host;
        var graph = new Graph(plan, hosts);

        // Route everything into the new graph before anything stops: nodes being drained pass
        // their last messages on to the new instances instead of losing them.
        foreach (var host in hosts.Values) host.SetRoutes(graph.RoutesOf(host.Plan));
        foreach (var host in stopping) host.SetRoutes(graph.RoutesOf(host.Plan));
        _graph = graph;

        var deadline = DateTime.UtcNow + Options.StopDeadline;
        foreach (var host in StopOrder(stopping)) await host.StopAsync(deadline, deadline + Options.StopGrace);
        foreach (var host in stopping.Where(h => !runnable.ContainsKey(h.NodeId))) _nodeContexts.TryRemove(host.NodeId, out _);

        foreach (var host in StartOrder(created)) await host.StartAsync();
        _pending = new ConcurrentDictionary<string, NodeHost>(StringComparer.Ordinal);

        var report = new DeployReport(created.Count, stopping.Count, kept.Count);
        _log.LogInformation("Deployed ({Type}): {Started} started, {Stopped} stopped, {Kept} kept running", type, report.Started, report.Stopped, report.Kept);
        Events.Publish("notification/runtime-deploy", new Dictionary<string, object?> { ["type"] = type.ToString().ToLowerInvariant() });
        return report;
    }

    HashSet<string> ChooseRestarts(Graph old, Dictionary<string, PlannedNode> runnable, DeploymentType type)
    {
        if (type is DeploymentType.Full or DeploymentType.Reload) return runnable.Keys.ToHashSet(StringComparer.Ordinal);

        var changed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (id, planned) in runnable)
            if (!old.Hosts.TryGetValue(id, out var host) || !host.Plan.Fingerprint.SameAs(planned.Fingerprint)) changed.Add(id);
        // A node whose config node restarts restarts too (transitively: config nodes may use config nodes).
        bool grew;
        do
        {
            grew = false;
            foreach (var (id, planned) in runnable)
                if (!changed.Contains(id) && planned.ConfigReferences.Any(changed.Contains)) grew |= changed.Add(id);
        } while (grew);

        if (type == DeploymentType.Flows)
        {
            var removed = old.Hosts.Keys.Where(id => !runnable.ContainsKey(id));
            var tabs = changed.Concat(removed)
                .Select(id => runnable.GetValueOrDefault(id)?.FlowId ?? old.Hosts.GetValueOrDefault(id)?.FlowId)
                .Where(z => z is not null).ToHashSet();
            foreach (var (id, planned) in runnable)
                if (planned.FlowId is not null && tabs.Contains(planned.FlowId)) changed.Add(id);
        }
        return changed;
    }

    NodeHost CreateHost(PlannedNode planned)
    {
        var node = planned.Info.CreateInstance();
        var context = _nodeContexts.GetOrAdd(planned.Id, _ => new MemoryContextStore());
        var host = new NodeHost(this, planned, node, context, _loggers.CreateLogger("FlowServer.Nodes." + planned.Type.Replace(' ', '-')));
        node.Attach(host, planned.Options);
        return host;
    }

    // Sources first, then downstream, config nodes last: upstream stops producing before
    // downstream drains, and shared connections outlive their users.
    static IEnumerable<NodeHost> StopOrder(IReadOnlyCollection<NodeHost> hosts) =>
        TopologicalOrder(hosts.Where(h => !h.Plan.Info.IsConfig)).Concat(ConfigOrder(hosts).AsEnumerable().Reverse());

    // Config nodes first, then sinks up to sources.
    static IEnumerable<NodeHost> StartOrder(IReadOnlyCollection<NodeHost> hosts) =>
        ConfigOrder(hosts).Concat(TopologicalOrder(hosts.Where(h => !h.Plan.Info.IsConfig)).AsEnumerable().Reverse());

    static IEnumerable<NodeHost> ConfigOrder(IEnumerable<NodeHost> hosts)
    {
        // Config nodes that use other config nodes come after them.
        var configs = hosts.Where(h => h.Plan.Info.IsConfig).ToList();
        return configs.OrderBy(h => h.Plan.ConfigReferences.Count(r => configs.Any(c => c.NodeId == r)));
    }

    static List<NodeHost> TopologicalOrder(IEnumerable<NodeHost> hosts)
    {
        var set = hosts.ToDictionary(h => h.NodeId, StringComparer.Ordinal);
        var incoming = set.Keys.ToDictionary(id => id, _ => 0, StringComparer.Ordinal);
        foreach (var host in set.Values)
            foreach (var target in host.Plan.Wires.SelectMany(p => p))
                if (incoming.ContainsKey(target)) incoming[target]++;
        var queue = new Queue<string>(incoming.Where(kv => kv.Value == 0).Select(kv => kv.Key));
        var order = new List<NodeHost>(set.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (true)
        {
            while (queue.Count > 0)
            {
                var id = queue.Dequeue();
                if (!seen.Add(id)) continue;
                order.Add(set[id]);
                foreach (var target in set[id].Plan.Wires.SelectMany(p => p))
                    if (incoming.ContainsKey(target) && --incoming[target] == 0) queue.Enqueue(target);
            }
            // What is left sits on cycles: take any node of it and go on.
            var rest = set.Keys.FirstOrDefault(id => !seen.Contains(id));
            if (rest is null) break;
            queue.Enqueue(rest);
        }
        return order;
    }

    /// <summary>
    /// Gives an error with its message to the catch nodes of the source's tab: those whose scope
    /// covers the source, else those that take only uncaught errors (within their scope).
    /// </summary>
    internal async Task RouteErrorAsync(NodeHost source, string text, FlowMessage message)
    {
        var graph = _graph;
        if (source.FlowId is null || !graph.Catchers.TryGetValue(source.FlowId, out var catchers)) return;

        var count = 1;
        if (message["error"] is Dictionary<string, object?> previous && previous.GetValueOrDefault("source") is Dictionary<string, object?> src
            && src.GetValueOrDefault("id") as string == source.NodeId)
            count = (int)MessageValue.ToNumber(src.GetValueOrDefault("count")) + 1;
        if (count > 9)
        {
            _log.LogWarning("Message {MsgId} caught more than 9 times at {Id}: stopped to break an error loop", message.MessageId, source.NodeId);
            return;
        }

        var matching = catchers.Where(c => !((IErrorListener)c.Node).OnlyUncaught && ((IErrorListener)c.Node).Covers(source.NodeId)).ToList();
        // An "uncaught" catch node still has its scope (Node-RED: uncaught errors of the selected nodes).
        if (matching.Count == 0) matching = catchers.Where(c => ((IErrorListener)c.Node).OnlyUncaught && ((IErrorListener)c.Node).Covers(source.NodeId)).ToList();
        for (var i = 0; i < matching.Count; i++)
        {
            var copy = i == matching.Count - 1 ? message : message.Clone();
            if (copy.Properties.Remove("error", out var earlier)) copy["_error"] = earlier;
            copy["error"] = new Dictionary<string, object?>
            {
                ["message"] = text,
                ["source"] = new Dictionary<string, object?>
                {
                    ["id"] = source.NodeId,
                    ["type"] = source.NodeType,
                    ["name"] = source.NodeName,
                    ["count"] = (double)count,
                },
            };
            await matching[i].SendAsync(0, copy);
        }
    }

    /// <summary>True when some running node listens for completions (saves work per message otherwise).</summary>
    internal bool HasCompletionListeners => _graph.Completers.Count > 0;

    /// <summary>Tells the complete nodes of the source's tab that it finished a message.</summary>
    internal async Task RouteCompletionAsync(NodeHost source, FlowMessage message)
    {
        if (source.FlowId is null || !_graph.Completers.TryGetValue(source.FlowId, out var listeners)) return;
        foreach (var listener in listeners)
            if (listener != source && ((ICompletionListener)listener.Node).Covers(source.NodeId))
                await listener.SendAsync(0, message.Clone());
    }

    /// <summary>Sends a status change to the status nodes of the source's tab (never blocking the source).</summary>
    internal void RouteStatus(NodeHost source, NodeStatus status)
    {
        if (source.FlowId is null || !_graph.StatusListeners.TryGetValue(source.FlowId, out var listeners)) return;
        foreach (var listener in listeners)
        {
            if (listener == source || !((IStatusListener)listener.Node).Covers(source.NodeId)) continue;
            var message = new FlowMessage();
            message["status"] = new Dictionary<string, object?>
            {
                ["fill"] = status.Fill,
                ["shape"] = status.Shape,
                ["text"] = status.Text,
                ["source"] = new Dictionary<string, object?> { ["id"] = source.NodeId, ["type"] = source.NodeType, ["name"] = source.NodeName },
            };
            _ = listener.SendAsync(0, message).AsTask();
        }
    }

    /// <summary>Stops every node (sources first), draining inboxes until the stop deadline.</summary>
    public async Task StopAsync()
    {
        await _deployGate.WaitAsync();
        try
        {
            var old = _graph;
            _graph = Graph.Empty;
            var deadline = DateTime.UtcNow + Options.StopDeadline;
            foreach (var host in StopOrder(old.Hosts.Values.ToList())) await host.StopAsync(deadline, deadline + Options.StopGrace);
        }
        finally { _deployGate.Release(); }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _compaction?.Dispose();
    }

    /// <summary>An immutable snapshot of the running graph.</summary>
    sealed class Graph
    {
        public static readonly Graph Empty = new(FlowPlan.Empty, new Dictionary<string, NodeHost>());

        public Graph(FlowPlan plan, Dictionary<string, NodeHost> hosts)
        {
            Plan = plan;
            Hosts = hosts;
            Catchers = ByTab<IErrorListener>(hosts);
            StatusListeners = ByTab<IStatusListener>(hosts);
            Completers = ByTab<ICompletionListener>(hosts);
        }

        static Dictionary<string, NodeHost[]> ByTab<TListener>(Dictionary<string, NodeHost> hosts) =>
            hosts.Values.Where(h => h.Node is TListener && h.FlowId is not null)
                .GroupBy(h => h.FlowId!)
                .ToDictionary(g => g.Key, g => g.ToArray(), StringComparer.Ordinal);

        public FlowPlan Plan { get; }
        public Dictionary<string, NodeHost> Hosts { get; }
        public Dictionary<string, NodeHost[]> Catchers { get; }
        public Dictionary<string, NodeHost[]> StatusListeners { get; }
        public Dictionary<string, NodeHost[]> Completers { get; }

        // Wires to nodes that do not run (disabled) are dropped.
        public NodeHost[][] RoutesOf(PlannedNode planned) =>
            planned.Wires.Select(port => port.Select(id => Hosts.GetValueOrDefault(id)).OfType<NodeHost>().ToArray()).ToArray();
    }
}

/// <summary>What a deploy did.</summary>
public sealed record DeployReport(int Started, int Stopped, int Kept);
