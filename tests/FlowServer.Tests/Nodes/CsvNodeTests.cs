using FlowServer.Nodes.Sdk;
using FlowServer.Testing;
using Xunit;
using static FlowServer.Testing.FlowTestHarness;

namespace FlowServer.Tests.Nodes;

public sealed class CsvNodeTests
{
    static object Csv(string temp = "", string sep = ",", bool hdrin = false, string hdrout = "none", string multi = "one", string ret = "\\n",
        int skip = 0, bool strings = true, bool emptyStrings = false, bool nulls = false) =>
        new { id = "csv", type = "csv", name = "", sep, hdrin, hdrout, multi, ret, temp, skip = skip.ToString(), strings, include_empty_strings = emptyStrings, include_null_values = nulls, spec = "rfc", wires = new[] { new[] { "out" } } };

    static Task<FlowTestHarness> StartCsvAsync(object csv) => StartAsync(Flow(csv, new { id = "out", type = "test-capture" }));

    static Dictionary<string, object?> Row(params (string Key, object? Value)[] cells) => cells.ToDictionary(c => c.Key, c => c.Value);

    [Fact]
    public async Task Parses_rows_into_one_message_each_with_parts_and_numbers()
    {
        await using var flow = await StartCsvAsync(Csv(temp: "a,b,c"));
        var input = FlowMessage.WithPayload("1,x,2.5\n-3,\"y, z\",1e3\n");
        await flow.SendAsync("csv", input);
        var rows = await flow.Capture("out").TakeAsync(2);

        Assert.True(MessageValue.DeepEquals(Row(("a", 1.0), ("b", "x"), ("c", 2.5)), rows[0].Payload));
        Assert.True(MessageValue.DeepEquals(Row(("a", -3.0), ("b", "y, z"), ("c", 1000.0)), rows[1].Payload));
        var parts = Assert.IsType<Dictionary<string, object?>>(rows[1]["parts"]);
        Assert.Equal((input.MessageId, 1.0, 2.0), ((string)parts["id"]!, (double)parts["index"]!, (double)parts["count"]!));
        Assert.Equal("a,b,c", rows[0]["columns"]);
        Assert.True(await flow.Capture("out").StaysEmptyAsync(TimeSpan.FromMilliseconds(200)));
    }

    [Fact]
    public async Task Header_row_names_columns_and_skip_drops_leading_lines()
    {
        await using var flow = await StartCsvAsync(Csv(hdrin: true, skip: 1, multi: "mult"));
        await flow.SendAsync("csv", "# exported\r\nname,\"qty\"\r\nbolt,007\r\nnut,12\r\n");
        var message = await flow.NextAsync("out");
        var rows = Assert.IsType<List<object?>>(message.Payload);
        Assert.Equal(2, rows.Count);
        // 007 is not a JavaScript number literal, so it stays text.
        Assert.True(MessageValue.DeepEquals(Row(("name", "bolt"), ("qty", "007")), rows[0]));
        Assert.True(MessageValue.DeepEquals(Row(("name", "nut"), ("qty", 12.0)), rows[1]));
        Assert.Equal("name,qty", message["columns"]);
    }

    [Fact]
    public async Task Rfc4180_quotes_hold_separators_newlines_and_doubled_quotes()
    {
        await using var flow = await StartCsvAsync(Csv(multi: "mult", strings: false));
        await flow.SendAsync("csv", "\"say \"\"hi\"\"\",\"two\nlines\",3\n");
        var rows = Assert.IsType<List<object?>>((await flow.NextAsync("out")).Payload);
        Assert.True(MessageValue.DeepEquals(Row(("col1", "say \"hi\""), ("col2", "two\nlines"), ("col3", "3")), Assert.Single(rows)));
    }

    [Fact]
    public async Task Empty_fields_are_left_out_unless_asked_for()
    {
        await using var flow = await StartAsync(Flow(
            Csv(temp: "a,b,c", multi: "mult"),
            new { id = "csv2", type = "csv", temp = "a,b,c", sep = ",", multi = "mult", include_empty_strings = true, include_null_values = true, wires = new[] { new[] { "out2" } } },
            new { id = "out", type = "test-capture" },
            new { id = "out2", type = "test-capture" }));
        await flow.SendAsync("csv", "1,,\"\"");
        await flow.SendAsync("csv2", "1,,\"\"");
        var plain = Assert.IsType<List<object?>>((await flow.NextAsync("out")).Payload);
        var full = Assert.IsType<List<object?>>((await flow.NextAsync("out2")).Payload);
        Assert.True(MessageValue.DeepEquals(Row(("a", 1.0)), plain[0]));
        Assert.True(MessageValue.DeepEquals(Row(("a", 1.0), ("b", null), ("c", "")), full[0]));
    }

