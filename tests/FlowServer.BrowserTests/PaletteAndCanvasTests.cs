using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Playwright;

namespace FlowServer.BrowserTests;

/// <summary>The palette comes from the catalog and can be searched; the canvas zooms and pans.</summary>
public sealed class PaletteAndCanvasTests(EditorFixture fixture) : IClassFixture<EditorFixture>
{
    [Fact]
    public async Task The_palette_shows_every_catalog_type_by_category_and_filters_by_search()
    {
        var page = await fixture.OpenEditorAsync();
        var catalog = JsonNode.Parse(await fixture.Server.Http.GetStringAsync("/nodes"))!.AsArray()
            .Where(t => (bool?)t!["isConfig"] != true).ToList();
        await Assertions.Expect(page.Locator(".fe-palette-node")).ToHaveCountAsync(catalog.Count);
        foreach (var category in catalog.Select(t => (string)t!["category"]!).Distinct())
            await Assertions.Expect(page.Locator($".fe-palette-category[data-category='{category}']")).ToHaveCountAsync(1);

        await page.Locator(".fe-palette-search input").FillAsync("mqtt");
        var expected = catalog.Count(t => ((string)t!["type"]!).Contains("mqtt"));
        await Assertions.Expect(page.Locator(".fe-palette-node")).ToHaveCountAsync(expected);
        Assert.True(expected >= 2);
        await page.Locator(".fe-palette-search input").FillAsync("");
        await Assertions.Expect(page.Locator(".fe-palette-node")).ToHaveCountAsync(catalog.Count);
    }

    [Fact]
    public async Task The_canvas_zooms_with_the_wheel_and_pans_by_dragging_the_background()
    {
        var page = await fixture.OpenEditorAsync();
        await Ui.AddTabAsync(page);
        await Ui.DropFromPaletteAsync(page, "inject", 300, 200);
        var node = page.Locator(".fe-node[data-type=inject]");
        var before = (await node.BoundingBoxAsync())!;
        var canvas = (await page.Locator(".fe-canvas").BoundingBoxAsync())!;

        await page.Mouse.MoveAsync(canvas.X + 600, canvas.Y + 400);
        await page.Mouse.WheelAsync(0, -400);
        var zoomed = before;
        for (var i = 0; i < 50 && Math.Abs(zoomed.Width - before.Width) < before.Width * 0.03; i++)
        {
            await Task.Delay(100);
            zoomed = (await node.BoundingBoxAsync())!;
        }
        Assert.True(Math.Abs(zoomed.Width - before.Width) >= before.Width * 0.03, $"the wheel did not zoom: {before.Width} → {zoomed.Width}");

        await page.Mouse.MoveAsync(canvas.X + 700, canvas.Y + 500);
        await page.Mouse.DownAsync();
        await page.Mouse.MoveAsync(canvas.X + 600, canvas.Y + 450, new() { Steps = 8 });
        await page.Mouse.UpAsync();
        var panned = (await node.BoundingBoxAsync())!;
        // The drag moved the pointer by (-100, -50); the first steps may go to the drag threshold.
        Assert.InRange(panned.X - zoomed.X, -110, -60);
        Assert.InRange(panned.Y - zoomed.Y, -60, -25);
        Assert.Equal(zoomed.Width, panned.Width, 1);
    }
}

