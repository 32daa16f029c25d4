using FlowServer.Nodes.Sdk;
using Npgsql;

namespace FlowServer.Nodes.Database;

/// <summary>
/// Options of <c>postgreSQLConfig</c>, named as node-red-contrib-postgresql exports them: every
/// connection field has a sibling <c>…FieldType</c> (str, num, bool, json, env, global; the
/// legacy flow) saying where its value comes from.
/// </summary>
public sealed class PostgreSqlConfigOptions : NodeOptions
{
    static readonly string[] TextTypes = ["str", "env", "global"];
    static readonly string[] NumberTypes = ["num", "env", "global"];

    [Property("host", Editor = PropertyEditor.TypedInput, TypeProperty = "hostFieldType", Types = ["str", "env", "global"], Help = "Server host name or address")]
    public string Host { get; set; } = "127.0.0.1";
    [Property("hostFieldType", Editor = PropertyEditor.Hidden)]
    public string HostFieldType { get; set; } = "str";

    [Property("port", Editor = PropertyEditor.TypedInput, TypeProperty = "portFieldType", Types = ["num", "env", "global"])]
    public string Port { get; set; } = "5432";
    [Property("portFieldType", Editor = PropertyEditor.Hidden)]
    public string PortFieldType { get; set; } = "num";

    [Property("database", Editor = PropertyEditor.TypedInput, TypeProperty = "databaseFieldType", Types = ["str", "env", "global"])]
    public string Database { get; set; } = "postgres";
    [Property("databaseFieldType", Editor = PropertyEditor.Hidden)]
    public string DatabaseFieldType { get; set; } = "str";

    [Property("ssl", Editor = PropertyEditor.TypedInput, TypeProperty = "sslFieldType", Types = ["bool", "env", "global", "json"],
        Help = "true to require TLS with certificate checks; JSON {\"rejectUnauthorized\":false} for TLS without them")]
    public string Ssl { get; set; } = "false";
    [Property("sslFieldType", Editor = PropertyEditor.Hidden)]
    public string SslFieldType { get; set; } = "bool";

    [Property("applicationName", Editor = PropertyEditor.TypedInput, TypeProperty = "applicationNameType", Types = ["str", "env", "global"])]
    public string ApplicationName { get; set; } = "";
    [Property("applicationNameType", Editor = PropertyEditor.Hidden)]
    public string ApplicationNameType { get; set; } = "str";

    [Property("max", Editor = PropertyEditor.TypedInput, TypeProperty = "maxFieldType", Types = ["num", "env", "global"], Label = "Max connections")]
    public string Max { get; set; } = "10";
    [Property("maxFieldType", Editor = PropertyEditor.Hidden)]
    public string MaxFieldType { get; set; } = "num";

    [Property("min", Editor = PropertyEditor.TypedInput, TypeProperty = "minFieldType", Types = ["num", "env", "global"], Label = "Min connections")]
    public string Min { get; set; } = "0";
    [Property("minFieldType", Editor = PropertyEditor.Hidden)]
    public string MinFieldType { get; set; } = "num";

    [Property("idle", Editor = PropertyEditor.TypedInput, TypeProperty = "idleFieldType", Types = ["num", "env", "global"], Label = "Idle timeout (ms)")]
    public string Idle { get; set; } = "1000";
    [Property("idleFieldType", Editor = PropertyEditor.Hidden)]
    public string IdleFieldType { get; set; } = "num";

    [Property("connectionTimeout", Editor = PropertyEditor.TypedInput, TypeProperty = "connectionTimeoutFieldType", Types = ["num", "env", "global"], Label = "Connection timeout (ms)")]
    public string ConnectionTimeout { get; set; } = "10000";
    [Property("connectionTimeoutFieldType", Editor = PropertyEditor.Hidden)]
    public string ConnectionTimeoutFieldType { get; set; } = "num";

    // Exports before 0.16 carry user and password as plain properties; later ones as credentials.
    [Property("user", Editor = PropertyEditor.Hidden)]
    public string PlainUser { get; set; } = "";
    [Property("userFieldType", Editor = PropertyEditor.Hidden)]
    public string UserFieldType { get; set; } = "str";
    [Property("password", Editor = PropertyEditor.Hidden)]
    public string PlainPassword { get; set; } = "";
    [Property("passwordFieldType", Editor = PropertyEditor.Hidden)]
    public string PasswordFieldType { get; set; } = "str";

    [Credential("user", Label = "User")]
    public string? User { get; set; }
    [Credential("password", Secret = true, Label = "Password")]
    public string? Password { get; set; }

    /// <summary>The fields as typed values, keyed by JSON name; filled by <see cref="Validate"/>.</summary>
    internal Dictionary<string, TypedValue> Fields { get; } = [];

