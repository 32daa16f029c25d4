using System.Diagnostics;
using FlowServer.Nodes.Common;
using FlowServer.Nodes.Sdk;
using FlowServer.Testing;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Nodes;

public sealed class InjectNodeTests
{
    static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    static Task<FlowTestHarness> StartInjectAsync(object inject) => StartAsync(Flow(inject, new { id = "out", type = "test-capture" }));

    [Fact]
    public async Task Once_fires_after_its_delay_and_the_repeat_starts_from_there()
    {
        var watch = Stopwatch.StartNew();
        await using var flow = await StartInjectAsync(new { id = "i", type = "inject", once = true, onceDelay = 0.3, repeat = "0.4", topic = "tick", payload = "", payloadType = "date", wires = new[] { new[] { "out" } } });
        var first = await flow.NextAsync("out", Patience);
        var firstAt = watch.Elapsed;
        var second = await flow.NextAsync("out", Patience);

        Assert.True(firstAt >= TimeSpan.FromMilliseconds(280), $"once fired after {firstAt.TotalMilliseconds:0} ms");
        // Node-RED starts the interval after the once message, not at deploy. Measured between the
        // stamps taken as each fired: when the test saw them depends on how soon it was woken.
        var stamp = Assert.IsType<double>(first.Payload);
        var secondStamp = Assert.IsType<double>(second.Payload);
        Assert.True(secondStamp - stamp >= 390, $"the repeat followed after {secondStamp - stamp:0} ms");
        Assert.Equal("tick", first.Topic);
        Assert.InRange(stamp, DateTimeOffset.UtcNow.AddSeconds(-10).ToUnixTimeMilliseconds(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        Assert.NotEqual(first.MessageId, second.MessageId);
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task Repeat_fires_at_its_interval_until_stopped()
    {
        var watch = Stopwatch.StartNew();
        var flow = await StartInjectAsync(new { id = "i", type = "inject", repeat = "0.1", payload = "x", payloadType = "str", wires = new[] { new[] { "out" } } });
        var capture = flow.Capture("out");
        var fired = await capture.TakeAsync(5, Patience);
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(480), $"5 messages came within {watch.ElapsedMilliseconds} ms");
        Assert.All(fired, m => Assert.Equal("x", m.Payload));
        await flow.DisposeAsync();
        while (capture.Pending > 0) await capture.NextAsync();
        Assert.True(await capture.StaysEmptyAsync(TimeSpan.FromMilliseconds(300)), "it fired after the stop");
        flow.AssertNoErrors();
    }

    [Fact]
    public async Task An_every_second_cron_fires_once_per_second_without_double_fires()
    {
        await using var flow = await StartInjectAsync(new { id = "i", type = "inject", crontab = "* * * * * *", payload = "", payloadType = "date", wires = new[] { new[] { "out" } } });
        var times = new List<double>();
        var until = DateTime.UtcNow.AddSeconds(3.2);
        while (DateTime.UtcNow < until)
        {
            var remaining = until - DateTime.UtcNow;
            try { times.Add((double)(await flow.NextAsync("out", remaining > TimeSpan.Zero ? remaining : TimeSpan.FromMilliseconds(1))).Payload!); }
            catch (TimeoutException) { break; }
        }
        // A double fire (one occurrence fired twice when the timer wakes a little early) puts two
        // fires into one second. Fires need not be a second apart: on a loaded machine one
        // occurrence fired 921 ms late and the next on time, 79 ms after it.
        Assert.InRange(times.Count, 2, 4);
        for (var i = 1; i < times.Count; i++)
            Assert.True(Math.Floor(times[i] / 1000) > Math.Floor(times[i - 1] / 1000), $"two fires in one second: {string.Join(", ", times)}");
        flow.AssertNoErrors();
    }

    [Theory]
    [InlineData("*/20 8-16 * * 1,2,3,4,5", "2026-11-27T16:30", new[] { "2026-11-27T16:40", "2026-11-30T08:00", "2026-11-30T08:20" })]
    [InlineData("*/30 22-23,0-1 * * *", "2026-11-25T23:45", new[] { "2026-11-26T00:00", "2026-11-26T00:30", "2026-11-26T01:00", "2026-11-26T01:30", "2026-11-26T22:00" })]
    [InlineData("0 7-8 * * *", "2026-11-25T07:00", new[] { "2026-11-25T08:00", "2026-11-26T07:00" })]
    public void Interval_between_times_as_the_editor_writes_it_is_a_cron_schedule(string crontab, string from, string[] expected)
    {
        var options = new InjectOptions { Crontab = crontab };
        Assert.Empty(options.Validate());
        var at = DateTime.SpecifyKind(DateTime.Parse(from, System.Globalization.CultureInfo.InvariantCulture), DateTimeKind.Utc);
        var next = new List<string>();
        foreach (var _ in expected)
        {
            at = options.Schedule!.GetNextOccurrence(at)!.Value;
            next.Add(at.ToString("yyyy-MM-ddTHH:mm", System.Globalization.CultureInfo.InvariantCulture));
        }
        Assert.Equal(expected, next);
    }

    [Fact]
    public void A_bad_cron_expression_is_refused_naming_the_field()
    {
        var error = Assert.Single(Validate(Flow(new { id = "i", type = "inject", name = "Clock", crontab = "*/5 25 * * *" })));
        Assert.Equal(("i", "crontab"), (error.NodeId, error.Field));
    }

    [Fact]
    public async Task Props_set_typed_values_and_the_legacy_payload_and_topic_fields_fill_props_without_values()
    {
        var json = """
            [{"id":"tab1","type":"tab","env":[{"name":"LINE","value":"L7","type":"str"}]},
             {"id":"i","type":"inject","z":"tab1","props":[{"p":"payload"},{"p":"topic","vt":"str"},
               {"p":"n","v":"2.5","vt":"num"},{"p":"b","v":"true","vt":"bool"},{"p":"j","v":"{\"a\":[1]}","vt":"json"},
               {"p":"s","v":"text","vt":"str"},{"p":"e","v":"LINE","vt":"env"},{"p":"f","v":"setting","vt":"flow"},
               {"p":"x.y","v":"$count([1,2,3])","vt":"jsonata"},{"p":"t","v":"","vt":"date"},{"p":"bytes","v":"[1,2]","vt":"bin"}],
              "payload":"{\"v\":1}","payloadType":"json","topic":"plant/line7","wires":[["out"]]},
             {"id":"out","type":"test-capture","z":"tab1"}]
            """;
        await using var flow = await StartAsync(json);
        flow.Runtime.Find("i")!.FlowContext.Set("setting", "from flow");
        await flow.TriggerAsync("i");
        var message = await flow.NextAsync("out", Patience);

        Assert.Equal(new Dictionary<string, object?> { ["v"] = 1.0 }, message.Payload);
        Assert.Equal("plant/line7", message.Topic);
        Assert.Equal(2.5, message["n"]);
        Assert.Equal(true, message["b"]);
        Assert.Equal(new Dictionary<string, object?> { ["a"] = new List<object?> { 1.0 } }, message["j"]);
        Assert.Equal("text", message["s"]);
        Assert.Equal("L7", message["e"]);
        Assert.Equal("from flow", message["f"]);
        Assert.Equal(new Dictionary<string, object?> { ["y"] = 3.0 }, message["x"]);
        Assert.IsType<double>(message["t"]);
        Assert.Equal(new byte[] { 1, 2 }, message["bytes"]);
        flow.AssertNoErrors();
    }
}