/// <summary>Rule lists (change, switch) are edited row by row in the property panel.</summary>
public sealed class RuleListTests(EditorFixture fixture) : IClassFixture<EditorFixture>
{
    [Fact]
    public async Task Change_rules_are_edited_added_and_removed_in_the_panel_and_run_after_deploy()
    {
        var page = await fixture.OpenEditorAsync();
        await Ui.AddTabAsync(page);
        await Ui.DropFromPaletteAsync(page, "inject", 120, 150);
        await Ui.DropFromPaletteAsync(page, "change", 330, 150);
        await Ui.DropFromPaletteAsync(page, "debug", 540, 150);
        var change = page.Locator(".fe-node[data-type=change]");
        await Ui.WireAsync(page, page.Locator(".fe-node[data-type=inject] .fe-port-out"), change.Locator(".fe-port-in"));
        await Ui.WireAsync(page, change.Locator(".fe-port-out"), page.Locator(".fe-node[data-type=debug] .fe-port-in"));

        await change.DblClickAsync();
        var rules = page.Locator(".fe-dialog[data-type=change] .fe-list[data-list=rules]");
        var first = rules.Locator(".fe-list-row").First;
        // Typed cells: the action is a drop-down of the valid actions, values carry a type drop-down, booleans are checkboxes.
        await Assertions.Expect(first.Locator("[data-field=t] select option")).ToHaveTextAsync(["set", "change", "delete", "move"]);
        await Assertions.Expect(first.Locator("[data-field=to] select.fe-typed-type")).ToHaveValueAsync("str");
        await first.Locator("[data-field=to] input.fe-typed-value").FillAsync("rewritten by a rule");
        await first.Locator("[data-field=dc] input[type=checkbox]").CheckAsync();
        await rules.Locator(".fe-list-add").ClickAsync();
        await Assertions.Expect(rules.Locator(".fe-list-row")).ToHaveCountAsync(2);
        // A new rule starts as the default one: set msg.payload to a string.
        var second = rules.Locator(".fe-list-row").Nth(1);
        await Assertions.Expect(second.Locator("[data-field=t] select")).ToHaveValueAsync("set");
        await Assertions.Expect(second.Locator("[data-field=p] select.fe-typed-type")).ToHaveValueAsync("msg");
        await Assertions.Expect(second.Locator("[data-field=p] input.fe-typed-value")).ToHaveValueAsync("payload");
        await second.Locator("[data-field=p] input.fe-typed-value").FillAsync("topic");
        await second.Locator("[data-field=to] input.fe-typed-value").FillAsync("uns/line9");
        await rules.Locator(".fe-list-add").ClickAsync();
        await rules.Locator(".fe-list-row").Nth(2).Locator("button[title=Remove]").ClickAsync();
        await Assertions.Expect(rules.Locator(".fe-list-row")).ToHaveCountAsync(2);
        await page.Locator(".fe-dialog[data-type=change] button.fe-done").ClickAsync();

        var exported = (await Ui.ExportAsync(page, "flow")).Single(n => (string?)n!["type"] == "change")!["rules"]!.AsArray();
        Assert.Equal(JsonValueKind.True, exported[0]!["dc"]!.GetValueKind());
        Assert.Equal(JsonValueKind.False, exported[1]!["dc"]!.GetValueKind());
        Assert.Equal("topic", (string?)exported[1]!["p"]);

        await Ui.DeployAsync(page);
        await page.Locator(".fe-node[data-type=inject] button[data-action=inject]").ClickAsync();
        var message = page.Locator(".fe-debug-message").Filter(new() { HasText = "rewritten by a rule" });
        await Assertions.Expect(message).ToHaveCountAsync(1);
        await Assertions.Expect(message.Locator(".fe-debug-topic")).ToContainTextAsync("uns/line9");
    }

