// Modbus TCP throughput: register reads per second on one connection (against our own server
// and against a pymodbus device), and 50 devices polled concurrently by a flow of modbus-read
// nodes. Usage: dotnet run -c Release -- [seconds per case=5] [runs=3]
using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using FlowServer.Nodes.Modbus;
using FlowServer.Nodes.Modbus.Protocol;
using FlowServer.Testing;
using FlowServer.Testing.Fixtures;

var seconds = args.Length > 0 ? double.Parse(args[0]) : 5;
var runs = args.Length > 1 ? int.Parse(args[1]) : 3;
var duration = TimeSpan.FromSeconds(seconds);
Console.WriteLine($"{seconds} s per case, {runs} runs, {Environment.ProcessorCount} cores; each read is 10 holding registers (FC 3)");

var model = new ModbusDataModel(100, 100, 1000, 1000);
await using var ownServer = new ModbusTcpServer(model, IPAddress.Loopback, 0);
ownServer.Start();
await using var pymodbus = await PymodbusFixture.StartAsync();

var cases = new (string Name, Func<Task<ReadResult>> Run)[]
{
    ("our server, 1 in flight", () => ReadLoopAsync(ownServer.Port, 1, duration)),
    ("our server, 8 in flight", () => ReadLoopAsync(ownServer.Port, 8, duration)),
    ("pymodbus, 1 in flight", () => ReadLoopAsync(pymodbus.Port, 1, duration)),
    ("pymodbus, 8 in flight", () => ReadLoopAsync(pymodbus.Port, 8, duration)),
};
var results = cases.ToDictionary(c => c.Name, _ => new List<ReadResult>());
var fleets = new[] { TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(10) }.ToDictionary(i => i, _ => new List<FleetResult>());
for (var run = 1; run <= runs; run++)
{
    foreach (var (name, body) in cases)
    {
        var result = await body();
        results[name].Add(result);
        Console.WriteLine($"run {run}: {name}: {result.ReadsPerSecond:N0} reads/s, p50 {result.P50Ms:0.000} ms, p99 {result.P99Ms:0.000} ms");
    }
    foreach (var (interval, list) in fleets)
    {
        var f = await FleetAsync(50, interval, duration);
        list.Add(f);
        Console.WriteLine($"run {run}: 50 devices every {interval.TotalMilliseconds} ms: {f.PollsPerSecond:N0} polls/s of {f.ExpectedPerSecond:N0} scheduled, {f.Skipped} skipped, {f.Failures} failed, interval jitter p50 {f.P50Ms:0.00} ms p99 {f.P99Ms:0.00} ms");
    }
}

Console.WriteLine();
Console.WriteLine("| case | median reads/s | p50 ms | p99 ms | runs (reads/s) |");
Console.WriteLine("|---|---|---|---|---|");
foreach (var (name, list) in results)
{
    var median = list.OrderBy(r => r.ReadsPerSecond).ElementAt(list.Count / 2);
    Console.WriteLine($"| {name} | {median.ReadsPerSecond:N0} | {median.P50Ms:0.000} | {median.P99Ms:0.000} | {string.Join(" · ", list.Select(r => r.ReadsPerSecond.ToString("N0")))} |");
}
Console.WriteLine();
Console.WriteLine("| 50 devices, one modbus-client + modbus-read each (a deployed flow) | median polls/s | scheduled | skipped | failed | interval jitter p50 / p99 ms | runs (polls/s) |");
Console.WriteLine("|---|---|---|---|---|---|---|");
foreach (var (interval, list) in fleets)
{
    var fm = list.OrderBy(f => f.PollsPerSecond).ElementAt(list.Count / 2);
    Console.WriteLine($"| every {interval.TotalMilliseconds} ms | {fm.PollsPerSecond:N0} | {fm.ExpectedPerSecond:N0} | {fm.Skipped} | {fm.Failures} | {fm.P50Ms:0.00} / {fm.P99Ms:0.00} | {string.Join(" · ", list.Select(f => f.PollsPerSecond.ToString("N0")))} |");
}

