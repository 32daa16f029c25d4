using System.Collections.Concurrent;
using System.Threading.Channels;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Runtime;

/// <summary>One event for live observers (the editor, the /comms socket): Node-RED's topic + data.</summary>
public sealed record RuntimeEvent(string Topic, object Data);

/// <summary>
/// Fan-out of live events (debug messages, node status, deploy notifications) to any number
/// of subscribers. A slow subscriber never slows the runtime: each has a bounded buffer that
/// drops its oldest events, and the drops are counted.
/// </summary>
public sealed class RuntimeEvents
{
    readonly ConcurrentDictionary<Subscription, byte> _subscribers = new();
    readonly ConcurrentDictionary<string, NodeStatus> _statuses = new();

    /// <summary>The last status of every node that has one.</summary>
    public IReadOnlyDictionary<string, NodeStatus> Statuses => _statuses;

    /// <summary>Events dropped because a subscriber fell behind.</summary>
    public long DroppedEvents => Interlocked.Read(ref _dropped);
    long _dropped;

    public Subscription Subscribe(int capacity = 1000)
    {
        var subscription = new Subscription(this, capacity);
        _subscribers[subscription] = 0;
        return subscription;
    }

    public void Publish(string topic, object data)
    {
        if (_subscribers.IsEmpty) return;
        var item = new RuntimeEvent(topic, data);
        foreach (var subscriber in _subscribers.Keys) subscriber.Offer(item);
    }

    public void PublishStatus(string nodeId, NodeStatus status)
    {
        if (status == NodeStatus.Clear) _statuses.TryRemove(nodeId, out _);
        else _statuses[nodeId] = status;
        Publish("status/" + nodeId, status);
    }

    public void ForgetStatus(string nodeId) => _statuses.TryRemove(nodeId, out _);

    public sealed class Subscription : IDisposable
    {
        readonly RuntimeEvents _owner;
        readonly Channel<RuntimeEvent> _channel;

        internal Subscription(RuntimeEvents owner, int capacity)
        {
            _owner = owner;
            _channel = Channel.CreateBounded<RuntimeEvent>(
                new BoundedChannelOptions(capacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true },
                _ => Interlocked.Increment(ref owner._dropped));
        }

        public ChannelReader<RuntimeEvent> Reader => _channel.Reader;

        internal void Offer(RuntimeEvent item) => _channel.Writer.TryWrite(item);

        public void Dispose()
        {
            _owner._subscribers.TryRemove(this, out _);
            _channel.Writer.TryComplete();
        }
    }
}
