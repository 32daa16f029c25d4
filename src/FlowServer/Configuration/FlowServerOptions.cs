namespace FlowServer.Configuration;

/// <summary>Everything FlowServer is configured with (command line, environment, or code in tests).</summary>
public sealed class FlowServerOptions
{
    /// <summary>HTTP port of the editor and admin API (0 = any free port).</summary>
    public int Port { get; set; } = 1880;
    /// <summary>Address the HTTP server binds to.</summary>
    public string Bind { get; set; } = "127.0.0.1";
    /// <summary>Where the SQLite store and the credential keys live.</summary>
    public string DataDirectory { get; set; } = "./data";
    /// <summary>sqlite or postgresql.</summary>
    public string Storage { get; set; } = "sqlite";
    /// <summary>Connection string of the store (required for postgresql).</summary>
    public string? ConnectionString { get; set; }
    /// <summary>Run the built-in MQTT broker.</summary>
    public bool BrokerEnabled { get; set; } = true;
    /// <summary>Address the built-in broker binds to.</summary>
    public string BrokerBind { get; set; } = "127.0.0.1";
    /// <summary>Port of the built-in broker (0 = any free port).</summary>
    public int BrokerPort { get; set; } = 1883;
    /// <summary>A flow file to import and deploy at start (replaces what is stored).</summary>
    public string? FlowsFile { get; set; }
    /// <summary>Deploy the example flow when the store is empty.</summary>
    public bool DeployExampleWhenEmpty { get; set; } = true;
    /// <summary>Inbox capacity of each node unless its queueSize says otherwise.</summary>
    public int QueueCapacity { get; set; } = 1000;
    /// <summary>Let quick nodes run on their sender's thread when they are idle (see NodeHost).</summary>
    public bool RunInline { get; set; } = true;

    /// <summary>Checks the values; returns one sentence per problem, naming the option.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Port is < 0 or > 65535) errors.Add($"--port must be between 0 and 65535, got {Port}");
        if (BrokerPort is < 0 or > 65535) errors.Add($"--broker-port must be between 0 and 65535, got {BrokerPort}");
        if (!System.Net.IPAddress.TryParse(Bind, out _) && Bind != "localhost") errors.Add($"--bind must be an IP address, got '{Bind}'");
        if (!System.Net.IPAddress.TryParse(BrokerBind, out _)) errors.Add($"--broker-bind must be an IP address, got '{BrokerBind}'");
        if (Storage is not ("sqlite" or "postgresql")) errors.Add($"--storage must be sqlite or postgresql, got '{Storage}'");
        if (Storage == "postgresql" && string.IsNullOrWhiteSpace(ConnectionString)) errors.Add("--connection-string is required with --storage postgresql");
        if (QueueCapacity < 1) errors.Add($"--queue-capacity must be at least 1, got {QueueCapacity}");
        if (FlowsFile is not null && !File.Exists(FlowsFile)) errors.Add($"--flows: the file '{FlowsFile}' does not exist");
        if (BrokerEnabled && Port != 0 && Port == BrokerPort && Bind == BrokerBind) errors.Add($"--port and --broker-port are both {Port}");
        try { Directory.CreateDirectory(DataDirectory); }
        catch (Exception e) { errors.Add($"--data-dir '{DataDirectory}' cannot be created: {e.Message}"); }
        return errors;
    }
}