// Reads 10 holding registers again and again on one connection, with `inFlight` requests
// outstanding (pipelining, transaction ids matched by the client), for `duration`.
static async Task<ReadResult> ReadLoopAsync(int port, int inFlight, TimeSpan duration)
{
    await using var client = new ModbusTcpClient(new ModbusTcpClientOptions { Port = port, MaxInFlight = inFlight, Timeout = TimeSpan.FromSeconds(2) });
    await client.ConnectAsync();
    for (var i = 0; i < 200; i++) await client.ReadHoldingRegistersAsync(0, 10); // warm-up
    var latencies = new List<double>[inFlight];
    var clock = Stopwatch.StartNew();
    var workers = Enumerable.Range(0, inFlight).Select(async w =>
    {
        var mine = latencies[w] = new List<double>(100_000);
        while (clock.Elapsed < duration)
        {
            var start = Stopwatch.GetTimestamp();
            var values = await client.ReadHoldingRegistersAsync(0, 10);
            if (values.Length != 10) throw new InvalidOperationException("short read");
            mine.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
    }).ToArray();
    await Task.WhenAll(workers);
    var all = latencies.SelectMany(l => l).Order().ToArray();
    return new ReadResult(all.Length / clock.Elapsed.TotalSeconds, Percentile(all, 0.50), Percentile(all, 0.99));
}

// 50 simulated devices (our Modbus TCP server, one listener each) polled by a deployed flow: one
// modbus-client and one modbus-read per device, every `interval`, outputs counted by capture nodes.
static async Task<FleetResult> FleetAsync(int devices, TimeSpan interval, TimeSpan duration)
{
    var servers = new List<ModbusTcpServer>();
    var flow = new List<object>();
    for (var d = 0; d < devices; d++)
    {
        var server = new ModbusTcpServer(new ModbusDataModel(10, 10, 100, 100), IPAddress.Loopback, 0);
        server.Start();
        servers.Add(server);
        flow.Add(new { id = $"c{d}", type = "modbus-client", clienttype = "tcp", tcpHost = "127.0.0.1", tcpPort = server.Port, unit_id = 1, clientTimeout = 1000, reconnectTimeout = 500 });
        flow.Add(new { id = $"r{d}", type = "modbus-read", server = $"c{d}", dataType = "HoldingRegister", adr = 0, quantity = 10, rate = interval.TotalMilliseconds, rateUnit = "ms", wires = new[] { new[] { $"k{d}" } } });
        flow.Add(new { id = $"k{d}", type = "test-capture" });
    }
    try
    {
        await using var harness = await FlowTestHarness.StartAsync(FlowTestHarness.Flow(flow.ToArray()));
        var reads = Enumerable.Range(0, devices).Select(d => (ModbusReadNode)harness.Runtime.Find($"r{d}")!.Node).ToArray();
        // Let every client connect and poll once before measuring.
        var warm = DateTime.UtcNow.AddSeconds(10);
        while (reads.Any(r => r.Polls == 0) && DateTime.UtcNow < warm) await Task.Delay(20);
        var before = reads.Select(r => (r.Polls, r.SkippedCycles, r.Failures)).ToArray();
        var captures = Enumerable.Range(0, devices).Select(d => harness.Capture($"k{d}")).ToArray();
        foreach (var c in captures) while (c.Pending > 0) await c.NextAsync();

        // Poll latency: time between a scheduled poll and its message, seen as the spacing of each device's messages.
        var gaps = new List<double>();
        var clock = Stopwatch.StartNew();
        var watchers = captures.Select(async c =>
        {
            var mine = new List<double>();
            var last = Stopwatch.GetTimestamp();
            while (clock.Elapsed < duration)
            {
                try { await c.NextAsync(TimeSpan.FromSeconds(1)); }
                catch (TimeoutException) { continue; }
                var now = Stopwatch.GetTimestamp();
                mine.Add(Stopwatch.GetElapsedTime(last, now).TotalMilliseconds - interval.TotalMilliseconds);
                last = now;
            }
            lock (gaps) gaps.AddRange(mine.Skip(1));
        }).ToArray();
        await Task.WhenAll(watchers);
        var elapsed = clock.Elapsed.TotalSeconds;
        var after = reads.Select(r => (r.Polls, r.SkippedCycles, r.Failures)).ToArray();
        var polls = after.Zip(before, (a, b) => a.Polls - b.Polls).Sum();
        var skipped = after.Zip(before, (a, b) => a.SkippedCycles - b.SkippedCycles).Sum();
        var failures = after.Zip(before, (a, b) => a.Failures - b.Failures).Sum();
        var sorted = gaps.Select(Math.Abs).Order().ToArray();
        return new FleetResult(polls / elapsed, devices / interval.TotalSeconds, skipped, failures, Percentile(sorted, 0.5), Percentile(sorted, 0.99));
    }
    finally
    {
        foreach (var s in servers) await s.DisposeAsync();
    }
}

static double Percentile(double[] sorted, double p) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];

record ReadResult(double ReadsPerSecond, double P50Ms, double P99Ms);
record FleetResult(double PollsPerSecond, double ExpectedPerSecond, long Skipped, long Failures, double P50Ms, double P99Ms);
