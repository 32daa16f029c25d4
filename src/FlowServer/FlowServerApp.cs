using FlowServer.Api;
using FlowServer.Configuration;
using FlowServer.Editor;
using FlowServer.Editor.Services;
using FlowServer.Mqtt;
using FlowServer.Runtime;
using FlowServer.Storage;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace FlowServer;

/// <summary>
/// All of FlowServer's wiring in one place. <c>Program</c> runs it from the command line;
/// tests build it with their own options (port 0, temp data directory) and start it.
/// </summary>
public static class FlowServerApp
{
    /// <summary>The example deployed into an empty store.</summary>
    public const string ExampleFlowFile = "getting-started.json";

    public static Task<WebApplication> BuildAsync(FlowServerOptions options, Action<ILoggingBuilder>? logging = null)
    {
        var catalog = StartupWarmup.StartEarly(); // on the other core while this one builds the host
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ContentRootPath = AppContext.BaseDirectory,
            // Fixed so that the static web assets manifests are found under a test host too.
            ApplicationName = typeof(FlowServerApp).Assembly.GetName().Name,
        });
        builder.WebHost.UseUrls($"http://{options.Bind}:{options.Port}");
        // The editor's scripts and styles come from the packages' static web assets; outside
        // Development they are found only when the manifest is loaded explicitly.
        builder.WebHost.UseStaticWebAssets();
        builder.Logging.AddSimpleConsole(c => { c.SingleLine = true; c.TimestampFormat = "HH:mm:ss "; });
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        logging?.Invoke(builder.Logging);

        var services = builder.Services;
        services.AddSingleton(options);
        // Hosted services start in this order: the broker (the example flow connects to it), then
        // the flows, then the rest (Data Protection's key ring, the web server), so that the
        // flows' first message does not wait for them.
        if (options.BrokerEnabled)
            services.AddBuiltInBroker(new BuiltInBrokerOptions { Enabled = true, Address = options.BrokerBind, Port = options.BrokerPort });
        services.AddHostedService<FlowStartup>();
        services.AddFlowStorage(new StorageOptions { Provider = options.Storage, ConnectionString = options.ConnectionString, DataDirectory = options.DataDirectory });
        services.AddFlowRuntime(new RuntimeOptions
        {
            DefaultQueueCapacity = options.QueueCapacity, RunInline = options.RunInline, DataDirectory = options.DataDirectory,
            CompactMemoryAfterDeploy = TimeSpan.FromSeconds(2),
        }, catalog);
        services.AddRazorComponents().AddInteractiveServerComponents();
        services.AddFlowEditor();
        services.AddSingleton<IEditorBackend, EditorBackend>();

        var app = builder.Build();
        app.UseWebSockets();
        app.MapFlowApi();
        app.MapComms();
        app.UseAntiforgery();
        app.MapStaticAssets();
        app.MapRazorComponents<FlowServer.Editor.App>().AddInteractiveServerRenderMode();
        return Task.FromResult(app);
    }

    /// <summary>Registers the catalog, compiler, runtime and flow service.</summary>
    public static IServiceCollection AddFlowRuntime(this IServiceCollection services, RuntimeOptions options, Task<NodeCatalog>? catalog = null)
    {
        services.AddSingleton(options);
        services.AddSingleton(_ => catalog?.GetAwaiter().GetResult() ?? NodeCatalog.CreateDefault());
        services.AddSingleton<FlowCompiler>();
        services.AddSingleton<RuntimeEvents>();
        services.AddSingleton<FlowRuntime>();
        services.AddSingleton<FlowService>();
        return services;
    }

    /// <summary>The HTTP address the started app listens on (useful with port 0).</summary>
    public static Uri Address(this WebApplication app) =>
        new(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
}

/// <summary>
/// Brings the flows up at start (import file, stored revision, or the example for an empty
/// store) and stops them, draining, at shutdown.
/// </summary>
sealed class FlowStartup(FlowServerOptions options, IFlowStore store, FlowService flows, FlowRuntime runtime, ILogger<FlowStartup> log,
    BuiltInBroker? broker = null) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.FlowsFile is { } file)
        {
            // The file's flows start first and the store opens after, to keep their revision: the
            // cores are busy enough with the JIT at start. A store that cannot be opened is the
            // error to report (the import then failed too, when it came to storing the revision).
            try { await ImportAsync(file, "imported", _ => { }, cancellationToken); }
            catch (Exception e) when (e is not StartupException and not OperationCanceledException)
            {
                await OpenStoreAsync(cancellationToken);
                throw;
            }
            return;
        }
        await OpenStoreAsync(cancellationToken);
        if (await flows.LoadStoredAsync(cancellationToken)) return;
        var example = Path.Combine(AppContext.BaseDirectory, "flows", "examples", FlowServerApp.ExampleFlowFile);
        if (!options.DeployExampleWhenEmpty || !File.Exists(example)) return;
        // The example publishes simulated readings; without our broker it would either fail to
        // connect or publish them into someone else's broker, so it is left out.
        if (broker is null)
        {
            log.LogInformation("The example flow was not deployed: it runs on the built-in MQTT broker, which --no-broker switched off");
            return;
        }
        await ImportAsync(example, "example", document => PointAtBuiltInBroker(document, broker), cancellationToken);
    }

    async Task OpenStoreAsync(CancellationToken cancellationToken)
    {
        try { await store.InitializeAsync(cancellationToken); }
        catch (Exception e) when (e is not OperationCanceledException) { throw new StartupException($"the {options.Storage} store cannot be opened: {e.Message}", e); }
    }

    /// <summary>The example's mqtt-broker nodes name 127.0.0.1:1883; the broker may listen elsewhere (--broker-port, --broker-bind).</summary>
    static void PointAtBuiltInBroker(FlowDocument document, BuiltInBroker broker)
    {
        // A wildcard listens on loopback too.
        var address = broker.Address switch { "0.0.0.0" => "127.0.0.1", "::" => "::1", var bound => bound };
        foreach (var node in document.Nodes.Where(n => FlowDocument.TypeOf(n) == "mqtt-broker"))
        {
            node["port"] = broker.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            node["broker"] = address;
        }
    }

    async Task ImportAsync(string file, string what, Action<FlowDocument> adapt, CancellationToken cancellationToken)
    {
        try
        {
            var document = FlowDocument.Parse(await File.ReadAllTextAsync(file, cancellationToken), out var credentials, out _);
            adapt(document);
            await flows.DeployAsync(document, credentials, DeploymentType.Full, null, cancellationToken);
            log.LogInformation("Deployed the {What} flow from {File}", what, file);
        }
        catch (FlowDocumentException e)
        {
            throw new StartupException($"{file} is not a valid flow:\n  " + string.Join("\n  ", e.Errors.Select(x => x.Text)), e);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => runtime.StopAsync();
}
