using System.Diagnostics;
using System.Runtime.InteropServices;

namespace FlowServer.Nodes.Network.Mqtt;

/// <summary>
/// Lets a busy connection's messages gather in the socket before the next read, as a network card
/// coalesces its interrupts. When a flow keeps up with a broker that sends tens of thousands of
/// messages a second, each read finds one or two of them, and every read costs a system call, a
/// wake-up of MQTTnet's delivery loop and a send of its own for what the flow publishes. So while
/// the connection receives more than <see cref="BusyBytesPerSecond"/>, a read that brought less
/// than <see cref="ShortReadBytes"/> is followed by a pause (<see cref="Pause"/>, 500 µs unless
/// <c>FLOWSERVER_MQTT_READ_PAUSE_US</c> says otherwise; 0 turns pacing off) before the next one.
/// A message then waits at most that long in the socket. At a few thousand small messages a second
/// or less the connection is not busy and nothing waits; a flow that falls behind finds full reads
/// and is not paused either (bench/README.md, 2026-12-07 evening: at maximum rate, 3 alternating
/// pairs each, switch → change 15.7–23.7 → 7.0–8.0 µs of CPU per message, function 17.2–24.8 →
/// 11.7–12.5).
/// </summary>
public sealed class MqttReadPacer(TimeSpan pause)
{
    /// <summary>
    /// Above this many bytes a second (~5,000 messages of 100 bytes, two or more per pause) a
    /// connection counts as busy. At 2 MB/s, the first setting, the bench's 35,000–45,000 messages
    /// a second of ~70 bytes sat near the line and went in and out of pacing: two thirds of the
    /// reads were not paced (0.09–0.14 reads per message against 0.03–0.04 now).
    /// </summary>
    public const long BusyBytesPerSecond = 500_000;

    /// <summary>A read that brought less than this was short: the next one is paused while busy.</summary>
    public const int ShortReadBytes = 8 * 1024;

    /// <summary>The pause of every connection's pacer, from FLOWSERVER_MQTT_READ_PAUSE_US (µs).</summary>
    public static TimeSpan DefaultPause { get; } = ReadPause(Environment.GetEnvironmentVariable("FLOWSERVER_MQTT_READ_PAUSE_US"));

    MqttRateWindow _rate = new();
    bool _busy;
    bool _lastShort;

    public TimeSpan Pause => pause;

    /// <summary>A pacer for a new connection, or null when pacing is off (or the platform cannot pause for microseconds).</summary>
    public static MqttReadPacer? ForNewConnection() =>
        DefaultPause > TimeSpan.Zero && OperatingSystem.IsLinux() ? new MqttReadPacer(DefaultPause) : null;

    /// <summary>Parses the setting: whole microseconds, 0 to 100,000; anything else is refused with the variable named.</summary>
    public static TimeSpan ReadPause(string? microseconds)
    {
        if (string.IsNullOrWhiteSpace(microseconds)) return TimeSpan.FromMicroseconds(500);
        if (!int.TryParse(microseconds, out var us) || us is < 0 or > 100_000)
            throw new ArgumentException($"FLOWSERVER_MQTT_READ_PAUSE_US must be a whole number of microseconds from 0 to 100000, got '{microseconds}'");
        return TimeSpan.FromMicroseconds(us);
    }

    /// <summary>Notes a read of <paramref name="bytes"/> that ended at <paramref name="timestamp"/> (<see cref="Stopwatch.GetTimestamp"/>).</summary>
    public void Read(int bytes, long timestamp)
    {
        _lastShort = bytes < ShortReadBytes;
        if (_rate.Add(bytes, timestamp, out var bytesPerSecond)) _busy = bytesPerSecond > BusyBytesPerSecond;
    }

    /// <summary>Whether the next read should wait <see cref="Pause"/> first.</summary>
    public bool ShouldPause => _busy && _lastShort;

    /// <summary>Waits <see cref="Pause"/> if <see cref="ShouldPause"/>; called by the reader thread before it reads.</summary>
    public void PauseIfBusy()
    {
        if (ShouldPause) usleep((uint)pause.TotalMicroseconds);
    }

    // Thread.Sleep counts in whole milliseconds; the pause is a fraction of one.
    [DllImport("libc", SetLastError = false)]
    static extern int usleep(uint microseconds);
}
