using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using FlowServer.Configuration;
using FlowServer.Testing;
using FlowServer.Testing.Fixtures;
using Xunit;

namespace FlowServer.Tests.Configuration;

/// <summary>
/// The real program (FlowServer.dll run by dotnet, as an operator starts it): bad options and
/// environment values stop it with one sentence naming the option, never a stack trace; good
/// ones from the environment are used.
/// </summary>
public sealed class CommandLineTests : IDisposable
{
    readonly string _dataDirectory = Path.Combine(Path.GetTempPath(), "flowserver-cli-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(_dataDirectory, recursive: true); } catch (DirectoryNotFoundException) { }
    }

    [Theory]
    [InlineData("--port 70000", "--port must be between 0 and 65535, got 70000")]
    [InlineData("--port abc", "'abc'")]
    [InlineData("--port 99999999999", "'99999999999'")]
    [InlineData("--broker-port -1", "--broker-port must be between 0 and 65535, got -1")]
    [InlineData("--storage mongo", "--storage must be sqlite or postgresql, got 'mongo'")]
    [InlineData("--storage postgresql", "--connection-string is required with --storage postgresql")]
    [InlineData("--flows /nonexistent/flows.json", "--flows: the file '/nonexistent/flows.json' does not exist")]
    [InlineData("--queue-capacity 0", "--queue-capacity must be at least 1, got 0")]
    [InlineData("--bind nowhere", "--bind must be an IP address, got 'nowhere'")]
    public async Task A_bad_option_stops_the_server_with_one_sentence_naming_it(string arguments, string expected)
    {
        var run = await RunToExitAsync(arguments.Split(' '), new Dictionary<string, string>());

        AssertOneSentence(run, expected, exitCode: 2);
        if (arguments.StartsWith("--port ", StringComparison.Ordinal)) Assert.Contains("--port", run.Error);
    }

    [Theory]
    [InlineData("FLOWSERVER_PORT", "99999999999", "FLOWSERVER_PORT='99999999999' is not a whole number in range")]
    [InlineData("FLOWSERVER_QUEUE_CAPACITY", "lots", "FLOWSERVER_QUEUE_CAPACITY='lots' is not a whole number in range")]
    [InlineData("FLOWSERVER_NO_BROKER", "maybe", "FLOWSERVER_NO_BROKER='maybe' must be true or false (or 1/0, yes/no)")]
    [InlineData("FLOWSERVER_STORAGE", "postgresql", "--connection-string is required with --storage postgresql")]
    public async Task A_bad_environment_value_stops_the_server_with_one_sentence_naming_it(string variable, string value, string expected)
    {
        var run = await RunToExitAsync([], new Dictionary<string, string> { [variable] = value });

        AssertOneSentence(run, expected, exitCode: 2);
    }

    [Fact]
    public async Task A_busy_broker_port_stops_the_server_with_one_sentence()
    {
        using var squatter = Squat(out var port);
        var run = await RunToExitAsync(["--port", "0", "--broker-port", port.ToString()], new Dictionary<string, string>());

        AssertOneSentence(run, $"--broker-port {port}: 127.0.0.1:{port} is already in use", exitCode: 1);
    }

    [Fact]
    public async Task A_store_that_cannot_be_opened_stops_the_server_even_while_a_flows_file_starts()
    {
        // The flows file starts while the store opens: the store's failure is still what is reported.
        var flowsFile = Path.Combine(Path.GetTempPath(), "flowserver-cli-flows-" + Guid.NewGuid().ToString("N") + ".json");
        await File.WriteAllTextAsync(flowsFile, """[{"id":"t1","type":"tab","label":"From a file"}]""");
        using var squatter = Squat(out var deadDatabase); // accepts, never answers as PostgreSQL
        try
        {
            var run = await RunToExitAsync(["--port", "0", "--no-broker", "--flows", flowsFile, "--storage", "postgresql",
                "--connection-string", $"Host=127.0.0.1;Port={deadDatabase};Database=flows;Username=u;Password=p;Timeout=2"], new Dictionary<string, string>());
            AssertOneSentence(run, "the postgresql store cannot be opened", exitCode: 1);
        }
        finally { File.Delete(flowsFile); }
    }

    [Fact]
    public async Task A_busy_http_port_stops_the_server_with_one_sentence()
    {
        using var squatter = Squat(out var port);
        var run = await RunToExitAsync(["--port", port.ToString(), "--no-broker"], new Dictionary<string, string>());

        AssertOneSentence(run, $"--port {port}: 127.0.0.1:{port} is already in use", exitCode: 1);
    }