    [Fact]
    public async Task Switch_rules_add_output_ports_and_route_each_rule_to_its_own_wire_after_deploy()
    {
        var page = await fixture.OpenEditorAsync();
        await Ui.AddTabAsync(page);
        await Ui.DropFromPaletteAsync(page, "inject", 120, 100);
        await Ui.DropFromPaletteAsync(page, "inject", 120, 260);
        await Ui.DropFromPaletteAsync(page, "switch", 330, 180);
        await Ui.DropFromPaletteAsync(page, "debug", 560, 100);
        await Ui.DropFromPaletteAsync(page, "debug", 560, 260);
        var injects = page.Locator(".fe-node[data-type=inject]");
        var debugs = page.Locator(".fe-node[data-type=debug]");
        var routing = page.Locator(".fe-node[data-type=switch]");
        await SetInjectPayloadAsync(page, injects.Nth(0), "a");
        await SetInjectPayloadAsync(page, injects.Nth(1), "b");

        // Rule 1: == "a"; rule 2: is not empty. Stopping after the first match sends "a" on output 1 only.
        await routing.DblClickAsync();
        var panel = page.Locator(".fe-dialog[data-type=switch]");
        var rules = panel.Locator(".fe-list[data-list=rules]");
        var firstRule = rules.Locator(".fe-list-row").First;
        await Assertions.Expect(firstRule.Locator("[data-field=t] select")).ToHaveValueAsync("eq");
        await Assertions.Expect(firstRule.Locator("[data-field=v] select.fe-typed-type")).ToHaveValueAsync("str");
        await Assertions.Expect(firstRule.Locator("[data-field=case] input[type=checkbox]")).Not.ToBeCheckedAsync();
        await firstRule.Locator("[data-field=v] input.fe-typed-value").FillAsync("a");
        await rules.Locator(".fe-list-add").ClickAsync();
        await rules.Locator(".fe-list-row").Nth(1).Locator("[data-field=t] select").SelectOptionAsync("nempty");
        await panel.Locator("[data-field=checkall] select").SelectOptionAsync("false");
        await Assertions.Expect(panel.Locator(".fe-field-error")).ToHaveCountAsync(0);
        await panel.Locator("button.fe-done").ClickAsync();
        await Assertions.Expect(routing.Locator(".fe-port-out")).ToHaveCountAsync(2);

        await Ui.WireAsync(page, injects.Nth(0).Locator(".fe-port-out"), routing.Locator(".fe-port-in"));
        await Ui.WireAsync(page, injects.Nth(1).Locator(".fe-port-out"), routing.Locator(".fe-port-in"));
        await Ui.WireAsync(page, routing.Locator(".fe-port-out").Nth(0), debugs.Nth(0).Locator(".fe-port-in"));
        await Ui.WireAsync(page, routing.Locator(".fe-port-out").Nth(1), debugs.Nth(1).Locator(".fe-port-in"));
        await Assertions.Expect(page.Locator(".fe-canvas g.diagram-link")).ToHaveCountAsync(4);
        await Ui.DeployAsync(page);

        var switchId = await routing.GetAttributeAsync("data-node-id");
        var deployed = JsonNode.Parse(await fixture.Server.Http.GetStringAsync("/flows"))!.AsArray().Single(n => (string?)n!["id"] == switchId)!;
        Assert.Equal(2, (int?)deployed["outputs"]);
        Assert.Equal("false", JsonTextOf(deployed["checkall"]));
        Assert.Equal(2, deployed["wires"]!.AsArray().Count);

        var first = await debugs.Nth(0).GetAttributeAsync("data-node-id");
        var second = await debugs.Nth(1).GetAttributeAsync("data-node-id");
        await injects.Nth(1).Locator("button[data-action=inject]").ClickAsync();
        await injects.Nth(0).Locator("button[data-action=inject]").ClickAsync();
        var onFirst = page.Locator($".fe-debug-message[data-source='{first}'] .fe-debug-payload");
        var onSecond = page.Locator($".fe-debug-message[data-source='{second}'] .fe-debug-payload");
        await Assertions.Expect(onFirst).ToHaveTextAsync(["\"a\""]);
        await Assertions.Expect(onSecond).ToHaveTextAsync(["\"b\""]);
        // With "check all rules" the "a" would reach the second output too; give it time to show up if it did.
        await Task.Delay(500);
        await Assertions.Expect(onSecond).ToHaveCountAsync(1);
        Assert.Empty(fixture.BrowserErrors);
    }

