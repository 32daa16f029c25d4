using System.Net.Http.Headers;
using System.Text;
using FlowServer.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;

namespace FlowServer.Testing;

/// <summary>
/// A real FlowServer (Kestrel on a free loopback port, its own data directory) for API tests.
/// Restart it over the same data directory with <see cref="RestartAsync"/>.
/// </summary>
public sealed class FlowServerInstance : IAsyncDisposable
{
    readonly bool _ownsData;
    WebApplication? _app;

    FlowServerInstance(FlowServerOptions options, bool ownsData)
    {
        Options = options;
        _ownsData = ownsData;
    }

    public FlowServerOptions Options { get; }
    public WebApplication App => _app ?? throw new InvalidOperationException("not started");
    public HttpClient Http { get; private set; } = new();
    public Uri BaseAddress { get; private set; } = new("http://127.0.0.1/");
    public IServiceProvider Services => App.Services;

    /// <summary>Starts a server. By default: no built-in broker, no example flow, SQLite in a temp directory.</summary>
    public static async Task<FlowServerInstance> StartAsync(Action<FlowServerOptions>? configure = null)
    {
        var options = new FlowServerOptions
        {
            Port = 0,
            DataDirectory = Path.Combine(Path.GetTempPath(), "flowserver-test-" + Guid.NewGuid().ToString("N")),
            BrokerEnabled = false,
            DeployExampleWhenEmpty = false,
        };
        configure?.Invoke(options);
        var instance = new FlowServerInstance(options, ownsData: true);
        await instance.StartCoreAsync();
        return instance;
    }

    async Task StartCoreAsync()
    {
        var errors = Options.Validate();
        if (errors.Count > 0) throw new InvalidOperationException(string.Join("; ", errors));
        _app = await FlowServerApp.BuildAsync(Options, logging => logging.SetMinimumLevel(LogLevel.Warning));
        await _app.StartAsync();
        BaseAddress = _app.Address();
        Http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
    }

    /// <summary>Stops the server (draining flows) and starts a new one on the same data directory.</summary>
    public async Task RestartAsync()
    {
        await StopAsync();
        await StartCoreAsync();
    }

    async Task StopAsync()
    {
        if (_app is null) return;
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        _app = null;
    }

    /// <summary>POST /flows with a deployment type; returns the response.</summary>
    public Task<HttpResponseMessage> DeployAsync(string flowJson, string type = "full", bool v2 = false)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/flows") { Content = new StringContent(flowJson, Encoding.UTF8, "application/json") };
        request.Headers.Add("Node-RED-Deployment-Type", type);
        if (v2) request.Headers.Add("Node-RED-API-Version", "v2");
        return Http.SendAsync(request);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        if (_ownsData)
        {
            try { Directory.Delete(Options.DataDirectory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    public static MediaTypeHeaderValue Json => new("application/json");
}
