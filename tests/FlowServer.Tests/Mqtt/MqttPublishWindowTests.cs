using FlowServer.Nodes.Network.Mqtt;
using Xunit;

namespace FlowServer.Tests.Mqtt;

public sealed class MqttPublishWindowTests
{
    [Fact]
    public async Task Slots_are_taken_without_waiting_until_the_window_is_full()
    {
        var window = new MqttPublishWindow(2);
        Assert.True(window.WaitAsync(CancellationToken.None).IsCompletedSuccessfully);
        Assert.True(window.WaitAsync(CancellationToken.None).IsCompletedSuccessfully);
        var third = window.WaitAsync(CancellationToken.None);
        Assert.False(third.IsCompleted);

        window.Release();
        Assert.True(third.IsCompletedSuccessfully);
        await third;
    }

    [Fact]
    public Task A_waiter_goes_on_on_the_releasing_thread_and_waiters_go_in_the_order_they_came() => Task.Run(() =>
    {
        var window = new MqttPublishWindow(1);
        Assert.True(window.WaitAsync(CancellationToken.None).IsCompletedSuccessfully);
        var order = new List<(int Writer, int Thread)>();
        var writers = Enumerable.Range(0, 5).Select(async i =>
        {
            await window.WaitAsync(CancellationToken.None);
            order.Add((i, Environment.CurrentManagedThreadId));
        }).ToList();

        var releasing = Environment.CurrentManagedThreadId;
        for (var i = 0; i < 5; i++) window.Release();

        Assert.Equal([0, 1, 2, 3, 4], order.Select(o => o.Writer));
        Assert.All(order, o => Assert.Equal(releasing, o.Thread));
        Assert.All(writers, w => Assert.True(w.IsCompletedSuccessfully));
    });

    [Fact]
    public Task Acknowledgements_on_many_threads_at_once_still_hand_out_slots_in_order() => Task.Run(async () =>
    {
        // On the pool, as in the server: under xunit's synchronization context the writers'
        // continuations would be posted to it instead of running on the releasing thread.
        const int writers = 2000;
        var window = new MqttPublishWindow(1);
        await window.WaitAsync(CancellationToken.None);
        var written = new List<int>();
        var tasks = Enumerable.Range(0, writers).Select(async n =>
        {
            await window.WaitAsync(CancellationToken.None);
            lock (written) written.Add(n); // the "publish", made before the writer lets go of the thread
        }).ToList();

        // Every acknowledgement on a pool thread of its own, many at the same moment.
        await Task.WhenAll(Enumerable.Range(0, writers).Select(_ => Task.Run(() => window.Release())));
        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(Enumerable.Range(0, writers), written);
    });

    [Fact]
    public async Task A_cancelled_waiter_passes_its_turn_to_the_next()
    {
        var window = new MqttPublishWindow(1);
        await window.WaitAsync(CancellationToken.None);
        using var cancel = new CancellationTokenSource();
        var cancelled = window.WaitAsync(cancel.Token).AsTask();
        var next = window.WaitAsync(CancellationToken.None).AsTask();
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);

        window.Release();
        Assert.True(next.IsCompletedSuccessfully);
        // The slot went to `next`: a third writer waits.
        Assert.False(window.WaitAsync(CancellationToken.None).IsCompleted);
    }

    [Fact]
    public async Task Shrinking_keeps_taken_slots_taken_and_growing_wakes_waiters()
    {
        var window = new MqttPublishWindow(4);
        for (var i = 0; i < 3; i++) await window.WaitAsync(CancellationToken.None);

        window.Resize(2); // 3 taken, 2 allowed: a writer waits until two have been freed
        var waiting = window.WaitAsync(CancellationToken.None).AsTask();
        window.Release();
        Assert.False(waiting.IsCompleted);
        window.Release();
        Assert.True(waiting.IsCompletedSuccessfully);

        var another = window.WaitAsync(CancellationToken.None).AsTask();
        Assert.False(another.IsCompleted);
        window.Resize(3);
        Assert.True(another.IsCompletedSuccessfully);
    }
}