    [Fact]
    public async Task The_environment_configures_the_port_the_flows_file_and_switches_the_broker_off()
    {
        var flowsFile = Path.Combine(Path.GetTempPath(), "flowserver-cli-flows-" + Guid.NewGuid().ToString("N") + ".json");
        const string flow = """[{"id":"t1","type":"tab","label":"From a file"},{"id":"c1","type":"comment","z":"t1","name":"imported at start","wires":[]}]""";
        await File.WriteAllTextAsync(flowsFile, flow);
        // The broker port is busy: the server only starts when FLOWSERVER_NO_BROKER=1 is honoured.
        using var squatter = Squat(out var brokerPort);
        var port = FreePort.Next();
        using var process = Start([], new Dictionary<string, string>
        {
            ["FLOWSERVER_PORT"] = port.ToString(),
            ["FLOWSERVER_FLOWS"] = flowsFile,
            ["FLOWSERVER_NO_BROKER"] = "1",
            ["FLOWSERVER_BROKER_PORT"] = brokerPort.ToString(),
        });
        _ = process.StandardOutput.ReadToEndAsync(); // drained, so the server never blocks on a full pipe
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
            var flows = await PollAsync(http, "/flows", process);
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse(flow), JsonNode.Parse(flows)), flows);
            Assert.True(File.Exists(Path.Combine(_dataDirectory, "flowserver.db")), "the store is in FLOWSERVER_DATA_DIR");
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            File.Delete(flowsFile);
        }
    }

    [Fact]
    public void Validate_accepts_the_defaults_and_names_every_bad_option()
    {
        Assert.Empty(new FlowServerOptions { DataDirectory = _dataDirectory }.Validate());

        var errors = new FlowServerOptions { DataDirectory = _dataDirectory, Port = 1884, BrokerPort = 1884, Storage = "postgresql" }.Validate();
        Assert.Equal(["--connection-string is required with --storage postgresql", "--port and --broker-port are both 1884"], errors);
        // On different addresses the two ports do not clash, and without the broker there is nothing to clash with.
        Assert.Equal(["--broker-bind must be an IP address, got 'here'"], new FlowServerOptions { DataDirectory = _dataDirectory, Port = 1884, BrokerPort = 1884, BrokerBind = "here" }.Validate());
        Assert.Empty(new FlowServerOptions { DataDirectory = _dataDirectory, Port = 1884, BrokerPort = 1884, BrokerEnabled = false }.Validate());
    }

    static void AssertOneSentence(Run run, string expected, int exitCode)
    {
        var lines = run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one line on stderr, got:\n{run.Error}");
        Assert.StartsWith("flowserver: ", lines[0]);
        Assert.Contains(expected, lines[0]);
        Assert.DoesNotContain("   at ", run.Output + run.Error);
        Assert.DoesNotContain("Exception", run.Output + run.Error);
        Assert.Equal(exitCode, run.ExitCode);
    }

    sealed record Run(int ExitCode, string Output, string Error);

    async Task<Run> RunToExitAsync(string[] arguments, Dictionary<string, string> environment)
    {
        using var process = Start(arguments, environment);
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try { await process.WaitForExitAsync(timeout.Token); }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"flowserver {string.Join(' ', arguments)} did not stop:\n{await output}\n{await error}");
        }
        return new Run(process.ExitCode, (await output).Replace("\r", ""), (await error).Replace("\r", ""));
    }

    Process Start(string[] arguments, Dictionary<string, string> environment)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "FlowServer.dll"));
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        // Nothing from the test runner's own environment leaks in; the data stays in a temp directory.
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("FLOWSERVER_", StringComparison.Ordinal)).ToList()) start.Environment.Remove(key);
        start.Environment["FLOWSERVER_DATA_DIR"] = _dataDirectory;
        foreach (var (key, value) in environment) start.Environment[key] = value;
        return Process.Start(start)!;
    }

    static async Task<string> PollAsync(HttpClient http, string path, Process process)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            if (process.HasExited) throw new InvalidOperationException($"flowserver exited with {process.ExitCode}: {await process.StandardError.ReadToEndAsync()}");
            try { return await http.GetStringAsync(path); }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline) { await Task.Delay(200); }
        }
    }

    static TcpListener Squat(out int port)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        port = ((IPEndPoint)listener.LocalEndpoint).Port;
        return listener;
    }
}
