using Xunit;

namespace FlowServer.Tests;

/// <summary>
/// Tests that saturate the CPU on purpose (runaway scripts) run in this collection: xunit runs it
/// after the others, by itself, so that their loops neither slow the timing checks of other tests
/// nor take the pool threads those tests need, and no other test's load delays theirs.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class RunsAlone
{
    public const string Name = "runs alone: saturates the CPU on purpose";
}
