using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

// In-process benchmarks of the engine itself (no MQTT, no HTTP): messages through the graph,
// a Jint call, a message clone. `dotnet run -c Release -- --filter '*'` runs them all; any
// BenchmarkDotNet argument works (--filter '*Graph*', --list flat, ...).
var config = DefaultConfig.Instance
    .AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance))
    .AddDiagnoser(MemoryDiagnoser.Default)
    .WithOptions(ConfigOptions.DisableOptimizationsValidator);
BenchmarkSwitcher.FromAssembly(typeof(FlowServer.Benchmarks.GraphBenchmarks).Assembly).Run(args.Length == 0 ? ["--filter", "*"] : args, config);
