using Jint;

namespace FlowServer.Nodes.Sdk;

/// <summary>
/// Makes every Jint engine of the process (function nodes, JSONata expressions).
/// </summary>
public static class ScriptEngines
{
    /// <summary>
    /// Jint's default time zone provider reads every system time zone (~420 files) in its static
    /// constructor, which the first <see cref="Options"/> of the process runs, and .NET keeps them
    /// all: ~3.3 MB of the heap for good, a third of an idle server's. Scripts do not need them
    /// kept: a zone a script names is looked up again by its id. So that constructor is run here,
    /// once, before the first engine, and .NET's cache is emptied after it (the local zone is read
    /// again when next asked for).
    /// </summary>
    static ScriptEngines()
    {
        System.Runtime.CompilerServices.RuntimeHelpers.RunClassConstructor(typeof(Jint.Native.Temporal.DefaultTimeZoneProvider).TypeHandle);
        TimeZoneInfo.ClearCachedData();
    }

    /// <summary>A new engine with <paramref name="configure"/>'s options.</summary>
    public static Engine Create(Action<Options> configure) => new(configure);
}
