using FlowServer.Nodes.Modbus.Protocol;
using FlowServer.Nodes.Sdk;

namespace FlowServer.Nodes.Modbus;

public sealed class ModbusClientOptions : NodeOptions
{
    [Property("name")] public string Name { get; set; } = "";

    [Property("clienttype", Required = true, Editor = PropertyEditor.Select, Choices = ["tcp", "simpleser", "serial"], Help = "Only TCP is supported")]
    public string ClientType { get; set; } = "tcp";

    [Property("tcpHost", Label = "Host")] public string TcpHost { get; set; } = "127.0.0.1";

    [Property("tcpPort", Editor = PropertyEditor.Number, Min = 1, Max = 65535, Label = "Port")]
    public int TcpPort { get; set; } = 502;

    [Property("tcpType", Editor = PropertyEditor.Select, Choices = ["DEFAULT", "TELNET", "TPC-RTU-BUFFERED", "TCP-RTU-BUFFERED", "C701", "UDP"], Help = "Only DEFAULT (Modbus TCP) is supported")]
    public string TcpType { get; set; } = "DEFAULT";

    [Property("unit_id", Editor = PropertyEditor.Number, Min = 0, Max = 255, Label = "Unit-Id", Help = "Default unit id for nodes that leave theirs empty")]
    public int UnitId { get; set; } = 1;

    [Property("clientTimeout", Editor = PropertyEditor.Number, Min = 1, Label = "Timeout (ms)")]
    public int ClientTimeout { get; set; } = 1000;

    [Property("reconnectOnTimeout", Editor = PropertyEditor.Checkbox, Help = "Open a fresh connection after a timeout")]
    public bool ReconnectOnTimeout { get; set; } = true;

    [Property("reconnectTimeout", Editor = PropertyEditor.Number, Min = 1, Label = "Reconnect delay (ms)", Help = "First wait after a failed connect; doubles up to 30 s")]
    public int ReconnectTimeout { get; set; } = 2000;

    [Property("bufferCommands", Editor = PropertyEditor.Checkbox, Label = "Queue commands", Help = "Send one request at a time; off allows up to 8 in flight (pipelining)")]
    public bool BufferCommands { get; set; } = true;

    [Property("commandDelay", Editor = PropertyEditor.Number, Min = 0, Help = "Accepted for import; requests are not delayed")]
    public int CommandDelay { get; set; } = 1;

    [Property("parallelUnitIdsAllowed", Editor = PropertyEditor.Checkbox, Help = "Accepted for import")]
    public bool ParallelUnitIdsAllowed { get; set; } = true;

    [Property("stateLogEnabled", Editor = PropertyEditor.Checkbox, Help = "Log connection state changes")]
    public bool StateLogEnabled { get; set; }

    [Property("queueLogEnabled", Editor = PropertyEditor.Checkbox, Help = "Accepted for import")]
    public bool QueueLogEnabled { get; set; }

    public override IEnumerable<OptionError> Validate()
    {
        if (ClientType != "tcp")
            yield return new OptionError("clienttype", $"'{ClientType}' (serial) is not supported; only 'tcp' (Modbus TCP) is");
        else if (string.IsNullOrWhiteSpace(TcpHost))
            yield return new OptionError("tcpHost", "is required for a TCP client");
        if (TcpType != "DEFAULT")
            yield return new OptionError("tcpType", $"'{TcpType}' is not supported; only DEFAULT (Modbus TCP) is");
    }
}

[NodeType("modbus-client", Category = "config", Inputs = 0, Outputs = 0, Color = "#E9967A", Icon = "modbus",
    Help = """
    A Modbus TCP connection shared by the Modbus read, getter and write nodes.

    ### Details
    *tcpHost* and *tcpPort* name the device; *unit_id* is used by nodes that leave their Unit-Id
    empty. Each request must be answered within *clientTimeout* ms; with *reconnectOnTimeout*
    the connection is then reopened. After a failed connect the next attempt waits
    *reconnectTimeout* ms, doubling up to 30 s; a connection lost while running is retried at once.
    With *bufferCommands* (Queue commands) requests go out one at a time; without it up to 8
    are on the wire together, matched by transaction id. Serial and the TCP variants TELNET,
    RTU-BUFFERED and C701 are not supported and are refused at deploy.
    """)]
public sealed class ModbusClientConfigNode : ConfigNode<ModbusClientOptions>
{
    CancellationTokenSource? _keeper;

    /// <summary>The protocol client; created at start.</summary>
    public ModbusTcpClient Client { get; private set; } = null!;

    /// <summary>Endpoint text for messages: <c>host:port</c>.</summary>
    public string Endpoint => $"{Options.TcpHost}:{Options.TcpPort}";

    /// <summary>Raised when the connection comes up or goes down (with the reason).</summary>
    public event Action<ModbusConnectionState, string?>? StateChanged;

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        Client = new ModbusTcpClient(new ModbusTcpClientOptions
        {
            Host = Options.TcpHost.Trim(),
            Port = Options.TcpPort,
            UnitId = (byte)Options.UnitId,
            Timeout = TimeSpan.FromMilliseconds(Options.ClientTimeout),
            ReconnectDelay = TimeSpan.FromMilliseconds(Options.ReconnectTimeout),
            MaxReconnectDelay = TimeSpan.FromMilliseconds(Math.Max(Options.ReconnectTimeout, 30_000)),
            ReconnectOnTimeout = Options.ReconnectOnTimeout,
            MaxInFlight = Options.BufferCommands ? 1 : 8,
        });
        Client.StateChanged += OnStateChanged;
        // Keep trying in the background so a device that comes back is seen without traffic.
        _keeper = CancellationTokenSource.CreateLinkedTokenSource(Context.Stopping);
        _ = KeepConnectedAsync(_keeper.Token);
        return Task.CompletedTask;
    }

    void OnStateChanged(ModbusConnectionState state, string? reason)
    {
        if (Options.StateLogEnabled) Context.Log(state == ModbusConnectionState.Connected ? $"connected to {Endpoint}" : $"disconnected from {Endpoint}: {reason}");
        StateChanged?.Invoke(state, reason);
    }

    async Task KeepConnectedAsync(CancellationToken token)
    {
        var period = TimeSpan.FromMilliseconds(Math.Clamp(Options.ReconnectTimeout / 2, 50, 1000));
        // Wait first: a device simulated in the same deploy (modbus-server) starts after config nodes,
        // and a refused first attempt would put the client into backoff for nothing.
        while (!token.IsCancellationRequested)
        {
            try { await Task.Delay(period, token); }
            catch (OperationCanceledException) { return; }
            if (Client.State == ModbusConnectionState.Disconnected)
            {
                try { await Client.TryConnectAsync(token); }
                catch (OperationCanceledException) { return; }
                catch (ObjectDisposedException) { return; }
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _keeper?.Cancel();
        if (Client is not null) await Client.DisposeAsync();
    }
}