    [Fact]
    public async Task Writes_objects_with_a_header_and_quoting()
    {
        await using var flow = await StartCsvAsync(Csv(hdrout: "all", ret: "\\r\\n"));
        await flow.SendAsync("csv", new List<object?>
        {
            Row(("name", "a,b"), ("note", "say \"x\""), ("n", 1.0)),
            Row(("name", "line\nbreak"), ("n", 2.5)),
        });
        var message = await flow.NextAsync("out");
        Assert.Equal("name,note,n\r\n\"a,b\",\"say \"\"x\"\"\",1\r\n\"line\nbreak\",,2.5\r\n", message.Payload);
        Assert.Equal("name,note,n", message["columns"]);
    }

    [Fact]
    public async Task Template_orders_columns_and_header_once_repeats_after_reset()
    {
        await using var flow = await StartCsvAsync(Csv(temp: "b,a", hdrout: "once", sep: "\\t"));
        await flow.SendAsync("csv", Row(("a", 1.0), ("b", 2.0)));
        await flow.SendAsync("csv", Row(("a", 3.0), ("b", 4.0)));
        var again = FlowMessage.WithPayload(Row(("a", 5.0), ("b", 6.0)));
        again["reset"] = true;
        await flow.SendAsync("csv", again);
        var received = await flow.Capture("out").TakeAsync(3);
        Assert.Equal(["b\ta\n2\t1\n", "4\t3\n", "b\ta\n6\t5\n"], received.Select(m => (string)m.Payload!));
    }

    [Fact]
    public async Task Writes_arrays_of_arrays_and_uses_msg_columns()
    {
        await using var flow = await StartAsync(Flow(
            Csv(),
            new { id = "csv2", type = "csv", sep = ",", hdrout = "all", wires = new[] { new[] { "out2" } } },
            new { id = "out", type = "test-capture" },
            new { id = "out2", type = "test-capture" }));
        await flow.SendAsync("csv", new List<object?> { new List<object?> { 1.0, "x" }, new List<object?> { null, true } });
        var withColumns = FlowMessage.WithPayload(Row(("a", 1.0), ("b", 2.0), ("c", 3.0)));
        withColumns["columns"] = "c,a";
        await flow.SendAsync("csv2", withColumns);
        Assert.Equal("1,x\n,true\n", (await flow.NextAsync("out")).Payload);
        Assert.Equal("c,a\n3,1\n", (await flow.NextAsync("out2")).Payload);
    }

    [Fact]
    public async Task Csv_round_trips_through_parse_and_write()
    {
        await using var flow = await StartAsync(Flow(
            new { id = "p", type = "csv", hdrin = true, multi = "mult", wires = new[] { new[] { "w" } } },
            new { id = "w", type = "csv", hdrout = "all", wires = new[] { new[] { "out" } } },
            new { id = "out", type = "test-capture" }));
        const string text = "id,label\n1,\"a, b\"\n2,\"quote \"\"q\"\"\"\n";
        await flow.SendAsync("p", text);
        Assert.Equal(text, (await flow.NextAsync("out")).Payload);
    }

    [Fact]
    public async Task Lines_fed_one_by_one_keep_the_header_of_the_first_line()
    {
        await using var flow = await StartCsvAsync(Csv(hdrin: true));
        string[] lines = ["x,y", "1,2", "3,4"];
        for (var i = 0; i < lines.Length; i++)
        {
            var message = FlowMessage.WithPayload(lines[i]);
            message["parts"] = new Dictionary<string, object?> { ["id"] = "file", ["index"] = (double)i, ["count"] = 3.0 };
            await flow.SendAsync("csv", message);
        }
        var rows = await flow.Capture("out").TakeAsync(2);
        Assert.True(MessageValue.DeepEquals(Row(("x", 3.0), ("y", 4.0)), rows[1].Payload));
        var parts = Assert.IsType<Dictionary<string, object?>>(rows[1]["parts"]);
        Assert.Equal((1.0, 2.0), ((double)parts["index"]!, (double)parts["count"]!));
    }

    [Fact]
    public async Task A_number_payload_is_an_error()
    {
        await using var flow = await StartCsvAsync(Csv());
        await flow.SendAsync("csv", 5.0);
        await flow.WaitForErrorAsync("csv expects");
    }

    [Fact]
    public void Unknown_header_mode_is_rejected_naming_the_field()
    {
        var error = Assert.Single(Validate(Flow(Csv(hdrout: "sometimes"), new { id = "out", type = "test-capture" })));
        Assert.Equal(("csv", "hdrout"), (error.NodeId, error.Field));
    }
}
