using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

// In-process benchmarks of the engine itself (no MQTT, no HTTP): messages through the graph,
// a Jint call, a message clone. `dotnet run -c Release -- --filter '*'` runs them all; any
// BenchmarkDotNet argument works (--filter '*Graph*', --list flat, ...); `--cpu SCENARIO [SECONDS]`
// measures CPU per input instead (below).
var config = DefaultConfig.Instance
    .AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance))
    .AddDiagnoser(MemoryDiagnoser.Default)
    .WithOptions(ConfigOptions.DisableOptimizationsValidator);
if (args is ["--cpu", var scenario, ..])
{
    // `--cpu SCENARIO [SECONDS]`: one graph scenario in a loop (inline), with the process's CPU
    // time per input beside the wall time. On the bench's shared 2 cores CPU is the figure that
    // counts: a thread hop shows up there (a woken and spinning pool thread) more than in the
    // wall time BenchmarkDotNet measures.
    var seconds = args.Length > 2 ? double.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 10;
    var graph = new FlowServer.Benchmarks.GraphBenchmarks { Scenario = scenario, Inline = true };
    graph.Setup();
    graph.Messages_through_the_graph().GetAwaiter().GetResult(); // warm-up round, not counted
    var process = System.Diagnostics.Process.GetCurrentProcess();
    var cpu0 = process.TotalProcessorTime;
    var allocated0 = GC.GetTotalAllocatedBytes(true);
    var clock = System.Diagnostics.Stopwatch.StartNew();
    long inputs = 0;
    while (clock.Elapsed.TotalSeconds < seconds)
    {
        graph.Messages_through_the_graph().GetAwaiter().GetResult();
        inputs += FlowServer.Benchmarks.GraphBenchmarks.Messages;
    }
    process.Refresh();
    Console.WriteLine($"{scenario}: {(process.TotalProcessorTime - cpu0).TotalMicroseconds / inputs:F2} us CPU, "
        + $"{clock.Elapsed.TotalMicroseconds / inputs:F2} us wall, {(GC.GetTotalAllocatedBytes(true) - allocated0) / (double)inputs:F0} B per input ({inputs:N0} inputs)");
    graph.Cleanup();
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(FlowServer.Benchmarks.GraphBenchmarks).Assembly).Run(args.Length == 0 ? ["--filter", "*"] : args, config);
