using Microsoft.Playwright;

namespace FlowServer.BrowserTests;

/// <summary>Keeps the README's picture of the editor current: docs/editor.png is taken from a real session.</summary>
public sealed class ScreenshotTests(EditorFixture fixture) : IClassFixture<EditorFixture>
{
    [Fact]
    public async Task Takes_the_readme_screenshot_of_a_deployed_flow_with_debug_output()
    {
        var page = await fixture.OpenEditorAsync();
        await Ui.ImportAsync(page, DemoFlow);
        await Ui.DeployAsync(page);
        await page.Locator(".fe-node[data-node-id=demo-start] button[data-action=inject]").ClickAsync();
        await Assertions.Expect(page.Locator(".fe-debug-message")).ToHaveCountAsync(1);
        await page.Locator(".fe-node[data-node-id=demo-reading] button[data-action=inject]").ClickAsync();
        await Assertions.Expect(page.Locator(".fe-debug-message")).ToHaveCountAsync(2);
        await Assertions.Expect(page.Locator(".fe-node[data-node-id=demo-line] .fe-status")).ToContainTextAsync("26.5");
        await page.Locator(".fe-notice button").ClickAsync();

        var path = Path.Combine(FlowServer.Testing.Repository.Root, "docs", "editor.png");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await page.ScreenshotAsync(new() { Path = path });
        Assert.True(new FileInfo(path).Length > 10_000);

        // The JSON payload is a tree: the object folds and unfolds, nested objects too.
        var reading = page.Locator(".fe-debug-message[data-source=demo-line]").Last.Locator(".fe-debug-payload");
        var root = reading.Locator(".fe-tree-toggle").First;
        await Assertions.Expect(reading.Locator(".fe-tree-key", new() { HasText = "limits" })).ToHaveCountAsync(1);
        await Assertions.Expect(reading.Locator(".fe-tree-key", new() { HasText = "high" })).ToHaveCountAsync(0);
        var limits = reading.Locator("li", new() { Has = page.Locator(".fe-tree-key", new() { HasText = "limits" }) }).Locator(".fe-tree-toggle");
        await limits.ClickAsync();
        await Assertions.Expect(reading.Locator(".fe-tree-key", new() { HasText = "high" })).ToHaveCountAsync(1);
        await root.ClickAsync();
        await Assertions.Expect(reading.Locator(".fe-tree")).ToHaveCountAsync(0);
        await Assertions.Expect(root).ToContainTextAsync("▸");
        await root.ClickAsync();
        await Assertions.Expect(reading.Locator(".fe-tree-key", new() { HasText = "unit" })).ToHaveCountAsync(1);

        // Each message shows when it was sent (the server's local time, to the millisecond).
        var time = await page.Locator(".fe-debug-message[data-source=demo-line]").Last.Locator(".fe-debug-time").InnerTextAsync();
        Assert.Matches(@"^\d\d:\d\d:\d\d\.\d{3}$", time);
        var age = DateTime.Now.TimeOfDay - TimeSpan.ParseExact(time, @"hh\:mm\:ss\.fff", null);
        if (age < TimeSpan.FromHours(-12)) age += TimeSpan.FromDays(1); // sent just before midnight
        Assert.InRange(age.TotalMinutes, -1, 5);
    }

    const string DemoFlow = """
        [
          {"id":"demo-tab","type":"tab","label":"Line 3 telemetry","disabled":false,"info":"A reading from cell 7, shown in the debug sidebar and as the debug node's status."},
          {"id":"demo-note","type":"comment","z":"demo-tab","name":"Press the inject buttons, watch the debug sidebar","info":"","x":260,"y":60,"wires":[]},
          {"id":"demo-reading","type":"inject","z":"demo-tab","name":"cell 7 reading","props":[{"p":"payload"},{"p":"topic","vt":"str"}],"repeat":"","crontab":"","once":false,"onceDelay":0.1,"topic":"acme/plant1/line3/cell7/temperature","payload":"{\"value\":26.5,\"unit\":\"C\",\"cell\":7,\"limits\":{\"high\":25,\"low\":15}}","payloadType":"json","x":170,"y":140,"wires":[["demo-junction"]]},
          {"id":"demo-start","type":"inject","z":"demo-tab","name":"shift start","props":[{"p":"payload"},{"p":"topic","vt":"str"}],"repeat":"","crontab":"","once":false,"onceDelay":0.1,"topic":"acme/plant1/line3/shift","payload":"B shift started","payloadType":"str","x":170,"y":220,"wires":[["demo-junction"]]},
          {"id":"demo-junction","type":"junction","z":"demo-tab","x":340,"y":180,"wires":[["demo-line","demo-all"]]},
          {"id":"demo-line","type":"debug","z":"demo-tab","name":"line 3","active":true,"tosidebar":true,"console":false,"tostatus":true,"complete":"payload","targetType":"msg","x":520,"y":140,"wires":[]},
          {"id":"demo-all","type":"debug","z":"demo-tab","name":"whole message","active":false,"tosidebar":true,"console":false,"tostatus":false,"complete":"true","targetType":"full","x":540,"y":220,"wires":[]},
          {"id":"demo-catch","type":"catch","z":"demo-tab","name":"errors","scope":null,"uncaught":false,"x":150,"y":320,"wires":[["demo-errors"]]},
          {"id":"demo-errors","type":"debug","z":"demo-tab","name":"error log","active":true,"tosidebar":true,"console":true,"tostatus":false,"complete":"error","targetType":"msg","x":520,"y":320,"wires":[]}
        ]
        """;
}
