namespace FlowServer.Nodes.Network.Mqtt;

/// <summary>
/// Slots for QoS 1/2 publishes awaiting their acknowledgement: mqtt out's in-flight window, and
/// the broker node's Receive Maximum and one-at-a-time QoS 2 (<see cref="MqttBrokerConfigNode"/>).
/// Unlike <see cref="SemaphoreSlim"/>, a writer waiting for a slot goes on on the thread that frees
/// it, the one that has just handled the broker's PUBACK: a full window then costs no thread-pool
/// hand-over per message (SemaphoreSlim queues each waiter's continuation to the pool, and its
/// cancellable wait one more). Waiters are served in the order they came.
/// </summary>
public sealed class MqttPublishWindow(int size)
{
    readonly Lock _gate = new();
    readonly Queue<TaskCompletionSource> _waiters = new();
    int _size = size;
    int _free = size;
    int _releasing;     // slots freed and not yet handed out
    bool _handingOut;   // a thread is handing freed slots to waiters

    /// <summary>
    /// Changes the number of slots (an MQTT 5 broker announces its own on every connect). Slots
    /// taken stay taken: with fewer slots than are taken, writers wait until enough are freed.
    /// </summary>
    public void Resize(int newSize)
    {
        int grown;
        lock (_gate)
        {
            grown = newSize - _size;
            _size = newSize;
            if (grown <= 0) _free += grown;
        }
        if (grown > 0) Release(grown);
    }

    /// <summary>Takes a slot, waiting for one when all are taken.</summary>
    public ValueTask WaitAsync(CancellationToken cancellationToken)
    {
        TaskCompletionSource waiter;
        lock (_gate)
        {
            if (_free > 0 && _waiters.Count == 0)
            {
                _free--;
                return ValueTask.CompletedTask;
            }
            cancellationToken.ThrowIfCancellationRequested();
            // No RunContinuationsAsynchronously: Release runs the waiter's continuation inline.
            waiter = new TaskCompletionSource();
            _waiters.Enqueue(waiter);
        }
        return cancellationToken.CanBeCanceled ? WaitCancellableAsync(waiter, cancellationToken) : new ValueTask(waiter.Task);
    }

    static async ValueTask WaitCancellableAsync(TaskCompletionSource waiter, CancellationToken cancellationToken)
    {
        // A cancelled waiter stays queued; Release passes over it (its TrySetResult fails).
        await using (cancellationToken.UnsafeRegister(static w => ((TaskCompletionSource)w!).TrySetCanceled(), waiter))
            await waiter.Task;
    }

    /// <summary>Frees <paramref name="count"/> slots, handing each to the longest waiting writer first.</summary>
    public void Release(int count = 1)
    {
        lock (_gate)
        {
            _releasing += count;
            // Another thread is handing slots out: it hands these out too, after the writer it runs.
            if (_handingOut) return;
            _handingOut = true;
        }
        // One thread at a time runs the waiters' continuations, each until it waits again (for
        // mqtt out: until its publish is written), so writers go on, and write, in the order they came.
        while (true)
        {
            TaskCompletionSource? next;
            lock (_gate)
            {
                // Slots taken beyond a shrunk window are given back first.
                if (_free < 0)
                {
                    var owed = Math.Min(-_free, _releasing);
                    _free += owed;
                    _releasing -= owed;
                }
                if (_releasing == 0 || !_waiters.TryDequeue(out next))
                {
                    _free += _releasing;
                    _releasing = 0;
                    _handingOut = false;
                    return;
                }
                _releasing--;
            }
            // Outside the lock: the waiter's continuation runs here. A waiter cancelled meanwhile
            // refuses the slot, which goes to the next one.
            if (!next.TrySetResult())
                lock (_gate) _releasing++;
        }
    }
}
