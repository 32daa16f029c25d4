using System.CommandLine;
using Microsoft.Extensions.Logging;

namespace FlowServer.Configuration;

/// <summary>
/// The command line. Every option also reads an environment variable (FLOWSERVER_PORT, …) as
/// its default, so containers can be configured without arguments.
/// </summary>
public static class FlowServerCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        var environmentErrors = new List<string>();
        var defaults = new FlowServerOptions();
        var port = Option("--port", "HTTP port of the editor and admin API", "FLOWSERVER_PORT", defaults.Port, environmentErrors);
        var bind = Option("--bind", "Address the HTTP server listens on", "FLOWSERVER_BIND", defaults.Bind, environmentErrors);
        var dataDir = Option("--data-dir", "Directory of the SQLite store, credential keys and nodes' durable state (historian buffers)", "FLOWSERVER_DATA_DIR", defaults.DataDirectory, environmentErrors);
        var storage = Option("--storage", "Flow store: sqlite or postgresql", "FLOWSERVER_STORAGE", defaults.Storage, environmentErrors);
        var connection = Option<string?>("--connection-string", "Connection string of the store (PostgreSQL: Host=…;Database=…;Username=…)", "FLOWSERVER_CONNECTION_STRING", null, environmentErrors);
        var noBroker = Option("--no-broker", "Do not run the built-in MQTT broker", "FLOWSERVER_NO_BROKER", false, environmentErrors);
        var brokerPort = Option("--broker-port", "Port of the built-in MQTT broker", "FLOWSERVER_BROKER_PORT", defaults.BrokerPort, environmentErrors);
        var brokerBind = Option("--broker-bind", "Address the built-in MQTT broker listens on", "FLOWSERVER_BROKER_BIND", defaults.BrokerBind, environmentErrors);
        var flows = Option<string?>("--flows", "A flow JSON file to import and deploy at start", "FLOWSERVER_FLOWS", null, environmentErrors);
        var queue = Option("--queue-capacity", "Inbox capacity of each node", "FLOWSERVER_QUEUE_CAPACITY", defaults.QueueCapacity, environmentErrors);
        var noInline = Option("--no-inline", "Always hand messages to a node on its own drain thread, never on the sender's (for comparison)", "FLOWSERVER_NO_INLINE", false, environmentErrors);
        var noExample = Option("--no-example", "Do not deploy the example flow into an empty store", "FLOWSERVER_NO_EXAMPLE", false, environmentErrors);
        // Read by every MQTT connection's pacer (process-wide, environment only): checked here so that a bad value stops the start.
        try { FlowServer.Nodes.Network.Mqtt.MqttReadPacer.ReadPause(Environment.GetEnvironmentVariable("FLOWSERVER_MQTT_READ_PAUSE_US")); }
        catch (ArgumentException e) { environmentErrors.Add(e.Message); }

        var root = new RootCommand("FlowServer: a flow-based integration server for industrial data (Node-RED flow format).")
        {
            port, bind, dataDir, storage, connection, noBroker, brokerPort, brokerBind, flows, queue, noInline, noExample,
        };
        root.SetAction(async (result, cancel) =>
        {
            // The environment is read while the values are; its errors are reported like the others.
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
            var errors = environmentErrors.Count > 0 ? environmentErrors : options.Validate();
            if (errors.Count > 0)
            {
                foreach (var error in errors) Console.Error.WriteLine($"flowserver: {error}");
                return 2;
            }
            try
            {
                // A start that fails is reported below in one sentence; the host would log it again with its stack trace.
                var app = await FlowServerApp.BuildAsync(options, logging => logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical));
                await app.RunAsync(cancel);
                return 0;
            }
            catch (Exception e) when (StartupProblem(e, options) is { } problem)
            {
                Console.Error.WriteLine($"flowserver: {problem}");
                return 1;
            }
        });
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors) Console.Error.WriteLine($"flowserver: {error.Message}");
            return 2;
        }
        return await parsed.InvokeAsync();
    }

    // What an operator can act on, in one sentence; anything else is a bug and keeps its stack trace.
    static string? StartupProblem(Exception e, FlowServerOptions options) => e switch
    {
        StartupException => e.Message,
        IOException when IsAddressInUse(e) => $"--port {options.Port}: {options.Bind}:{options.Port} is already in use (choose another --port)",
        _ => null,
    };

    static bool IsAddressInUse(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
            if (e is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.AddressAlreadyInUse }) return true;
        return false;
    }

    static Option<T> Option<T>(string name, string description, string environmentVariable, T fallback, List<string> errors) => new(name)
    {
        Description = $"{description} (env {environmentVariable})",
        DefaultValueFactory = _ => FromEnvironment(environmentVariable, fallback, errors),
    };

    static T FromEnvironment<T>(string variable, T fallback, List<string> errors)
    {
        var text = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrEmpty(text)) return fallback;
        var type = Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T);
        if (type == typeof(bool))
        {
            if (ParseFlag(text) is { } flag) return (T)(object)flag;
            errors.Add($"{variable}='{text}' must be true or false (or 1/0, yes/no)");
            return fallback;
        }
        try { return (T)Convert.ChangeType(text, type, System.Globalization.CultureInfo.InvariantCulture); }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            errors.Add(type == typeof(int) ? $"{variable}='{text}' is not a whole number in range" : $"{variable}='{text}' is not a valid {type.Name}");
            return fallback;
        }
    }

    static bool? ParseFlag(string text) => text.Trim().ToLowerInvariant() switch
    {
        "1" or "true" or "yes" or "on" => true,
        "0" or "false" or "no" or "off" => false,
        _ => null,
    };
}

/// <summary>A start-up problem with a message for the operator (no stack trace needed).</summary>
public sealed class StartupException(string message, Exception? inner = null) : Exception(message, inner);
