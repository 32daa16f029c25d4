using System.Text.Json.Nodes;
using Microsoft.Playwright;

namespace FlowServer.BrowserTests;

public sealed class EditorTests(EditorFixture fixture) : IClassFixture<EditorFixture>
{
    [Fact]
    public async Task Builds_wires_configures_deploys_and_shows_an_injected_message_in_the_debug_sidebar()
    {
        var page = await fixture.OpenEditorAsync();

        await Ui.DropFromPaletteAsync(page, "inject", 150, 150);
        await Ui.DropFromPaletteAsync(page, "debug", 450, 150);
        var inject = page.Locator(".fe-node[data-type=inject]");
        var debug = page.Locator(".fe-node[data-type=debug]");
        await Assertions.Expect(inject).ToHaveCountAsync(1);
        await Assertions.Expect(debug).ToHaveCountAsync(1);

        await Ui.WireAsync(page, inject.Locator(".fe-port-out"), debug.Locator(".fe-port-in"));
        await Assertions.Expect(page.Locator(".fe-canvas g.diagram-link")).ToHaveCountAsync(1);

        await inject.DblClickAsync();
        var panel = page.Locator(".fe-dialog[data-type=inject]");
        await panel.Locator("[data-field=payload] select.fe-typed-type").SelectOptionAsync("str");
        await panel.Locator("[data-field=payload] input.fe-typed-value").FillAsync("hello from the browser");
        await panel.Locator("[data-field=topic] input").FillAsync("line/3");
        await panel.Locator("button.fe-done").ClickAsync();
        await Assertions.Expect(panel).ToHaveCountAsync(0);

        await Ui.DeployAsync(page);

        var flows = JsonNode.Parse(await fixture.Server.Http.GetStringAsync("/flows"))!.AsArray();
        var injectNode = flows.Single(n => (string?)n!["type"] == "inject")!;
        var debugNode = flows.Single(n => (string?)n!["type"] == "debug")!;
        Assert.Equal("hello from the browser", (string?)injectNode["payload"]);
        Assert.Equal("str", (string?)injectNode["payloadType"]);
        Assert.Equal((string?)debugNode["id"], (string?)injectNode["wires"]![0]![0]);
        Assert.Equal((string?)injectNode["z"], (string?)debugNode["z"]);

        await inject.Locator("button[data-action=inject]").ClickAsync();
        var message = page.Locator(".fe-debug-message").Filter(new() { HasText = "hello from the browser" });
        await Assertions.Expect(message).ToHaveCountAsync(1);
        await Assertions.Expect(message.Locator(".fe-debug-topic")).ToContainTextAsync("line/3");
    }
}
