using System.Diagnostics;
using System.Globalization;
using System.Text;
using FlowServer.Testing.Fixtures;

namespace FlowServer.Testing;

/// <summary>
/// FlowServer as a separate operating-system process (the built <c>FlowServer.dll</c> next to the
/// tests), on a free loopback port, without the built-in broker or the example flow. Unlike
/// <see cref="FlowServerInstance"/> it can be killed (SIGKILL), as a crash or the OOM killer would.
/// </summary>
public sealed class FlowServerProcess(string dataDirectory) : IAsyncDisposable
{
    readonly StringBuilder _output = new();
    Process? _process;

    public string DataDirectory { get; } = dataDirectory;
    public HttpClient Http { get; private set; } = new();

    /// <summary>Starts the server (importing <paramref name="flowsFile"/> when given) and waits until /healthz answers.</summary>
    public async Task StartAsync(string? flowsFile = null)
    {
        if (_process is not null) throw new InvalidOperationException("already running");
        var port = FreePort.Next();
        var info = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            WorkingDirectory = AppContext.BaseDirectory,
        };
        foreach (var argument in new[] { Path.Combine(AppContext.BaseDirectory, "FlowServer.dll"), "--port", port.ToString(CultureInfo.InvariantCulture),
                     "--data-dir", DataDirectory, "--no-broker", "--no-example" })
            info.ArgumentList.Add(argument);
        if (flowsFile is not null) { info.ArgumentList.Add("--flows"); info.ArgumentList.Add(flowsFile); }
        _process = PeerProcess.Start(info, _output);
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(30) };

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (true)
        {
            if (_process.HasExited) throw new InvalidOperationException($"FlowServer exited with code {_process.ExitCode}:\n{Output}");
            try
            {
                if ((await Http.GetAsync("/healthz")).IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"FlowServer did not answer /healthz within 90 s:\n{Output}");
            await Task.Delay(100);
        }
    }

    /// <summary>Kills the process outright (SIGKILL): no shutdown, no draining, no flushing.</summary>
    public void Kill()
    {
        if (_process is null) return;
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
        _process.Dispose();
        _process = null;
        Http.Dispose();
    }

    /// <summary>The value of a node's metric on /metrics (<c>flowserver_{name}{node="id",…}</c>), or null when absent.</summary>
    public async Task<double?> MetricAsync(string name, string nodeId)
    {
        var prefix = $"flowserver_{name}{{node=\"{nodeId}\"";
        var line = (await Http.GetStringAsync("/metrics")).Split('\n').FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal));
        return line is null ? null : double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
    }

    /// <summary>What the process wrote to stdout and stderr so far.</summary>
    public string Output { get { lock (_output) return _output.ToString(); } }

    public ValueTask DisposeAsync()
    {
        Kill();
        return ValueTask.CompletedTask;
    }
}
