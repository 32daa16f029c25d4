using System.Diagnostics;
using System.Text;

namespace FlowServer.Testing.Fixtures;

/// <summary>
/// A real Mosquitto broker on a free loopback port with its own config directory. It can be
/// stopped and started again on the same port (for reconnect tests). Fails, never skips, when
/// Mosquitto is not installed.
/// </summary>
public sealed class MosquittoFixture : IAsyncDisposable
{
    const string Executable = "/usr/sbin/mosquitto";

    readonly TempDirectory _directory = new("flowserver-mosquitto");
    readonly StringBuilder _output = new();
    Process? _process;

    MosquittoFixture(int port, string extraConfig)
    {
        Port = port;
        ConfigPath = System.IO.Path.Combine(_directory.Path, "mosquitto.conf");
        // Unlimited queues: a test must see the flow's backpressure, not Mosquitto's default limit of 1000 queued messages.
        // TCP_NODELAY: without it Nagle and delayed ACKs hold QoS 1 near 1,000 msg/s on loopback.
        var config = $"""
            listener {port} 127.0.0.1
            allow_anonymous true
            persistence false
            max_queued_messages 0
            max_inflight_messages 20
            set_tcp_nodelay true
            log_dest stdout
            log_type error
            log_type warning
            {(Environment.UserName == "root" ? "user root" : "")}
            {extraConfig}
            """;
        File.WriteAllText(ConfigPath, config);
    }

    public int Port { get; }
    public string Host => "127.0.0.1";
    public string ConfigPath { get; }
    /// <summary>What Mosquitto printed so far (errors and warnings), for failure messages.</summary>
    public string Output { get { lock (_output) return _output.ToString(); } }

    /// <summary>
    /// Starts Mosquitto on a free port and waits until it accepts connections.
    /// <paramref name="extraConfig"/> is appended to the config and applies to the listener
    /// (e.g. <c>cafile</c>/<c>certfile</c>/<c>keyfile</c> for TLS).
    /// </summary>
    public static async Task<MosquittoFixture> StartNewAsync(string extraConfig = "")
    {
        if (!File.Exists(Executable))
            throw new InvalidOperationException($"Mosquitto is not installed ({Executable} is missing). Run scripts/test.sh, which installs the test dependencies, or `apt-get install mosquitto`.");
        var fixture = new MosquittoFixture(FreePort.Next(), extraConfig);
        await fixture.StartAsync();
        return fixture;
    }

    /// <summary>Starts (or restarts) the broker on <see cref="Port"/> and waits until it listens.</summary>
    public async Task StartAsync()
    {
        if (_process is { HasExited: false }) return;
        var process = PeerProcess.Start(new ProcessStartInfo(Executable, ["-c", ConfigPath]), _output);
        _process = process;
        await FreePort.WaitListeningAsync(Port, TimeSpan.FromSeconds(10), () =>
            process.HasExited ? $"mosquitto exited with code {process.ExitCode}: {Output}" : $"mosquitto output: {Output}");
    }

    /// <summary>Kills the broker (as a crash would) and waits until it is gone.</summary>
    public async Task StopAsync()
    {
        var process = _process;
        _process = null;
        if (process is null) return;
        if (!process.HasExited) process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();
        process.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _directory.Dispose();
    }
}
