using FlowServer.Nodes.Sdk;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Nodes;

/// <summary>What every Jint engine of the process shares (<see cref="ScriptEngines"/>).</summary>
public sealed class ScriptEnginesTests
{
    [Fact]
    public void Making_an_engine_leaves_no_copy_of_every_system_time_zone_behind()
    {
        ScriptEngines.Create(_ => { });

        // Were the zones Jint's options read still cached, asking for them again would allocate
        // next to nothing; read again, they are ~3 MB on Debian (~420 zones). Counted on this
        // thread only, so that tests running alongside do not blur it.
        var before = GC.GetAllocatedBytesForCurrentThread();
        var zones = TimeZoneInfo.GetSystemTimeZones();
        var read = GC.GetAllocatedBytesForCurrentThread() - before;
        TimeZoneInfo.ClearCachedData();

        Assert.True(read > 1_000L * zones.Count, $"reading {zones.Count} zones again allocated {read} bytes: they were still cached");
    }

    [Fact]
    public async Task Scripts_still_find_the_time_zones_they_name()
    {
        await using var flow = await StartAsync(Flow(
            new
            {
                id = "fn", type = "function", outputs = 1, wires = new[] { new[] { "out" } },
                func = """
                    const instant = Date.UTC(2026, 0, 15, 12, 0, 0);
                    msg.payload = {
                        newYork: new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', hour: 'numeric', hourCycle: 'h23' }).format(new Date(instant)),
                        berlin: Temporal.Instant.fromEpochMilliseconds(instant).toZonedDateTimeISO('Europe/Berlin').hour,
                        utc: new Date(instant).getUTCHours()
                    };
                    return msg;
                    """,
            },
            new { id = "out", type = "test-capture" }));
        await flow.SendAsync("fn", "go");
        var payload = Assert.IsType<Dictionary<string, object?>>((await flow.NextAsync("out")).Payload);

        Assert.Equal("07", payload["newYork"]);
        Assert.Equal(13.0, payload["berlin"]);
        Assert.Equal(12.0, payload["utc"]);
        flow.AssertNoErrors();
    }
}
