using System.Diagnostics;
using System.Threading.Channels;
using FlowServer.Nodes.Sdk;
using Microsoft.Extensions.Logging;

namespace FlowServer.Runtime;

/// <summary>
/// Runs one node: owns its bounded inbox, hands its messages to the node one at a time in order,
/// routes what it sends, and counts everything. Implements the node's <see cref="INodeContext"/>.
/// </summary>
/// <remarks>
/// Messages are handed over by a "drain": whoever finds the node idle after putting a message
/// into its inbox becomes the one draining it. For nodes that allow it (<see cref="IRunsInline"/>)
/// that is the sender's own thread, so a chain like mqtt in → function → mqtt out runs without a
/// thread hop per node (each hop wakes a thread, which at plant-floor rates costs more than the
/// node's work). Otherwise, and past a nesting depth or a budget of messages, the drain runs on
/// the thread pool. At most one drain per node runs at a time, so a node still sees its messages
/// one by one, in order.
/// </remarks>
public sealed class NodeHost : INodeContext
{
    readonly FlowRuntime _runtime;
    readonly Channel<FlowMessage>? _inbox;
    readonly CancellationTokenSource _stopping = new();
    readonly CancellationTokenSource _abort = new();
    volatile NodeHost[][] _routes = [];
    readonly bool _runsInline;
    int _draining; // 1 while a drain hands this node its messages
    volatile bool _started, _stopped;

    // How deep drains may nest on one thread (node inside node inside node…) and how many
    // messages a sender's thread takes for a node before leaving the rest to the thread pool.
    const int MaxInlineDepth = 8;
    const int InlineBudget = 64;
    [ThreadStatic] static int t_inlineDepth;
    // Time spent by nodes run inline inside the current node's ReceiveAsync on this thread, so that
    // a node's processing time is its own and not also its inline children's.
    [ThreadStatic] static long t_inlineTicks;

    long _received, _sent, _errors, _dropped, _processingTicks;

    internal NodeHost(FlowRuntime runtime, PlannedNode plan, FlowNode node, IContextStore nodeContext, ILogger logger)
    {
        _runtime = runtime;
        Plan = plan;
        Node = node;
        NodeContext = nodeContext;
        Logger = logger;
        if (plan.Info.Descriptor.Inputs > 0)
        {
            var capacity = plan.Queue.Capacity ?? runtime.Options.DefaultQueueCapacity;
            var options = new BoundedChannelOptions(capacity)
            {
                SingleReader = true,
                AllowSynchronousContinuations = false,
                FullMode = plan.Queue.Overflow switch
                {
                    QueueOverflow.DropOldest => BoundedChannelFullMode.DropOldest,
                    QueueOverflow.DropNewest => BoundedChannelFullMode.DropWrite,
                    _ => BoundedChannelFullMode.Wait,
                },
            };
            _inbox = Channel.CreateBounded<FlowMessage>(options, _ => Interlocked.Increment(ref _dropped));
            Capacity = capacity;
            // A node that drops on overflow promised never to hold up its sender: running it on the
            // sender's thread would do just that (and keep its inbox from ever filling up to drop).
            _runsInline = node is IRunsInline && runtime.Options.RunInline && plan.Queue.Overflow == QueueOverflow.Wait;
        }
    }

    /// <summary>The plan this host runs; replaced when a deploy rewires the node without restarting it.</summary>
    public PlannedNode Plan { get; internal set; }
    public FlowNode Node { get; }
    public int Capacity { get; }
    public NodeStatus Status { get; private set; } = NodeStatus.Clear;

