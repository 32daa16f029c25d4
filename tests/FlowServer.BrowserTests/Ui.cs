using Microsoft.Playwright;

namespace FlowServer.BrowserTests;

/// <summary>Gestures on the editor, made with the real mouse as a user makes them.</summary>
static class Ui
{
    /// <summary>Drags a palette entry onto the canvas, to a point relative to the canvas' top-left corner.</summary>
    public static async Task DropFromPaletteAsync(IPage page, string type, int x, int y)
    {
        var before = await page.Locator($".fe-node[data-type='{type}']").CountAsync();
        await page.Locator($".fe-palette-node[data-type='{type}']").DragToAsync(page.Locator(".fe-canvas"), new() { TargetPosition = new() { X = x, Y = y } });
        await Assertions.Expect(page.Locator($".fe-node[data-type='{type}']")).ToHaveCountAsync(before + 1);
    }

    /// <summary>Draws a link from one port to another with raw mouse moves (the diagram listens to pointer events).</summary>
    public static async Task WireAsync(IPage page, ILocator from, ILocator to)
    {
        var a = (await from.BoundingBoxAsync())!;
        var b = (await to.BoundingBoxAsync())!;
        await page.Mouse.MoveAsync(a.X + a.Width / 2, a.Y + a.Height / 2);
        await page.Mouse.DownAsync();
        await page.Mouse.MoveAsync((a.X + b.X) / 2, (a.Y + b.Y) / 2 + 10, new() { Steps = 5 });
        await page.Mouse.MoveAsync(b.X + b.Width / 2, b.Y + b.Height / 2, new() { Steps = 5 });
        await page.Mouse.UpAsync();
    }

    public static async Task DeployAsync(IPage page)
    {
        await page.Locator(".fe-deploy-button").ClickAsync();
        await Assertions.Expect(page.Locator(".fe-notice")).ToContainTextAsync("Successfully deployed");
        await Assertions.Expect(page.Locator(".fe-deploy-button")).ToHaveAttributeAsync("data-dirty", "false");
    }

    /// <summary>Adds a flow tab and waits until its empty canvas is shown.</summary>
    public static async Task AddTabAsync(IPage page)
    {
        var tabs = await page.Locator(".fe-tab").CountAsync();
        await page.Locator(".fe-tab-add").ClickAsync();
        await Assertions.Expect(page.Locator(".fe-tab")).ToHaveCountAsync(tabs + 1);
        await Assertions.Expect(page.Locator(".fe-canvas .fe-node")).ToHaveCountAsync(0);
    }

    public static async Task ImportAsync(IPage page, string json)
    {
        await page.Locator(".fe-open-import").ClickAsync();
        var dialog = page.Locator(".fe-import");
        await dialog.Locator("textarea").FillAsync(json);
        await dialog.Locator(".fe-import-confirm").ClickAsync();
        await Assertions.Expect(dialog).ToHaveCountAsync(0);
    }

    /// <summary>Opens the export dialog with a scope (selected, flow, all) and returns its JSON.</summary>
    public static async Task<System.Text.Json.Nodes.JsonArray> ExportAsync(IPage page, string scope)
    {
        await page.Locator(".fe-open-export").ClickAsync();
        var dialog = page.Locator(".fe-export");
        await dialog.Locator($"input[type=radio][value={scope}]").CheckAsync();
        // The text follows the scope after a round trip to the server.
        await Assertions.Expect(dialog.Locator("textarea")).ToHaveAttributeAsync("data-scope", scope);
        var text = await dialog.Locator("textarea").InputValueAsync();
        await dialog.Locator("button", new() { HasText = "Close" }).ClickAsync();
        return System.Text.Json.Nodes.JsonNode.Parse(text)!.AsArray();
    }
}
