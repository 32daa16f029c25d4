using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using FlowServer.Configuration;
using MQTTnet.Server;

namespace FlowServer.Mqtt;

/// <summary>Settings of the MQTT broker that runs inside the server.</summary>
public sealed class BuiltInBrokerOptions
{
    /// <summary>False to run without a broker (<c>--no-broker</c>).</summary>
    public bool Enabled { get; set; } = true;
    /// <summary>The address to listen on; loopback by default so the broker is not exposed.</summary>
    public string Address { get; set; } = "127.0.0.1";
    /// <summary>The TCP port; 0 picks a free one (read it from <see cref="BuiltInBroker.Port"/>).</summary>
    public int Port { get; set; } = 1883;
    /// <summary>
    /// Messages queued per client before the broker has to drop. MQTTnet's default (1000) drops
    /// the oldest silently; this is far larger and every drop is logged.
    /// </summary>
    public int MaxPendingMessagesPerClient { get; set; } = 1_000_000;
}

/// <summary>An MQTTnet broker run as a hosted service, so flows work without an external broker.</summary>
public sealed class BuiltInBroker(BuiltInBrokerOptions options, ILogger<BuiltInBroker>? logger = null) : IHostedService, IAsyncDisposable
{
    readonly ILogger _logger = logger ?? (ILogger)NullLogger.Instance;
    MqttServer? _server;
    long _dropped;

    /// <summary>The port the broker listens on once started (the chosen one when the options said 0).</summary>
    public int Port { get; private set; }

    /// <summary>The address the broker listens on.</summary>
    public string Address => options.Address;

    /// <summary>Messages the broker dropped because a client's queue was full.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    public bool IsRunning => _server?.IsStarted == true;

    /// <summary>The running MQTTnet server (null before start), for diagnostics and tests that watch its events.</summary>
    public MqttServer? Server => _server;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!options.Enabled || _server is not null) return;
        if (!IPAddress.TryParse(options.Address, out var address))
            throw new StartupException($"--broker-bind: the built-in MQTT broker address '{options.Address}' is not an IP address");
        var port = options.Port == 0 ? PickFreePort(address) : options.Port;
        var description = $"{options.Address}:{port}";

        var builder = new MqttServerOptionsBuilder()
            .WithDefaultEndpoint()
            .WithDefaultEndpointPort(port)
            .WithMaxPendingMessagesPerClient(options.MaxPendingMessagesPerClient)
            .WithPendingMessagesOverflowStrategy(MqttPendingMessagesOverflowStrategy.DropNewMessage);
        // Bind exactly the configured address: the default would also open every IPv6 interface.
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
            builder.WithDefaultEndpointBoundIPAddress(IPAddress.None).WithDefaultEndpointBoundIPV6Address(address);
        else
            builder.WithDefaultEndpointBoundIPAddress(address).WithDefaultEndpointBoundIPV6Address(IPAddress.None);
        var serverOptions = builder.Build();

        var server = new MqttServerFactory().CreateMqttServer(serverOptions);
        server.ValidatingConnectionAsync += e =>
        {
            if (string.IsNullOrEmpty(e.ClientId)) AssignClientId(e);
            return Task.CompletedTask;
        };
        server.ApplicationMessageEnqueuedOrDroppedAsync += e =>
        {
            if (e.IsDropped)
            {
                var total = Interlocked.Increment(ref _dropped);
                _logger.LogWarning("built-in MQTT broker: the queue of client {Client} is full ({Max} messages); a message on '{Topic}' was dropped ({Total} so far)",
                    e.ReceiverClientId, options.MaxPendingMessagesPerClient, e.ApplicationMessage.Topic, total);
            }
            return Task.CompletedTask;
        };
        try
        {
            await server.StartAsync();
        }
        catch (Exception e) when (IsAddressInUse(e))
        {
            server.Dispose();
            throw new StartupException($"--broker-port {port}: {description} is already in use, so the built-in MQTT broker cannot listen there (choose another --broker-port, or --no-broker)", e);
        }
        catch
        {
            server.Dispose();
            throw;
        }
        _server = server;
        Port = port;
        _logger.LogInformation("built-in MQTT broker listening on {Address}", description);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        var server = Interlocked.Exchange(ref _server, null);
        if (server is null) return;
        try { await server.StopAsync(); }
        finally { server.Dispose(); }
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None);

    static readonly System.Reflection.FieldInfo? ConnectPacketField = typeof(ValidatingConnectionEventArgs)
        .GetFields(System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic)
        .FirstOrDefault(f => f.FieldType == typeof(MQTTnet.Packets.MqttConnectPacket));

    /// <summary>
    /// MQTT 3.1.1 and 5 let a client connect with an empty client id and have the broker assign
    /// one; mosquitto_sub and mosquitto_pub do so by default. MQTTnet assigns
    /// <c>AssignedClientIdentifier</c> only for MQTT 5 and refuses 3.1.1 clients, so the id is
    /// written into the CONNECT packet, which MQTTnet does not expose publicly.
    /// </summary>
    static void AssignClientId(ValidatingConnectionEventArgs e)
    {
        var id = "auto-" + Guid.NewGuid().ToString("N");
        e.AssignedClientIdentifier = id;
        if (ConnectPacketField?.GetValue(e) is MQTTnet.Packets.MqttConnectPacket packet) packet.ClientId = id;
    }

    static bool IsAddressInUse(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
            if (e is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse }) return true;
        return false;
    }

    static int PickFreePort(IPAddress address)
    {
        using var listener = new TcpListener(address, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}

public static class BuiltInBrokerServiceCollectionExtensions
{
    /// <summary>Registers the built-in MQTT broker as a hosted service (nothing runs when <see cref="BuiltInBrokerOptions.Enabled"/> is false).</summary>
    public static IServiceCollection AddBuiltInBroker(this IServiceCollection services, BuiltInBrokerOptions options)
    {
        services.AddSingleton(options);
        services.AddSingleton<BuiltInBroker>();
        if (options.Enabled) services.AddHostedService(provider => provider.GetRequiredService<BuiltInBroker>());
        return services;
    }
}
