namespace FlowServer.Runtime;

/// <summary>
/// A full, compacting collection once deploys have settled, which also gives the freed memory
/// back to the system. A deploy replaces nodes that have lived long enough to sit in the GC's
/// oldest generation and leaves the garbage of its own parse, compile and store; an engine that
/// is then idle, or runs at plant-floor rates, may not collect that generation for hours, so the
/// replaced flows and the deploy's peak stayed in its memory (bench/README.md, 2026-12-03: RSS
/// with the 1000-node flow 157-160 → 147 MiB). It pauses the flows for a few tens of ms, once
/// per burst of deploys.
/// </summary>
sealed class MemoryCompaction : IDisposable
{
    readonly TimeSpan _delay;
    readonly Timer _timer;
    long _runs;

    public MemoryCompaction(TimeSpan delay)
    {
        _delay = delay;
        _timer = new Timer(static state => ((MemoryCompaction)state!).Run(), this, Timeout.Infinite, Timeout.Infinite);
    }

    /// <summary>Collections run so far.</summary>
    public long Runs => Interlocked.Read(ref _runs);

    /// <summary>(Re)starts the wait: the collection runs once no deploy came for the delay.</summary>
    public void AfterDeploy() => _timer.Change(_delay, Timeout.InfiniteTimeSpan);

    void Run()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        Interlocked.Increment(ref _runs);
    }

    public void Dispose() => _timer.Dispose();
}