    public override IEnumerable<OptionError> Validate()
    {
        var errors = new List<OptionError>();
        void Add(string name, string type, string value, string[] allowed)
        {
            type = string.IsNullOrEmpty(type) ? allowed[0] : type;
            if (type == "num" && string.IsNullOrWhiteSpace(value)) return; // empty: the built-in default
            if (type != "flow" && type != "json" && type != "bool" && !allowed.Contains(type))
            {
                errors.Add(new OptionError(name, $"cannot come from '{type}' (expected one of {string.Join(", ", allowed)})"));
                return;
            }
            try { Fields[name] = TypedValue.Parse(type, value); }
            catch (FormatException e) { errors.Add(new OptionError(name, e.Message)); }
        }
        Add("host", HostFieldType, Host, TextTypes);
        Add("port", PortFieldType, Port, NumberTypes);
        Add("database", DatabaseFieldType, Database, TextTypes);
        Add("ssl", SslFieldType, Ssl, ["bool", "env", "global", "json"]);
        Add("applicationName", ApplicationNameType, ApplicationName, TextTypes);
        Add("max", MaxFieldType, Max, NumberTypes);
        Add("min", MinFieldType, Min, NumberTypes);
        Add("idle", IdleFieldType, Idle, NumberTypes);
        Add("connectionTimeout", ConnectionTimeoutFieldType, ConnectionTimeout, NumberTypes);
        Add("user", UserFieldType, string.IsNullOrEmpty(User) ? PlainUser : User, TextTypes);
        Add("password", PasswordFieldType, string.IsNullOrEmpty(Password) ? PlainPassword : Password, TextTypes);
        return errors;
    }
}

[NodeType("postgreSQLConfig", Category = "config", Inputs = 0, Outputs = 0, PaletteLabel = "PostgreSQL server",
    Help = """
    A PostgreSQL server and its connection pool, shared by the `postgresql` and
    `postgresql-historian` nodes that reference it.

    ### Details
    Each connection field can be a literal or come from an environment variable (`env`) or
    global context (`global`), as in node-red-contrib-postgresql. User and password are
    credentials; flows exported by older versions that carry them as plain properties still load.
    *max* and *min* bound the pool; *idle* (ms) is how long an unused connection stays open;
    *connectionTimeout* (ms) limits waiting for a connection.
    """)]
public sealed class PostgreSqlConfigNode : ConfigNode<PostgreSqlConfigOptions>
{
    NpgsqlDataSource? _dataSource;

    /// <summary>The pooled data source; connections opened from it are returned to the pool on dispose.</summary>
    public NpgsqlDataSource DataSource => _dataSource ?? throw new InvalidOperationException("the PostgreSQL config node has not started");

    /// <summary>user@host:port/database, for status and error texts.</summary>
    public string Label { get; private set; } = "";

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = Text("host"),
            Port = Whole("port", 5432),
            Database = Text("database"),
            Username = Text("user"),
            Password = NullIfEmpty(Text("password")),
            ApplicationName = NullIfEmpty(Text("applicationName")) ?? "FlowServer",
            MaxPoolSize = Math.Max(1, Whole("max", 10)),
            MinPoolSize = Math.Max(0, Whole("min", 0)),
            Timeout = Math.Max(1, (int)Math.Ceiling(Whole("connectionTimeout", 10_000) / 1000.0)),
            Pooling = true,
        };
        var idleSeconds = Math.Max(1, (int)Math.Ceiling(Whole("idle", 1000) / 1000.0));
        builder.ConnectionIdleLifetime = idleSeconds;
        builder.ConnectionPruningInterval = Math.Min(idleSeconds, 10); // Npgsql refuses a pruning interval above the idle lifetime
        if (builder.MinPoolSize > builder.MaxPoolSize) builder.MinPoolSize = builder.MaxPoolSize;
        builder.SslMode = Ssl(Evaluate("ssl"));
        Label = $"{builder.Username}@{builder.Host}:{builder.Port}/{builder.Database}";
        _dataSource = NpgsqlDataSource.Create(builder);
        return Task.CompletedTask;
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_dataSource is not null) await _dataSource.DisposeAsync();
        _dataSource = null;
    }

    object? Evaluate(string field) => Options.Fields.TryGetValue(field, out var value) ? value.Evaluate(null, Context) : null;

    string Text(string field) => Evaluate(field) is { } value ? MessageValue.ToText(value) : "";

    int Whole(string field, int fallback)
    {
        var value = Evaluate(field);
        var number = value is string s ? MessageValue.ToNumber(s) : MessageValue.AsNumber(value) ?? double.NaN;
        return double.IsNaN(number) ? fallback : (int)number;
    }

    static string? NullIfEmpty(string text) => text.Length == 0 ? null : text;

    // node-pg: ssl true verifies the server certificate; an object with rejectUnauthorized:false does not.
    internal static SslMode Ssl(object? value) => value switch
    {
        bool b => b ? SslMode.VerifyFull : SslMode.Disable,
        string s when s.Trim().Length > 0 && s.Trim()[0] == '{' => Ssl(MessageJson.Parse(s)),
        string s => s.Trim().ToLowerInvariant() is "true" or "1" or "require" ? SslMode.VerifyFull : SslMode.Disable,
        Dictionary<string, object?> map => map.GetValueOrDefault("rejectUnauthorized") is false ? SslMode.Require : SslMode.VerifyFull,
        _ => SslMode.Disable,
    };
}
