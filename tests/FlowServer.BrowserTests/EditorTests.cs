using System.Text.Json.Nodes;
using Microsoft.Playwright;

namespace FlowServer.BrowserTests;

public sealed class EditorTests(EditorFixture fixture) : IClassFixture<EditorFixture>
{
    [Fact]
    public async Task Shows_the_palette_from_the_catalog()
    {
        var page = await fixture.OpenEditorAsync();
        Assert.True(await page.Locator(".fe-palette-node[data-type=inject]").IsVisibleAsync());
        Assert.True(await page.Locator(".fe-palette-node[data-type=debug]").IsVisibleAsync());
        await page.ScreenshotAsync(new() { Path = "/tmp/fe-shot.png" });
    }
}