    [Fact]
    public async Task A_new_modbus_decode_node_edits_its_tags_in_a_typed_table_and_deploys_numbers()
    {
        var page = await fixture.OpenEditorAsync();
        await Ui.AddTabAsync(page);
        await Ui.DropFromPaletteAsync(page, "modbus-decode", 250, 150);
        var node = page.Locator(".fe-node[data-type=modbus-decode]");
        await node.DblClickAsync();
        var panel = page.Locator(".fe-dialog[data-type=modbus-decode]");
        var tags = panel.Locator(".fe-list[data-list=tags]");
        // No tags yet, and still a table with its columns, not a JSON box.
        await Assertions.Expect(tags.Locator("table.fe-list-table th", new() { HasText = "register" })).ToHaveCountAsync(1);
        await Assertions.Expect(tags.Locator("textarea")).ToHaveCountAsync(0);
        await Assertions.Expect(tags.Locator(".fe-list-row")).ToHaveCountAsync(0);

        await tags.Locator(".fe-list-add").ClickAsync();
        var row = tags.Locator(".fe-list-row");
        await Assertions.Expect(row).ToHaveCountAsync(1);
        await Assertions.Expect(row.Locator("[data-field=type] select")).ToHaveValueAsync("uint16");
        await Assertions.Expect(row.Locator("[data-field=byteOrder] select")).ToHaveValueAsync("AB");
        await Assertions.Expect(row.Locator("[data-field=scale] input")).ToHaveValueAsync("1");
        // Emptied again, it stays a table.
        await row.Locator("button[title=Remove]").ClickAsync();
        await Assertions.Expect(row).ToHaveCountAsync(0);
        await Assertions.Expect(tags.Locator("table.fe-list-table")).ToHaveCountAsync(1);
        await Assertions.Expect(tags.Locator("textarea")).ToHaveCountAsync(0);

        await tags.Locator(".fe-list-add").ClickAsync();
        await row.Locator("[data-field=name] input").FillAsync("temperature");
        await row.Locator("[data-field=type] select").SelectOptionAsync("float32");
        await row.Locator("[data-field=register] input").FillAsync("4");
        await row.Locator("[data-field=scale] input").FillAsync("0.1");
        await Assertions.Expect(panel.Locator(".fe-field-error")).ToHaveCountAsync(0);
        await panel.Locator("button.fe-done").ClickAsync();
        await Ui.DeployAsync(page);

        var id = await node.GetAttributeAsync("data-node-id");
        var tag = JsonNode.Parse(await fixture.Server.Http.GetStringAsync("/flows"))!.AsArray().Single(n => (string?)n!["id"] == id)!["tags"]!.AsArray().Single()!;
        Assert.Equal("temperature", (string?)tag["name"]);
        Assert.Equal("float32", (string?)tag["type"]);
        Assert.Equal("AB", (string?)tag["wordOrder"]);
        foreach (var (field, value) in new[] { ("register", 4.0), ("scale", 0.1), ("offset", 0.0), ("length", 2.0) })
        {
            Assert.Equal(JsonValueKind.Number, tag[field]!.GetValueKind());
            Assert.Equal(value, (double)tag[field]!, 9);
        }
        Assert.Empty(fixture.BrowserErrors);
    }

    static string? JsonTextOf(JsonNode? value) => value is JsonValue v && v.TryGetValue<string>(out var s) ? s : value?.ToJsonString();

    static async Task SetInjectPayloadAsync(IPage page, ILocator inject, string payload)
    {
        await inject.DblClickAsync();
        var panel = page.Locator(".fe-dialog[data-type=inject]");
        await panel.Locator("[data-field=payload] select.fe-typed-type").SelectOptionAsync("str");
        await panel.Locator("[data-field=payload] input.fe-typed-value").FillAsync(payload);
        await panel.Locator("button.fe-done").ClickAsync();
        await Assertions.Expect(panel).ToHaveCountAsync(0);
    }
}