    public long Received => Interlocked.Read(ref _received);
    public long Sent => Interlocked.Read(ref _sent);
    public long Errors => Interlocked.Read(ref _errors);
    /// <summary>Messages lost at this node: inbox overflow in a drop mode, or sent to it after it stopped.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);
    public int InboxDepth => _inbox?.Reader.Count ?? 0;
    public TimeSpan ProcessingTime => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _processingTicks));

    // INodeContext
    public string NodeId => Plan.Id;
    public string NodeType => Plan.Type;
    public string? NodeName => Plan.Name;
    public string? FlowId => Plan.FlowId;
    public int OutputCount => Plan.Outputs;
    public IContextStore NodeContext { get; }
    public IContextStore FlowContext => _runtime.FlowContextFor(Plan.FlowId);
    public IContextStore GlobalContext => _runtime.GlobalContext;
    public string DataDirectory => Path.GetFullPath(_runtime.Options.DataDirectory);
    public CancellationToken Stopping => _stopping.Token;
    public ILogger Logger { get; }

    internal void SetRoutes(NodeHost[][] routes) => _routes = routes;

    internal async Task StartAsync()
    {
        using var deadline = new CancellationTokenSource(_runtime.Options.StartDeadline);
        try
        {
            await Node.StartAsync(deadline.Token).WaitAsync(_runtime.Options.StartDeadline);
        }
        catch (Exception e)
        {
            var text = e is TimeoutException ? $"did not start within {_runtime.Options.StartDeadline.TotalSeconds:0.#} s" : $"failed to start: {e.Message}";
            ReportError(text, null, e);
            SetStatus(NodeStatus.Failed("start failed"));
        }
        _started = true;
        if (_inbox is not null && _inbox.Reader.Count > 0) await ScheduleDrainAsync().ConfigureAwait(false);
    }

    /// <summary>Makes sure someone drains the inbox: this thread (inline), the pool, or a drain already running.</summary>
    ValueTask ScheduleDrainAsync()
    {
        if (!_started || Interlocked.CompareExchange(ref _draining, 1, 0) != 0) return ValueTask.CompletedTask;
        if (_runsInline && t_inlineDepth < MaxInlineDepth && !_stopping.IsCancellationRequested)
        {
            t_inlineDepth++;
            try { return DrainAsync(InlineBudget, inline: true); }
            finally { t_inlineDepth--; }
        }
        DrainOnPool();
        return ValueTask.CompletedTask;
    }

    void DrainOnPool() => ThreadPool.UnsafeQueueUserWorkItem(static host => _ = host.DrainAsync(int.MaxValue, inline: false), this, preferLocal: false);

    /// <summary>
    /// Hands queued messages to the node until the inbox is empty (or the budget is spent, then the
    /// pool goes on). <paramref name="inline"/>: called by a sender on its thread, which stays true
    /// until a message's processing first goes asynchronous.
    /// </summary>
    async ValueTask DrainAsync(int budget, bool inline)
    {
        var reader = _inbox!.Reader;
        var token = _abort.Token;
        while (true)
        {
            while (!token.IsCancellationRequested && reader.TryRead(out var message))
            {
                var processing = ProcessAsync(message, inline, token);
                inline &= processing.IsCompleted;
                await processing.ConfigureAwait(false);
                if (--budget == 0 && reader.Count > 0)
                {
                    DrainOnPool(); // still ours (_draining stays 1): the pool goes on where this thread stops
                    return;
                }
            }
            Volatile.Write(ref _draining, 0);
            // A message written after the last TryRead found us still draining: take it, unless someone else did.
            if (token.IsCancellationRequested || reader.Count == 0 || Interlocked.CompareExchange(ref _draining, 1, 0) != 0) return;
        }
    }

    async ValueTask ProcessAsync(FlowMessage message, bool inline, CancellationToken token)
    {
        Interlocked.Increment(ref _received);
        var outerInline = t_inlineTicks;
        t_inlineTicks = 0;
        var started = Stopwatch.GetTimestamp();
        ValueTask received;
        try { received = Node.ReceiveAsync(message, token); }
        catch (Exception e) { received = ValueTask.FromException(e); }
        // What the nodes run inline in it took, read before an await can move us to another thread.
        // (An inline node that goes asynchronous is still counted in ours too, as before.)
        var inlineTicks = t_inlineTicks;
        t_inlineTicks = outerInline;
        var synchronous = received.IsCompleted;
        try
        {
            await received.ConfigureAwait(false);
            if (_runtime.HasCompletionListeners)
            {
                var completion = _runtime.RouteCompletionAsync(this, message);
                synchronous &= completion.IsCompleted;
                await completion.ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            Interlocked.Increment(ref _dropped); // cancelled at the stop deadline: the message is lost
        }
        catch (Exception e)
        {
            var raised = RaiseErrorAsync(e.Message, message, e);
            synchronous &= raised.IsCompleted;
            await raised.ConfigureAwait(false);
        }
        var elapsed = Stopwatch.GetTimestamp() - started;
        Interlocked.Add(ref _processingTicks, elapsed - inlineTicks);
        // Run by the sender on its thread and done there, inside its ReceiveAsync: it leaves this time to us.
        if (inline && synchronous) t_inlineTicks += elapsed;
    }

    /// <summary>Takes a message into the inbox, waiting while it is full (unless the node drops).</summary>
    internal ValueTask EnqueueAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        if (_inbox is null) return ValueTask.CompletedTask;
        if (_inbox.Writer.TryWrite(message)) return ScheduleDrainAsync();
        return EnqueueSlowAsync(message, cancellationToken);
    }

    async ValueTask EnqueueSlowAsync(FlowMessage message, CancellationToken cancellationToken)
    {
        try
        {
            await _inbox!.Writer.WriteAsync(message, cancellationToken).ConfigureAwait(false);
            await ScheduleDrainAsync().ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            Interlocked.Increment(ref _dropped);
            Logger.LogWarning("{Type} {Id}: message {MsgId} arrived after the node stopped and was dropped", NodeType, NodeId, message.MessageId);
        }
    }

    public ValueTask SendAsync(int port, FlowMessage message, CancellationToken cancellationToken = default)
    {
        var routes = _routes;
        if ((uint)port >= (uint)routes.Length) return ValueTask.CompletedTask;
        var targets = routes[port];
        if (targets.Length == 0) return ValueTask.CompletedTask;
        if (_stopped)
        {
            Interlocked.Increment(ref _dropped);
            return ValueTask.CompletedTask;
        }
        Interlocked.Add(ref _sent, targets.Length);
        if (targets.Length == 1) return targets[0].EnqueueAsync(message, cancellationToken);
        return FanOutAsync(targets, message, cancellationToken);
    }

    static async ValueTask FanOutAsync(NodeHost[] targets, FlowMessage message, CancellationToken cancellationToken)
    {
        // Clone before the first target can touch the original.
        var copies = new FlowMessage[targets.Length];
        copies[0] = message;
        for (var i = 1; i < copies.Length; i++) copies[i] = message.Clone();
        for (var i = 0; i < targets.Length; i++) await targets[i].EnqueueAsync(copies[i], cancellationToken).ConfigureAwait(false);
    }

    public void SetStatus(NodeStatus status)
    {
        Status = status;
        _runtime.Events.PublishStatus(NodeId, status);
        _runtime.RouteStatus(this, status);
    }

    public void ReportError(string text, FlowMessage? message = null, Exception? exception = null) =>
        _ = RaiseErrorAsync(text, message, exception);

    async Task RaiseErrorAsync(string text, FlowMessage? message, Exception? exception)
    {
        Interlocked.Increment(ref _errors);
        Logger.LogError(exception is null or FlowNodeException ? null : exception, "[{Type}:{Name}] {Text}", NodeType, NodeName ?? NodeId, text);
        _runtime.Events.Publish("debug", DebugPayload(null, "error", text, "error"));
        if (message is not null)
        {
            try { await _runtime.RouteErrorAsync(this, text, message).ConfigureAwait(false); }
            catch (Exception e) { Logger.LogError(e, "routing an error of {Id} to catch nodes failed", NodeId); }
        }
    }

    public void Warn(string text)
    {
        Logger.LogWarning("[{Type}:{Name}] {Text}", NodeType, NodeName ?? NodeId, text);
        _runtime.Events.Publish("debug", DebugPayload(null, "warn", text, "warn"));
    }

    public void Log(string text) => Logger.LogInformation("[{Type}:{Name}] {Text}", NodeType, NodeName ?? NodeId, text);

    public void PublishDebug(DebugEntry entry) => _runtime.Events.Publish("debug", DebugPayload(entry.Topic, entry.Property, entry.Value, entry.Level));

    Dictionary<string, object?> DebugPayload(string? topic, string property, object? value, string level) => new()
    {
        ["id"] = NodeId,
        ["z"] = FlowId,
        ["name"] = NodeName,
        ["topic"] = topic,
        ["property"] = property,
        ["level"] = level,
        ["msg"] = value is string s ? s : MessageJson.Serialize(value),
        ["format"] = DebugFormat(value),
        ["timestamp"] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
    };

    // The type label Node-RED's debug messages carry (its sidebar shows it): Object, array[n], string[n], buffer[n], …
    static string DebugFormat(object? value) => value switch
    {
        string text => $"string[{text.Length}]",
        byte[] bytes => $"buffer[{bytes.Length}]",
        List<object?> list => $"array[{list.Count}]",
        Dictionary<string, object?> => "Object",
        _ => MessageValue.TypeName(value),
    };

    public T GetConfigNode<T>(string id) where T : FlowNode => _runtime.GetConfigNode<T>(id, this);

    public T? FindNode<T>(string id) where T : FlowNode => _runtime.Find(id)?.Node as T;

    public string? GetEnv(string name) => GetEnvValue(name) is { } value ? MessageValue.ToText(value) : null;

    public object? GetEnvValue(string name) => name switch
    {
        "NR_NODE_ID" => NodeId,
        "NR_NODE_NAME" => NodeName,
        "NR_FLOW_ID" => FlowId,
        "NR_FLOW_NAME" => _runtime.TabOf(FlowId)?.Label,
        _ => _runtime.TabOf(FlowId)?.Env is { } env && env.TryGetValue(name, out var value) ? value : Environment.GetEnvironmentVariable(name),
    };

    /// <summary>
    /// Stops the node: signals <see cref="Stopping"/>, lets the inbox drain until
    /// <paramref name="deadlineUtc"/>, then calls the node's StopAsync. Past the deadline the
    /// message in hand is cancelled and what is still queued is dropped; both are counted. Whatever
    /// the node does, this returns by <paramref name="graceEndUtc"/> (a node still stopping then
    /// is left to finish on its own).
    /// </summary>
    internal async Task StopAsync(DateTime deadlineUtc, DateTime graceEndUtc)
    {
        _stopping.Cancel();
        _inbox?.Writer.TryComplete();
        if (_inbox is not null && !await DrainedAsync(deadlineUtc).ConfigureAwait(false))
        {
            _abort.Cancel();
            await DrainedAsync(graceEndUtc).ConfigureAwait(false);
            var left = _inbox.Reader.Count;
            while (_inbox.Reader.TryRead(out _)) { }
            if (left > 0)
            {
                Interlocked.Add(ref _dropped, left);
                Logger.LogWarning("{Type} {Id}: {Count} queued messages were dropped at the stop deadline", NodeType, NodeId, left);
            }
        }
        _stopped = true;
        var budget = graceEndUtc - DateTime.UtcNow;
        if (budget < TimeSpan.Zero) budget = TimeSpan.Zero;
        using var cancel = new CancellationTokenSource(budget);
        try
        {
            await Node.StopAsync(cancel.Token).WaitAsync(budget).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Logger.LogWarning("{Type} {Id} did not stop by the stop deadline and is left to finish on its own", NodeType, NodeId);
        }
        catch (Exception e)
        {
            Logger.LogWarning(e, "{Type} {Id} did not stop cleanly", NodeType, NodeId);
        }
        _abort.Cancel();
        if (Status != NodeStatus.Clear) _runtime.Events.ForgetStatus(NodeId);
    }

    /// <summary>Waits until the inbox is empty and no drain runs, or the deadline passes (false then).</summary>
    async Task<bool> DrainedAsync(DateTime deadlineUtc)
    {
        // Most nodes are idle when they stop; the rest are polled (stops are rare, drains short).
        if (_started && Volatile.Read(ref _draining) == 0 && _inbox!.Reader.Count > 0) await ScheduleDrainAsync().ConfigureAwait(false);
        while (Volatile.Read(ref _draining) != 0 || (_started && _inbox!.Reader.Count > 0 && !_abort.IsCancellationRequested))
        {
            if (DateTime.UtcNow >= deadlineUtc) return false;
            await Task.Delay(2).ConfigureAwait(false);
        }
        return true;
    }
}

