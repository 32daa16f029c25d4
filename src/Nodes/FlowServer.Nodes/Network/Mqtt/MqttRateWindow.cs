using System.Diagnostics;

namespace FlowServer.Nodes.Network.Mqtt;

/// <summary>
/// Measures how fast something arrives (bytes read, messages handed on) over windows of at least
/// 5 ms, so that a connection can tell whether it is busy. Used by one thread at a time (its owner
/// serialises the calls).
/// </summary>
internal struct MqttRateWindow()
{
    static readonly long Window = Stopwatch.Frequency / 200; // 5 ms

    long _start = Stopwatch.GetTimestamp();
    long _count;

    /// <summary>
    /// Counts <paramref name="count"/> more at <paramref name="timestamp"/> (<see cref="Stopwatch.GetTimestamp"/>).
    /// When that closes a window, returns true with the window's rate per second, and a new window starts.
    /// </summary>
    public bool Add(long count, long timestamp, out long perSecond)
    {
        _count += count;
        var elapsed = timestamp - _start;
        if (elapsed < Window)
        {
            perSecond = 0;
            return false;
        }
        perSecond = _count * Stopwatch.Frequency / elapsed;
        _start = timestamp;
        _count = 0;
        return true;
    }
}
