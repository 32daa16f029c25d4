using System.Diagnostics;

namespace FlowServer.Nodes.Network.Mqtt;

/// <summary>
/// Holds back the sends of what a flow publishes while its connection hands it a burst of
/// received messages, and sends it all when the burst ends. One per broker connection.
/// <para>
/// Why: a write to a broker connection is sent by a flush queued on the thread pool
/// (<see cref="MqttBatchingChannel"/>), and queuing it wakes another pool thread, which then
/// sends a part of the burst's output while the delivering thread goes on with the rest. At
/// maximum rate that was one wake-up and one send for every few messages, and thread wake-ups
/// are most of the kernel's share of the engine's CPU (bench/README.md, 2026-12-07 night). Here
/// what the flow writes while a message is handed to it, on the delivering thread, is sent by
/// that thread at the end of the message, or, while the connection is busy, once no received
/// message waits any more.
/// </para>
/// <para>
/// Nothing waits for long: below <see cref="BusyMessagesPerSecond"/> a message's writes leave when
/// it has been handed on (held across a burst, the first messages of a burst of four would wait
/// for the other three to be handled). While busy they leave when no received message waits, after
/// <see cref="MaxDeliveries"/> messages in a row (a flow that never catches up with its broker
/// still sends every few milliseconds), and in any case at once when a message's handling waits
/// for something (a full inbox, a QoS 1 publish without room in its window: what it wrote may be
/// what it waits for) and when the connection ends.
/// </para>
/// </summary>
public sealed class MqttDeliveryBurst
{
    /// <summary>Held writes are sent after at most this many messages handed on in a row.</summary>
    public const int MaxDeliveries = 64;

    /// <summary>
    /// From this many messages a second a connection is busy and its writes are held across the
    /// messages waiting to be handed on (its reads are paced from about the same rate,
    /// <see cref="MqttReadPacer.BusyBytesPerSecond"/>).
    /// </summary>
    public const int BusyMessagesPerSecond = 5_000;

    // The burst whose message this thread is handing to the flow, while it does so synchronously.
    [ThreadStatic] static MqttDeliveryBurst? t_delivering;

    readonly Lock _lock = new();
    readonly List<MqttBatchingChannel> _held = [];
    int _deliveries;
    MqttRateWindow _rate = new(); // of messages handed on, under _lock
    bool _busy;

    /// <summary>
    /// Marks this thread as handing one received message to the flow until the scope is disposed:
    /// writes it makes meanwhile to any broker connection are held (<see cref="TryHold"/>).
    /// </summary>
    public Scope Deliver()
    {
        var outer = t_delivering;
        t_delivering = this;
        return new Scope(outer);
    }

    /// <summary>
    /// Restores the thread's previous state (a delivery inside a delivery is not expected, but is
    /// kept apart). A ref struct: it cannot be held across an await, after which the code may go on
    /// on another thread and leave this one marked.
    /// </summary>
    public readonly ref struct Scope(MqttDeliveryBurst? outer)
    {
        public void Dispose() => t_delivering = outer;
    }

    /// <summary>
    /// Called by a channel that has pending bytes and no flush under way: true when the writing
    /// thread is delivering a burst, which then sends them later (<see cref="Send"/>).
    /// </summary>
    internal static bool TryHold(MqttBatchingChannel channel)
    {
        var burst = t_delivering;
        if (burst is null) return false;
        lock (burst._lock)
        {
            if (!burst._held.Contains(channel)) burst._held.Add(channel);
        }
        return true;
    }

    /// <summary>Whether writes are held for a later send.</summary>
    public bool Holding
    {
        get { lock (_lock) return _held.Count > 0; }
    }

    /// <summary>Whether messages have lately been handed on at <see cref="BusyMessagesPerSecond"/> or more.</summary>
    public bool Busy
    {
        get { lock (_lock) return _busy; }
    }

    /// <summary>
    /// One message has been handed on. Sends what is held unless the connection is busy and more
    /// received messages wait to be handed on right after it (and fewer than
    /// <see cref="MaxDeliveries"/> went by).
    /// </summary>
    public void Delivered(bool moreWaiting) => Delivered(moreWaiting, Stopwatch.GetTimestamp());

    /// <summary><see cref="Delivered(bool)"/> at <paramref name="timestamp"/> (<see cref="Stopwatch.GetTimestamp"/>).</summary>
    public void Delivered(bool moreWaiting, long timestamp)
    {
        lock (_lock)
        {
            if (_rate.Add(1, timestamp, out var perSecond)) _busy = perSecond >= BusyMessagesPerSecond;
            if (_held.Count == 0) return;
            if (moreWaiting && _busy && ++_deliveries < MaxDeliveries) return;
        }
        Send();
    }

    /// <summary>Sends everything held now, on this thread.</summary>
    public void Send()
    {
        MqttBatchingChannel[] held;
        lock (_lock)
        {
            if (_held.Count == 0) return;
            held = [.. _held];
            _held.Clear();
            _deliveries = 0;
        }
        foreach (var channel in held) channel.FlushHeld();
    }
}
