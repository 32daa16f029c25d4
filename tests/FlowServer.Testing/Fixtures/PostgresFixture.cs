using System.Diagnostics;

namespace FlowServer.Testing.Fixtures;

/// <summary>
/// A real PostgreSQL server of its own: initdb in a temp directory, pg_ctl start on a free
/// loopback port, trust authentication, removed on dispose. As root it runs the server as the
/// <c>postgres</c> user, because initdb refuses to run as root.
/// </summary>
public sealed class PostgresFixture : IAsyncDisposable
{
    readonly string _bin;
    readonly string _dataDirectory;
    readonly string _root;
    string _serverOptions = "";

    PostgresFixture(string bin, string root, int port)
    {
        _bin = bin;
        _root = root;
        _dataDirectory = Path.Combine(root, "data");
        Port = port;
    }

    public int Port { get; }

    /// <summary>Connection string to a database (created by <see cref="CreateDatabaseAsync"/>).</summary>
    public string ConnectionString(string database = "postgres") =>
        $"Host=127.0.0.1;Port={Port};Username=postgres;Database={database};Pooling=true;Timeout=10";

    /// <summary>
    /// Starts a server. With <paramref name="ssl"/> it also accepts TLS, with a self-signed
    /// certificate for CN=127.0.0.1 made by openssl in the temp directory (plain connections still work).
    /// </summary>
    public static async Task<PostgresFixture> StartAsync(bool ssl = false)
    {
        var bin = FindBinDirectory();
        var root = Path.Combine(Path.GetTempPath(), "flowserver-pg-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        var fixture = new PostgresFixture(bin, root, FreePort.Next());
        try
        {
            fixture._serverOptions = $"-c listen_addresses=127.0.0.1 -c port={fixture.Port} -c unix_socket_directories={root} -c fsync=off -c max_connections=50";
            if (ssl)
            {
                var (certificate, key) = (Path.Combine(root, "server.crt"), Path.Combine(root, "server.key"));
                await RunAsync("openssl", ["req", "-new", "-x509", "-days", "2", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", certificate], asPostgres: false);
                await RunAsync("chmod", ["600", key], asPostgres: false); // the server refuses a key others can read
                fixture._serverOptions += $" -c ssl=on -c ssl_cert_file={certificate} -c ssl_key_file={key}";
            }
            if (IsRoot) await RunAsync("chown", ["-R", "postgres:postgres", root], asPostgres: false);
            await fixture.PgAsync("initdb", ["-D", fixture._dataDirectory, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"]);
            await fixture.StartAgainAsync();
            await FreePort.WaitListeningAsync(fixture.Port, TimeSpan.FromSeconds(30), fixture.ReadLog);
            return fixture;
        }
        catch
        {
            await fixture.DisposeAsync();
            throw;
        }
    }

    /// <summary>Creates a fresh, empty database and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string? name = null)
    {
        name ??= "db_" + Guid.NewGuid().ToString("N")[..12];
        await PgAsync("psql", ["-h", "127.0.0.1", "-p", Port.ToString(), "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-c", $"CREATE DATABASE {name}"]);
        return ConnectionString(name);
    }

    /// <summary>Stops the server with a fast shutdown (connections are cut, as in an outage).</summary>
    public Task StopAsync() => PgAsync("pg_ctl", ["-D", _dataDirectory, "-m", "fast", "-w", "stop"]);

    /// <summary>Starts the server again on the same port, data and settings.</summary>
    public Task StartAgainAsync() =>
        PgAsync("pg_ctl", ["-D", _dataDirectory, "-l", Path.Combine(_root, "server.log"), "-o", _serverOptions, "-w", "-t", "60", "start"]);

    public async ValueTask DisposeAsync()
    {
        try { if (File.Exists(Path.Combine(_dataDirectory, "postmaster.pid"))) await PgAsync("pg_ctl", ["-D", _dataDirectory, "-m", "immediate", "-w", "stop"]); }
        catch (Exception) { } // best effort: the directory goes away below anyway
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    string ReadLog()
    {
        try { return File.ReadAllText(Path.Combine(_root, "server.log")); } catch (IOException) { return ""; }
    }

    Task PgAsync(string tool, string[] args) => RunAsync(Path.Combine(_bin, tool), args, asPostgres: IsRoot);

    static bool IsRoot => Environment.UserName == "root";

    static string FindBinDirectory()
    {
        const string root = "/usr/lib/postgresql";
        var bin = Directory.Exists(root)
            ? Directory.GetDirectories(root).Select(d => Path.Combine(d, "bin")).Where(d => File.Exists(Path.Combine(d, "initdb"))).OrderDescending().FirstOrDefault()
            : null;
        return bin ?? throw new InvalidOperationException(
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb). Run `bash scripts/test.sh`, which installs it, or `apt-get install postgresql`.");
    }

    static async Task RunAsync(string file, string[] args, bool asPostgres)
    {
        var start = new ProcessStartInfo(asPostgres ? "runuser" : file) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = "/tmp" };
        if (asPostgres) { start.ArgumentList.Add("-u"); start.ArgumentList.Add("postgres"); start.ArgumentList.Add("--"); start.ArgumentList.Add(file); }
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {file}");
        // pg_ctl start leaves the server holding our pipes; read to end only until the tool exits.
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
        {
            var error = await Task.WhenAny(stderr, Task.Delay(1000)) == stderr ? await stderr : "";
            throw new InvalidOperationException($"{Path.GetFileName(file)} {string.Join(' ', args)} failed with exit code {process.ExitCode}: {error}");
        }
        _ = stdout;
    }
}
