using FlowServer.Runtime;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace FlowServer.BrowserTests;

/// <summary>Deploy modes chosen in the editor, and the debug sidebar's filter and clear.</summary>
public sealed class DeployAndDebugTests(EditorFixture fixture) : IClassFixture<EditorFixture>
{
    const string TwoLines = """
        [
          {"id":"dm-tab","type":"tab","label":"Two lines","disabled":false,"info":"","env":[]},
          {"id":"dm-inject-a","type":"inject","z":"dm-tab","name":"A","props":[{"p":"payload"}],"repeat":"","once":false,"payload":"from A","payloadType":"str","x":120,"y":80,"wires":[["dm-debug-a"]]},
          {"id":"dm-debug-a","type":"debug","z":"dm-tab","name":"debug A","active":true,"tosidebar":true,"complete":"payload","targetType":"msg","x":360,"y":80,"wires":[]},
          {"id":"dm-inject-b","type":"inject","z":"dm-tab","name":"B","props":[{"p":"payload"}],"repeat":"","once":false,"payload":"from B","payloadType":"str","x":120,"y":200,"wires":[["dm-debug-b"]]},
          {"id":"dm-debug-b","type":"debug","z":"dm-tab","name":"debug B","active":true,"tosidebar":true,"complete":"payload","targetType":"msg","x":360,"y":200,"wires":[]}
        ]
        """;

    [Fact]
    public async Task Modified_nodes_restarts_only_the_changed_node_and_full_restarts_everything()
    {
        var page = await fixture.OpenEditorAsync();
        await Ui.ImportAsync(page, TwoLines);
        await Ui.DeployAsync(page);
        var runtime = fixture.Server.Services.GetRequiredService<FlowRuntime>();
        var a = runtime.Find("dm-inject-a");
        var b = runtime.Find("dm-inject-b");
        Assert.NotNull(a);
        Assert.NotNull(b);

        await SetPayloadAsync(page, "dm-inject-a", "from A, changed");
        await page.Locator(".fe-deploy-type").SelectOptionAsync("nodes");
        await Ui.DeployAsync(page);
        Assert.NotSame(a, runtime.Find("dm-inject-a"));
        Assert.Same(b, runtime.Find("dm-inject-b"));

        await SetPayloadAsync(page, "dm-inject-a", "from A, again");
        await page.Locator(".fe-deploy-type").SelectOptionAsync("full");
        await Ui.DeployAsync(page);
        Assert.NotSame(b, runtime.Find("dm-inject-b"));
        Assert.Empty(fixture.BrowserErrors);
    }

    [Fact]
    public async Task Modified_flows_restarts_the_changed_tab_and_leaves_the_other_tab_running()
    {
        var page = await fixture.OpenEditorAsync();
        await Ui.ImportAsync(page, TwoLines.Replace("dm-", "mf1-"));
        await Ui.ImportAsync(page, TwoLines.Replace("dm-", "mf2-").Replace("Two lines", "Two more lines"));
        await Ui.DeployAsync(page);
        var runtime = fixture.Server.Services.GetRequiredService<FlowRuntime>();
        var untouchedTab = new[] { runtime.Find("mf1-inject-a"), runtime.Find("mf1-debug-b") };
        var sameTabUnchanged = runtime.Find("mf2-inject-b");
        Assert.All(untouchedTab, Assert.NotNull);
        Assert.NotNull(sameTabUnchanged);

        // The second import is the current tab: change one node there.
        await SetPayloadAsync(page, "mf2-inject-a", "from A, changed");
        await page.Locator(".fe-deploy-type").SelectOptionAsync("flows");
        await Ui.DeployAsync(page);
        Assert.Same(untouchedTab[0], runtime.Find("mf1-inject-a"));
        Assert.Same(untouchedTab[1], runtime.Find("mf1-debug-b"));
        // The whole changed flow restarts, its unchanged nodes too (unlike "modified nodes").
        Assert.NotSame(sameTabUnchanged, runtime.Find("mf2-inject-b"));
        await page.Locator(".fe-node[data-node-id=mf2-inject-a] button[data-action=inject]").ClickAsync();
        await Assertions.Expect(page.Locator(".fe-debug-message[data-source=mf2-debug-a]")).ToContainTextAsync("from A, changed");
        Assert.Empty(fixture.BrowserErrors);
    }

    [Fact]
    public async Task The_debug_sidebar_filters_by_selected_node_and_clears()
    {
        var page = await fixture.OpenEditorAsync();
        await Ui.ImportAsync(page, TwoLines.Replace("dm-", "df-"));
        await Ui.DeployAsync(page);
        await page.Locator(".fe-node[data-node-id=df-inject-a] button[data-action=inject]").ClickAsync();
        await page.Locator(".fe-node[data-node-id=df-inject-b] button[data-action=inject]").ClickAsync();
        var messages = page.Locator(".fe-debug-message");
        await Assertions.Expect(messages).ToHaveCountAsync(2);

        await page.Locator(".fe-node[data-node-id=df-debug-b]").ClickAsync();
        await page.Locator("select[aria-label='Debug filter']").SelectOptionAsync("selected");
        await Assertions.Expect(messages).ToHaveCountAsync(1);
        await Assertions.Expect(messages.First).ToHaveAttributeAsync("data-source", "df-debug-b");
        await Assertions.Expect(messages.First).ToContainTextAsync("from B");

        await page.Locator("select[aria-label='Debug filter']").SelectOptionAsync("all");
        await Assertions.Expect(messages).ToHaveCountAsync(2);

        // A message's source link selects its node on the canvas, from the same tab or another one.
        await page.Locator(".fe-debug-message[data-source=df-debug-a] .fe-debug-source").ClickAsync();
        await Assertions.Expect(page.Locator(".fe-canvas .fe-node.selected")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator(".fe-node[data-node-id=df-debug-a]")).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("selected"));
        await Ui.AddTabAsync(page);
        await page.Locator(".fe-debug-message[data-source=df-debug-b] .fe-debug-source").ClickAsync();
        await Assertions.Expect(page.Locator(".fe-tab.active")).ToContainTextAsync("Two lines");
        await Assertions.Expect(page.Locator(".fe-canvas .fe-node.selected")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator(".fe-node[data-node-id=df-debug-b]")).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("selected"));

        // "current flow" shows the messages of the tab on view only.
        await page.Locator("select[aria-label='Debug filter']").SelectOptionAsync("flow");
        await Assertions.Expect(messages).ToHaveCountAsync(2);
        await page.Locator(".fe-tab").Last.ClickAsync();
        await Assertions.Expect(page.Locator(".fe-canvas .fe-node")).ToHaveCountAsync(0);
        await Assertions.Expect(messages).ToHaveCountAsync(0);
        await page.Locator("select[aria-label='Debug filter']").SelectOptionAsync("all");
        await Assertions.Expect(messages).ToHaveCountAsync(2);
        await page.Locator(".fe-debug-clear").ClickAsync();
        await Assertions.Expect(messages).ToHaveCountAsync(0);
    }

    static async Task SetPayloadAsync(IPage page, string nodeId, string payload)
    {
        await page.Locator($".fe-node[data-node-id={nodeId}]").DblClickAsync();
        var panel = page.Locator(".fe-dialog[data-type=inject]");
        await panel.Locator("[data-field=payload] input.fe-typed-value").FillAsync(payload);
        await panel.Locator("button.fe-done").ClickAsync();
        await Assertions.Expect(page.Locator(".fe-deploy-button")).ToHaveAttributeAsync("data-dirty", "true");
    }
}
