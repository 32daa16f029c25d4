using System.CommandLine;

namespace FlowServer.Configuration;

/// <summary>
/// The command line. Every option also reads an environment variable (FLOWSERVER_PORT, …) as
/// its default, so containers can be configured without arguments.
/// </summary>
public static class FlowServerCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        var defaults = new FlowServerOptions();
        var port = Option("--port", "HTTP port of the editor and admin API", "FLOWSERVER_PORT", defaults.Port);
        var bind = Option("--bind", "Address the HTTP server listens on", "FLOWSERVER_BIND", defaults.Bind);
        var dataDir = Option("--data-dir", "Directory of the SQLite store, credential keys and nodes' durable state (historian buffers)", "FLOWSERVER_DATA_DIR", defaults.DataDirectory);
        var storage = Option("--storage", "Flow store: sqlite or postgresql", "FLOWSERVER_STORAGE", defaults.Storage);
        var connection = Option<string?>("--connection-string", "Connection string of the store (PostgreSQL: Host=…;Database=…;Username=…)", "FLOWSERVER_CONNECTION_STRING", null);
        var noBroker = Option("--no-broker", "Do not run the built-in MQTT broker", "FLOWSERVER_NO_BROKER", false);
        var brokerPort = Option("--broker-port", "Port of the built-in MQTT broker", "FLOWSERVER_BROKER_PORT", defaults.BrokerPort);
        var brokerBind = Option("--broker-bind", "Address the built-in MQTT broker listens on", "FLOWSERVER_BROKER_BIND", defaults.BrokerBind);
        var flows = Option<string?>("--flows", "A flow JSON file to import and deploy at start", "FLOWSERVER_FLOWS", null);
        var queue = Option("--queue-capacity", "Inbox capacity of each node", "FLOWSERVER_QUEUE_CAPACITY", defaults.QueueCapacity);
        var noInline = Option("--no-inline", "Always hand messages to a node on its own drain thread, never on the sender's (for comparison)", "FLOWSERVER_NO_INLINE", false);
        var noExample = Option("--no-example", "Do not deploy the example flow into an empty store", "FLOWSERVER_NO_EXAMPLE", false);

        var root = new RootCommand("FlowServer: a flow-based integration server for industrial data (Node-RED flow format).")
        {
            port, bind, dataDir, storage, connection, noBroker, brokerPort, brokerBind, flows, queue, noInline, noExample,
        };
        root.SetAction(async (result, cancel) =>
        {
            var options = new FlowServerOptions
            {
                Port = result.GetValue(port),
                Bind = result.GetValue(bind)!,
                DataDirectory = result.GetValue(dataDir)!,
                Storage = result.GetValue(storage)!.ToLowerInvariant(),
                ConnectionString = result.GetValue(connection),
                BrokerEnabled = !result.GetValue(noBroker),
                BrokerPort = result.GetValue(brokerPort),
                BrokerBind = result.GetValue(brokerBind)!,
                FlowsFile = result.GetValue(flows),
                QueueCapacity = result.GetValue(queue),
                RunInline = !result.GetValue(noInline),
                DeployExampleWhenEmpty = !result.GetValue(noExample),
            };
            var errors = options.Validate();
            if (errors.Count > 0)
            {
                foreach (var error in errors) Console.Error.WriteLine($"flowserver: {error}");
                return 2;
            }
            try
            {
                var app = await FlowServerApp.BuildAsync(options);
                await app.RunAsync(cancel);
                return 0;
            }
            catch (StartupException e)
            {
                Console.Error.WriteLine($"flowserver: {e.Message}");
                return 1;
            }
        });
        return await root.Parse(args).InvokeAsync();
    }

    static Option<T> Option<T>(string name, string description, string environmentVariable, T fallback) => new(name)
    {
        Description = $"{description} (env {environmentVariable})",
        DefaultValueFactory = _ => FromEnvironment(environmentVariable, fallback),
    };

    static T FromEnvironment<T>(string variable, T fallback)
    {
        var text = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrEmpty(text)) return fallback;
        var type = Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T);
        try { return (T)Convert.ChangeType(text, type, System.Globalization.CultureInfo.InvariantCulture); }
        catch (FormatException) { throw new StartupException($"{variable}='{text}' is not a valid {type.Name}"); }
    }
}

/// <summary>A start-up problem with a message for the operator (no stack trace needed).</summary>
public sealed class StartupException(string message, Exception? inner = null) : Exception(message, inner);
