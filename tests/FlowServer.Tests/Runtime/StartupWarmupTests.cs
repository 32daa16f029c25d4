using FlowServer.Runtime;
using FlowServer.Testing;
using Xunit;

namespace FlowServer.Tests.Runtime;

/// <summary>
/// The start-up warm-up compiles one node of every type with its descriptor's defaults. That only
/// warms anything if those defaults get through the compiler, so this also checks that every
/// node type's declared defaults are valid options (what a node dragged from the palette gets).
/// </summary>
public sealed class StartupWarmupTests
{
    [Fact]
    public void The_sample_flow_holds_every_node_type_and_its_defaults_compile_except_required_fields()
    {
        var catalog = FlowTestHarness.Catalog;
        var sample = StartupWarmup.SampleFlow(catalog);
        var types = sample.Select(n => (string)n!["type"]!).ToHashSet();
        Assert.All(catalog.Types, t => Assert.Contains(t.Descriptor.Type, types));

        var document = FlowDocument.Parse(sample.ToJsonString(), out var credentials, out _);
        var errors = new List<FlowError>();
        try { new FlowCompiler(catalog).Compile(document, credentials); }
        catch (FlowDocumentException e) { errors.AddRange(e.Errors); }

        // Only required fields left empty (a broker, a topic) may fail, and a static link call's
        // target (a node must pick one): any other error is a default the compiler rejects, a bug.
        var offending = errors.Where(e => !IsRequiredAndEmpty(catalog, e) && !(e.Type == "link call" && e.Field == "links"))
            .Select(e => e.Text).ToList();
        Assert.True(offending.Count == 0, string.Join("\n", offending));
    }

    [Fact]
    public async Task Running_it_deploys_nothing()
    {
        await using var harness = await FlowTestHarness.StartAsync("[]");
        Assert.Null(StartupWarmup.Run(harness.Compiler));
        Assert.Empty(harness.Runtime.Hosts);
    }

    [Fact]
    public async Task The_tier_up_rounds_run_the_warm_up_again_spaced_out_and_deploy_nothing()
    {
        await using var harness = await FlowTestHarness.StartAsync("[]");
        var started = System.Diagnostics.Stopwatch.StartNew();
        Assert.Null(StartupWarmup.RunRounds(harness.Compiler, 3, TimeSpan.FromMilliseconds(100)));
        Assert.True(started.ElapsedMilliseconds >= 200, $"3 rounds 100 ms apart took {started.ElapsedMilliseconds} ms");
        Assert.Empty(harness.Runtime.Hosts);
    }

    [Fact]
    public async Task The_warm_up_message_gets_through_its_flow_in_a_runtime_of_its_own()
    {
        await using var harness = await FlowTestHarness.StartAsync("[]");
        // null: the flow compiled, ran, and its last node received the message; a node option
        // renamed under the warm-up flow would show here instead of slowing start-up unnoticed.
        Assert.Null(await StartupWarmup.RunMessageAsync(harness.Compiler));
        Assert.Empty(harness.Runtime.Hosts);
    }

    static bool IsRequiredAndEmpty(NodeCatalog catalog, FlowError error) =>
        catalog.TryGet(error.Type ?? "", out var info)
        && info.Descriptor.Properties.Any(p => p.Name == error.Field && p.Required && (p.Default is null || p.Default.ToJsonString() == "\"\""));
}
