using System.Diagnostics;
using Jint;

namespace FlowServer.Nodes.Function;

/// <summary>
/// Watches one run of a function's script from inside the engine (Jint checks it before every
/// statement): it ends the run at its time limit, and it gives the thread pool a thread in place of
/// the one a long run holds.
/// </summary>
/// <remarks>
/// A script runs synchronously on whatever thread delivered its message, usually a pool thread.
/// The pool cannot tell a busy script from a stuck one, and while the CPU is saturated (as it is
/// while scripts loop) it hardly adds threads of its own (16 looping scripts here ran two at a time,
/// 18.6 s for a 2 s limit), so on a 2-core server two runaway
/// scripts would hold up every queued piece of work (other flows, timers, MQTT, HTTP) for as long
/// as they run. A run past <see cref="LongRun"/> therefore raises the pool's minimum to one more
/// thread than it has, which makes it start a thread at once for the work that waits; when the
/// last long run in the process ends, the minimum goes back to what it was.
/// The limit is kept by comparing clock readings rather than by a timer (as Jint's own
/// TimeoutInterval does): a timer's callback needs a free pool thread, which is exactly what a
/// runaway script may have taken, so the limit would stretch; and no timer is made per message.
/// </remarks>
sealed class ScriptRunGuard(TimeSpan limit) : Constraint
{
    /// <summary>How long a run may hold its thread before the pool gets one more.</summary>
    public static readonly TimeSpan LongRun = TimeSpan.FromMilliseconds(50);

    // Long runs going on in the process, and the pool's minimum before the first of them.
    static readonly Lock s_poolGate = new();
    static int s_longRuns;
    static int s_minimumBefore;

    readonly long _limitTicks = (long)(limit.TotalSeconds * Stopwatch.Frequency);
    readonly long _quietTicks = (long)(Math.Min(limit.TotalSeconds, LongRun.TotalSeconds) * Stopwatch.Frequency);
    long _started;
    int _statements;
    bool _lentThread;

    // The clock is read every this many statements: a typical script runs a handful per message.
    const int StatementsPerClockReading = 16;

    public override void Reset()
    {
        EndRun();
        _started = Stopwatch.GetTimestamp();
        _statements = 0;
    }

    public override void Check()
    {
        if (++_statements < StatementsPerClockReading) return;
        _statements = 0;
        var elapsed = Stopwatch.GetTimestamp() - _started;
        if (elapsed < _quietTicks) return;
        if (elapsed >= _limitTicks) throw new TimeoutException();
        if (!_lentThread) LendPoolThread();
    }

    void LendPoolThread()
    {
        _lentThread = true;
        lock (s_poolGate)
        {
            ThreadPool.GetMinThreads(out var workers, out var io);
            if (s_longRuns++ == 0) s_minimumBefore = workers;
            // One more than the pool has: its own goal may already be above its minimum (threads
            // blocked elsewhere count against it), so raising the minimum by one could change nothing.
            ThreadPool.SetMinThreads(Math.Max(workers, ThreadPool.ThreadCount + 1), io);
        }
    }

    /// <summary>Called when the engine call returns (or throws): gives back the thread lent for a long run.</summary>
    public void EndRun()
    {
        if (!_lentThread) return;
        _lentThread = false;
        lock (s_poolGate)
        {
            if (--s_longRuns > 0) return;
            ThreadPool.GetMinThreads(out _, out var io);
            ThreadPool.SetMinThreads(s_minimumBefore, io); // the last long run ended: back to what it was
        }
    }
}
