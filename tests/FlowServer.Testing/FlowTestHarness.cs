using System.Text.Json.Nodes;
using FlowServer.Nodes.Sdk;
using FlowServer.Runtime;
using FlowServer.Testing.Fixtures;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FlowServer.Testing;

/// <summary>
/// Runs a flow snippet (production flow JSON) in the real runtime, without HTTP or storage.
/// Feed it with <see cref="SendAsync"/> or <see cref="TriggerAsync"/>, read results from
/// <c>test-capture</c> nodes, and call <see cref="AssertNoErrors"/> to fail on any node error
/// the test did not expect.
/// </summary>
public sealed class FlowTestHarness : IAsyncDisposable
{
    static readonly NodeCatalog SharedCatalog = new([typeof(FlowServer.Nodes.NodesAssembly).Assembly, typeof(CaptureNode).Assembly]);

    readonly RuntimeEvents.Subscription _events;
    readonly List<string> _errors = [];
    readonly Task _collector;
    readonly TempDirectory? _dataDirectory;

    FlowTestHarness(FlowRuntime runtime, FlowCompiler compiler, TempDirectory? dataDirectory)
    {
        _dataDirectory = dataDirectory;
        Runtime = runtime;
        Compiler = compiler;
        _events = runtime.Events.Subscribe(100_000);
        _collector = Task.Run(async () =>
        {
            await foreach (var e in _events.Reader.ReadAllAsync())
            {
                if (e.Topic == "debug" && e.Data is Dictionary<string, object?> d && d.GetValueOrDefault("level") as string == "error")
                    lock (_errors) _errors.Add($"{d.GetValueOrDefault("id")}: {d.GetValueOrDefault("msg")}");
                Events.Add(e);
            }
        });
    }

    public static NodeCatalog Catalog => SharedCatalog;

    public FlowRuntime Runtime { get; }
    public FlowCompiler Compiler { get; }
    /// <summary>The runtime's data directory (what nodes see as <c>Context.DataDirectory</c>).</summary>
    public string DataDirectory => Path.GetFullPath(Runtime.Options.DataDirectory);
    /// <summary>Every runtime event seen (debug, status, deploy notifications).</summary>
    public System.Collections.Concurrent.ConcurrentBag<RuntimeEvent> Events { get; } = [];

    /// <summary>Errors raised by nodes so far (node id: text).</summary>
    public IReadOnlyList<string> Errors { get { lock (_errors) return _errors.ToList(); } }

    /// <summary>
    /// Starts a runtime and deploys <paramref name="flowJson"/>. Unless <paramref name="options"/> names
    /// a data directory of its own, the runtime gets a fresh temp one, deleted on dispose.
    /// </summary>
    public static async Task<FlowTestHarness> StartAsync(string flowJson, RuntimeOptions? options = null, ILoggerFactory? loggers = null)
    {
        options ??= new RuntimeOptions();
        var dataDirectory = options.DataDirectory == new RuntimeOptions().DataDirectory ? new TempDirectory("flowserver-data") : null;
        if (dataDirectory is not null) options.DataDirectory = dataDirectory.Path;
        var runtime = new FlowRuntime(options, new RuntimeEvents(), loggers ?? NullLoggerFactory.Instance);
        var harness = new FlowTestHarness(runtime, new FlowCompiler(SharedCatalog), dataDirectory);
        await harness.DeployAsync(flowJson);
        return harness;
    }

    /// <summary>Compiles and deploys a flow; throws <see cref="FlowDocumentException"/> when it is invalid.</summary>
    public Task<DeployReport> DeployAsync(string flowJson, DeploymentType type = DeploymentType.Full)
    {
        var document = FlowDocument.Parse(flowJson, out var credentials, out _);
        var plan = Compiler.Compile(document, credentials);
        return Runtime.DeployAsync(plan, type);
    }

    /// <summary>Compiles without deploying; returns the errors (empty when valid).</summary>
    public static IReadOnlyList<FlowError> Validate(string flowJson)
    {
        try
        {
            var document = FlowDocument.Parse(flowJson, out var credentials, out _);
            new FlowCompiler(SharedCatalog).Compile(document, credentials);
            return [];
        }
        catch (FlowDocumentException e) { return e.Errors; }
    }

    /// <summary>Delivers a message into a node's inbox, as a wire would.</summary>
    public ValueTask SendAsync(string nodeId, FlowMessage message) => Runtime.DeliverAsync(nodeId, message);

    /// <summary>Delivers a message with the given payload (and topic).</summary>
    public ValueTask SendAsync(string nodeId, object? payload, string? topic = null) => SendAsync(nodeId, FlowMessage.WithPayload(payload, topic));

    /// <summary>Presses an inject node's button.</summary>
    public Task TriggerAsync(string nodeId) =>
        ((IInjectable)(Runtime.Find(nodeId) ?? throw new KeyNotFoundException(nodeId)).Node).InjectAsync(CancellationToken.None);

    public CaptureNode Capture(string nodeId) =>
        Runtime.Find(nodeId)?.Node as CaptureNode ?? throw new KeyNotFoundException($"capture node '{nodeId}' is not running");

    public Task<FlowMessage> NextAsync(string captureId, TimeSpan? timeout = null) => Capture(captureId).NextAsync(timeout);

    /// <summary>Fails when any node raised an error.</summary>
    public void AssertNoErrors()
    {
        var errors = Errors;
        if (errors.Count > 0) throw new Xunit.Sdk.XunitException("Unexpected node errors:\n" + string.Join("\n", errors));
    }

    /// <summary>Waits until a node error containing <paramref name="fragment"/> shows up.</summary>
    public async Task<string> WaitForErrorAsync(string fragment, TimeSpan? timeout = null)
    {
        var until = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(5));
        while (DateTime.UtcNow < until)
        {
            var hit = Errors.FirstOrDefault(e => e.Contains(fragment, StringComparison.Ordinal));
            if (hit is not null) return hit;
            await Task.Delay(20);
        }
        throw new TimeoutException($"no error containing '{fragment}'; errors: {string.Join(" | ", Errors)}");
    }

    /// <summary>Clears recorded errors (after a test provoked some on purpose).</summary>
    public void ClearErrors() { lock (_errors) _errors.Clear(); }

    public async ValueTask DisposeAsync()
    {
        await Runtime.StopAsync();
        _events.Dispose();
        await _collector;
        _dataDirectory?.Dispose();
    }

    /// <summary>Builds a one-tab flow JSON from node objects (adds <c>z</c> and the tab).</summary>
    public static string Flow(params object[] nodes)
    {
        var array = new JsonArray { new JsonObject { ["id"] = "tab1", ["type"] = "tab", ["label"] = "Test" } };
        foreach (var node in nodes)
        {
            var obj = node as JsonObject ?? JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(node))!.AsObject();
            if (!obj.ContainsKey("z") && !IsConfig(obj)) obj["z"] = "tab1";
            array.Add(obj);
        }
        return array.ToJsonString();
    }

    static bool IsConfig(JsonObject node) =>
        node["type"]?.GetValue<string>() is { } type && SharedCatalog.TryGet(type, out var info) && info.IsConfig;
}
