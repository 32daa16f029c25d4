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
        await rules.Locator(".fe-list-row").First.Locator("input[title=to]").FillAsync("rewritten by a rule");
        await rules.Locator(".fe-list-add").ClickAsync();
        await Assertions.Expect(rules.Locator(".fe-list-row")).ToHaveCountAsync(2);
        var second = rules.Locator(".fe-list-row").Nth(1);
        await second.Locator("input[title=t]").FillAsync("set");
        await second.Locator("input[title=p]").FillAsync("topic");
        await second.Locator("input[title=pt]").FillAsync("msg");
        await second.Locator("input[title=to]").FillAsync("uns/line9");
        await second.Locator("input[title=tot]").FillAsync("str");
        await rules.Locator(".fe-list-add").ClickAsync();
        await rules.Locator(".fe-list-row").Nth(2).Locator("button[title=Remove]").ClickAsync();
        await Assertions.Expect(rules.Locator(".fe-list-row")).ToHaveCountAsync(2);
        await page.Locator(".fe-dialog[data-type=change] button.fe-done").ClickAsync();

        await Ui.DeployAsync(page);
        await page.Locator(".fe-node[data-type=inject] button[data-action=inject]").ClickAsync();
        var message = page.Locator(".fe-debug-message").Filter(new() { HasText = "rewritten by a rule" });
        await Assertions.Expect(message).ToHaveCountAsync(1);
        await Assertions.Expect(message.Locator(".fe-debug-topic")).ToContainTextAsync("uns/line9");
    }
}
