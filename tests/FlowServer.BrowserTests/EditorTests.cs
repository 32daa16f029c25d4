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

        await debug.DblClickAsync();
        var debugPanel = page.Locator(".fe-dialog[data-type=debug]");
        await debugPanel.Locator("[data-field=tostatus] input[type=checkbox]").CheckAsync();
        await debugPanel.Locator("button.fe-done").ClickAsync();

        await Assertions.Expect(page.Locator(".fe-deploy-button")).ToHaveAttributeAsync("data-dirty", "true");
        await Assertions.Expect(inject.Locator(".fe-node-changed")).ToHaveCountAsync(1);
        await Assertions.Expect(debug.Locator(".fe-node-changed")).ToHaveCountAsync(1);
        await Ui.DeployAsync(page);
        await Assertions.Expect(inject.Locator(".fe-node-changed")).ToHaveCountAsync(0);
        await Assertions.Expect(debug.Locator(".fe-node-changed")).ToHaveCountAsync(0);

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
        await Assertions.Expect(debug.Locator(".fe-status")).ToContainTextAsync("hello from the browser");

        // The debug node's button turns its output off: a change to deploy.
        await debug.Locator("button[data-action=toggle]").ClickAsync();
        await Assertions.Expect(debug.Locator("button[data-action=toggle]")).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("off"));
        await Assertions.Expect(page.Locator(".fe-deploy-button")).ToHaveAttributeAsync("data-dirty", "true");
        await Assertions.Expect(debug.Locator(".fe-node-changed")).ToHaveCountAsync(1);
        // Deployed off, the debug node shows nothing more; switched on again, it does.
        await Ui.DeployAsync(page);
        await inject.Locator("button[data-action=inject]").ClickAsync();
        await Assertions.Expect(page.Locator(".fe-notice")).ToContainTextAsync("Injected");
        await Task.Delay(1000);
        await Assertions.Expect(message).ToHaveCountAsync(1);
        await debug.Locator("button[data-action=toggle]").ClickAsync();
        await Ui.DeployAsync(page);
        await inject.Locator("button[data-action=inject]").ClickAsync();
        await Assertions.Expect(message).ToHaveCountAsync(2);
        Assert.Empty(fixture.BrowserErrors);
    }

    [Fact]
    public async Task An_invalid_property_is_shown_on_the_field_and_the_node_and_blocks_deploy()
    {
        var page = await fixture.OpenEditorAsync();
        await Ui.AddTabAsync(page);
        await Ui.DropFromPaletteAsync(page, "inject", 200, 120);
        var inject = page.Locator(".fe-node[data-type=inject]");

        await inject.DblClickAsync();
        var panel = page.Locator(".fe-dialog[data-type=inject]");
        await panel.Locator("[data-field=crontab] input").FillAsync("every full moon");
        await Assertions.Expect(panel.Locator("[data-field=crontab] .fe-field-error")).ToContainTextAsync("cron");
        await panel.Locator("button.fe-done").ClickAsync();
        await Assertions.Expect(inject).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("invalid"));

        var before = await fixture.Server.Http.GetStringAsync("/flows");
        await page.Locator(".fe-deploy-button").ClickAsync();
        await Assertions.Expect(page.Locator(".fe-notice.error")).ToContainTextAsync("crontab");
        Assert.Equal(before, await fixture.Server.Http.GetStringAsync("/flows"));
        Assert.Contains("crontab", await inject.GetAttributeAsync("title") ?? "");
    }

    [Fact]
    public async Task Imports_a_node_red_export_with_its_nodes_and_wires_and_renames_clashing_ids()
    {
        var page = await fixture.OpenEditorAsync();
        await Ui.ImportAsync(page, NodeRedExport);
        await Assertions.Expect(page.Locator(".fe-tab.active")).ToContainTextAsync("Imported line");
        await Assertions.Expect(page.Locator(".fe-node")).ToHaveCountAsync(4);
        await Assertions.Expect(page.Locator(".fe-canvas g.diagram-link")).ToHaveCountAsync(2);
        await Assertions.Expect(page.Locator(".fe-node[data-node-id=nr-inject]")).ToContainTextAsync("tick");
        var box = (await page.Locator(".fe-node[data-node-id=nr-inject]").BoundingBoxAsync())!;
        var canvas = (await page.Locator(".fe-canvas").BoundingBoxAsync())!;
        Assert.InRange(box.X + box.Width / 2 - canvas.X, 140, 160); // Node-RED's x is the node's centre

        // The same export again, as an uploaded file: every id clashes, so all are renamed and the wires follow.
        var tabs = await page.Locator(".fe-tab").CountAsync();
        await page.Locator(".fe-open-import").ClickAsync();
        // Blazor's InputFile hooks its element over the circuit after the dialog renders: a file
        // set before that raises a change nobody listens to (the textarea stayed empty on a CI-like run).
        await page.WaitForFunctionAsync("() => document.querySelector('.fe-import input[type=file]')?._blazorInputFileNextFileId !== undefined");
        await page.Locator(".fe-import input[type=file]").SetInputFilesAsync(new FilePayload { Name = "flows.json", MimeType = "application/json", Buffer = System.Text.Encoding.UTF8.GetBytes(NodeRedExport) });
        await Assertions.Expect(page.Locator(".fe-import textarea")).ToHaveValueAsync(new System.Text.RegularExpressions.Regex("nr-inject"));
        await page.Locator(".fe-import-confirm").ClickAsync();
        await Assertions.Expect(page.Locator(".fe-tab")).ToHaveCountAsync(tabs + 1);
        await Assertions.Expect(page.Locator(".fe-node")).ToHaveCountAsync(4);
        await Assertions.Expect(page.Locator(".fe-node[data-node-id=nr-inject]")).ToHaveCountAsync(0);
        await Assertions.Expect(page.Locator(".fe-canvas g.diagram-link")).ToHaveCountAsync(2);
    }

    [Fact]
    public async Task Export_and_re_import_round_trip_the_flow_json()
    {
        var page = await fixture.OpenEditorAsync();
        await Ui.ImportAsync(page, NodeRedExport.Replace("nr-", "rt-"));
        await Ui.DeployAsync(page);

        var exported = await Ui.ExportAsync(page, "flow");

        // All flows: every tab of the editor, with the imported one among them.
        var all = await Ui.ExportAsync(page, "all");
        var allTabs = all.Where(n => (string?)n!["type"] == "tab").Select(n => (string?)n!["id"]).ToList();
        Assert.Equal(await page.Locator(".fe-tab").CountAsync(), allTabs.Count);
        Assert.Contains("rt-tab", allTabs);
        Assert.True(allTabs.Count >= 2, "the editor has its first tab besides the imported one");
        Assert.All(exported, n => Assert.Contains(all, m => JsonNode.DeepEquals(n, m)));

        // Copy to clipboard puts exactly the text of the box on the clipboard.
        await page.Locator(".fe-open-export").ClickAsync();
        await page.Locator(".fe-export input[type=radio][value=all]").CheckAsync();
        await Assertions.Expect(page.Locator(".fe-export textarea")).ToHaveAttributeAsync("data-scope", "all");
        await page.Locator(".fe-export-copy").ClickAsync();
        await Assertions.Expect(page.Locator(".fe-notice")).ToContainTextAsync("Copied to the clipboard");
        Assert.Equal(await page.Locator(".fe-export textarea").InputValueAsync(), await page.EvaluateAsync<string>("navigator.clipboard.readText()"));
        await page.Locator(".fe-export button", new() { HasText = "Close" }).ClickAsync();

        await page.Locator(".fe-open-export").ClickAsync();
        var download = await page.RunAndWaitForDownloadAsync(() => page.Locator(".fe-export-download").ClickAsync());
        Assert.Equal("flows.json", download.SuggestedFilename);
        var downloaded = JsonNode.Parse(await File.ReadAllTextAsync((await download.PathAsync())!))!.AsArray();
        Assert.True(JsonNode.DeepEquals(exported, downloaded));
        await page.Locator(".fe-export button", new() { HasText = "Close" }).ClickAsync();
        var original = JsonNode.Parse(NodeRedExport.Replace("nr-", "rt-"))!.AsArray();
        Assert.Equal(original.Count, exported.Count);
        foreach (var node in original)
        {
            var match = exported.Single(n => (string?)n!["id"] == (string?)node!["id"]);
            Assert.True(JsonNode.DeepEquals(node, match), $"{node!["id"]} changed on export:\n{node}\n{match}");
        }

        // What was exported lands again, in a fresh editor, with the same nodes and wires.
        var again = await fixture.OpenEditorAsync();
        await Ui.ImportAsync(again, exported.ToJsonString());
        await Assertions.Expect(again.Locator(".fe-node")).ToHaveCountAsync(4);
        await Assertions.Expect(again.Locator(".fe-canvas g.diagram-link")).ToHaveCountAsync(2);
        var reexported = await Ui.ExportAsync(again, "flow");
        Assert.Equal(exported.Count, reexported.Count);
        Assert.Equal(
            exported.Select(n => (string)n!["type"]!).Order(),
            reexported.Select(n => (string)n!["type"]!).Order());
    }

    [Fact]
    public async Task Deletes_with_the_keyboard_and_undoes_and_redoes()
    {
        var page = await fixture.OpenEditorAsync();
        await Ui.AddTabAsync(page);
        await Ui.DropFromPaletteAsync(page, "inject", 150, 100);
        await Ui.DropFromPaletteAsync(page, "debug", 400, 100);
        var nodes = page.Locator(".fe-canvas .fe-node");
        await Assertions.Expect(nodes).ToHaveCountAsync(2);

        await page.Locator(".fe-node[data-type=debug]").ClickAsync();
        await page.Keyboard.PressAsync("Delete");
        await Assertions.Expect(nodes).ToHaveCountAsync(1);
        await page.Locator(".fe-undo").ClickAsync();
        await Assertions.Expect(nodes).ToHaveCountAsync(2);
        await page.Locator(".fe-redo").ClickAsync();
        await Assertions.Expect(nodes).ToHaveCountAsync(1);

        // Copy and paste: the copy gets a new id.
        await page.Locator(".fe-node[data-type=inject]").ClickAsync();
        await page.Keyboard.PressAsync("Control+c");
        await page.Keyboard.PressAsync("Control+v");
        await Assertions.Expect(page.Locator(".fe-node[data-type=inject]")).ToHaveCountAsync(2);
        var copied = JsonNode.Parse(await page.EvaluateAsync<string>("navigator.clipboard.readText()"))!.AsArray();
        Assert.Equal("inject", (string?)copied.Single()!["type"]);

        // The system clipboard carries the copy to another tab.
        await page.Locator(".fe-tab-add").ClickAsync();
        await Assertions.Expect(nodes).ToHaveCountAsync(0);
        await page.Locator(".fe-canvas").ClickAsync(new() { Position = new() { X = 300, Y = 300 } });
        await page.Keyboard.PressAsync("Control+v");
        await Assertions.Expect(page.Locator(".fe-node[data-type=inject]")).ToHaveCountAsync(1);

        // Cut: the node leaves the canvas for the clipboard, and pastes back.
        var pasted = page.Locator(".fe-node[data-type=inject]");
        var pastedId = await pasted.GetAttributeAsync("data-node-id");
        await pasted.ClickAsync();
        await page.Keyboard.PressAsync("Control+x");
        await Assertions.Expect(nodes).ToHaveCountAsync(0);
        var cut = JsonNode.Parse(await page.EvaluateAsync<string>("navigator.clipboard.readText()"))!.AsArray();
        Assert.Equal(pastedId, (string?)cut.Single()!["id"]);
        await page.Locator(".fe-canvas").ClickAsync(new() { Position = new() { X = 300, Y = 300 } });
        await page.Keyboard.PressAsync("Control+v");
        await Assertions.Expect(page.Locator(".fe-node[data-type=inject]")).ToHaveCountAsync(1);

        // The property panel's Delete button removes the node it edits; undo brings it back.
        await page.Locator(".fe-node[data-type=inject]").DblClickAsync();
        await page.Locator(".fe-dialog[data-type=inject] button.fe-delete").ClickAsync();
        await Assertions.Expect(page.Locator(".fe-dialog")).ToHaveCountAsync(0);
        await Assertions.Expect(nodes).ToHaveCountAsync(0);
        await page.Locator(".fe-undo").ClickAsync();
        await Assertions.Expect(nodes).ToHaveCountAsync(1);
    }

    [Fact]
    public async Task Moves_a_node_deletes_a_wire_and_undoes_and_redoes_both_with_the_keyboard()
    {
        var page = await fixture.OpenEditorAsync();
        await Ui.AddTabAsync(page);
        await Ui.DropFromPaletteAsync(page, "inject", 150, 120);
        await Ui.DropFromPaletteAsync(page, "debug", 420, 120);
        var inject = page.Locator(".fe-node[data-type=inject]");
        var debug = page.Locator(".fe-node[data-type=debug]");
        var links = page.Locator(".fe-canvas g.diagram-link");
        await Ui.WireAsync(page, inject.Locator(".fe-port-out"), debug.Locator(".fe-port-in"));
        await Assertions.Expect(links).ToHaveCountAsync(1);
        await Ui.DeployAsync(page);
        var id = await inject.GetAttributeAsync("data-node-id");
        var (x, y) = await DeployedPositionAsync(id);

        // A click on the middle of the (straight) link selects it; Delete removes the wire.
        var from = (await inject.Locator(".fe-port-out").BoundingBoxAsync())!;
        var to = (await debug.Locator(".fe-port-in").BoundingBoxAsync())!;
        await page.Mouse.ClickAsync((from.X + from.Width + to.X) / 2, from.Y + from.Height / 2);
        await page.Keyboard.PressAsync("Delete");
        await Assertions.Expect(links).ToHaveCountAsync(0);
        await Assertions.Expect(inject.Locator(".fe-node-changed")).ToHaveCountAsync(1);
        await page.Keyboard.PressAsync("Control+z");
        await Assertions.Expect(links).ToHaveCountAsync(1);
        await page.Keyboard.PressAsync("Control+y");
        await Assertions.Expect(links).ToHaveCountAsync(0);
        await page.Keyboard.PressAsync("Control+Shift+z");
        await Assertions.Expect(links).ToHaveCountAsync(0);
        await page.Keyboard.PressAsync("Control+z");
        await Assertions.Expect(links).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator(".fe-deploy-button")).ToHaveAttributeAsync("data-dirty", "false");

        // Drag the inject node by (+100, +50); the grid may snap it by up to 10 px.
        var box = (await inject.BoundingBoxAsync())!;
        await page.Mouse.MoveAsync(box.X + box.Width / 2, box.Y + box.Height / 2);
        await page.Mouse.DownAsync();
        await page.Mouse.MoveAsync(box.X + box.Width / 2 + 100, box.Y + box.Height / 2 + 50, new() { Steps = 10 });
        await page.Mouse.UpAsync();
        await Assertions.Expect(inject.Locator(".fe-node-changed")).ToHaveCountAsync(1);
        await Ui.DeployAsync(page);
        var (movedX, movedY) = await DeployedPositionAsync(id);
        Assert.InRange(movedX - x, 90, 110);
        Assert.InRange(movedY - y, 40, 60);
        await Assertions.Expect(links).ToHaveCountAsync(1);

        await inject.ClickAsync();
        await page.Keyboard.PressAsync("Control+z");
        await Assertions.Expect(page.Locator(".fe-deploy-button")).ToHaveAttributeAsync("data-dirty", "true");
        var undone = (await Ui.ExportAsync(page, "flow")).Single(n => (string?)n!["id"] == id)!;
        Assert.Equal((x, y), ((double)undone["x"]!, (double)undone["y"]!));
        var back = (await inject.BoundingBoxAsync())!;
        Assert.InRange(back.X - box.X, -2, 2);
        Assert.Empty(fixture.BrowserErrors);
    }

    async Task<(double X, double Y)> DeployedPositionAsync(string? id)
    {
        var node = JsonNode.Parse(await fixture.Server.Http.GetStringAsync("/flows"))!.AsArray().Single(n => (string?)n!["id"] == id)!;
        return ((double)node["x"]!, (double)node["y"]!);
    }

    [Fact]
    public async Task Imports_a_selection_without_a_tab_onto_the_current_tab()
    {
        var page = await fixture.OpenEditorAsync();
        await Ui.AddTabAsync(page);
        var tabs = await page.Locator(".fe-tab").CountAsync();
        var selection = new JsonArray(JsonNode.Parse(NodeRedExport.Replace("nr-", "sel2-"))!.AsArray()
            .Where(n => (string?)n!["id"] is "sel2-inject" or "sel2-debug")
            .Select(n => { var copy = n!.DeepClone().AsObject(); copy.Remove("z"); return (JsonNode)copy; }).ToArray());
        await Ui.ImportAsync(page, selection.ToJsonString());
        await Assertions.Expect(page.Locator(".fe-tab")).ToHaveCountAsync(tabs);
        await Assertions.Expect(page.Locator(".fe-canvas .fe-node")).ToHaveCountAsync(2);
        await Assertions.Expect(page.Locator(".fe-canvas g.diagram-link")).ToHaveCountAsync(1);
        var flow = await Ui.ExportAsync(page, "flow");
        var tab = (string?)flow.Single(n => (string?)n!["type"] == "tab")!["id"];
        Assert.Equal(3, flow.Count);
        Assert.All(flow.Where(n => (string?)n!["type"] != "tab"), n => Assert.Equal(tab, (string?)n!["z"]));
    }

    [Fact]
    public async Task Selects_with_shift_click_and_a_box_and_shows_help_in_the_info_sidebar()
    {
        var page = await fixture.OpenEditorAsync();
        await Ui.ImportAsync(page, NodeRedExport.Replace("nr-", "sel-"));
        var inject = page.Locator(".fe-node[data-node-id=sel-inject]");
        var debug = page.Locator(".fe-node[data-node-id=sel-debug]");

        await inject.ClickAsync();
        await page.Locator(".fe-sidebar-tabs button", new() { HasText = "info" }).ClickAsync();
        await Assertions.Expect(page.Locator(".fe-info")).ToContainTextAsync("Injects a message into a flow");

        await debug.ClickAsync(new() { Modifiers = [KeyboardModifier.Shift] });
        await Assertions.Expect(page.Locator(".fe-canvas .fe-node.selected")).ToHaveCountAsync(2);
        await page.Locator(".fe-node[data-node-id=sel-catch]").ClickAsync(new() { Modifiers = [KeyboardModifier.Control] });
        await Assertions.Expect(page.Locator(".fe-canvas .fe-node.selected")).ToHaveCountAsync(3);

        // A shift-drag box around the right-hand column selects both debug nodes and nothing else.
        var a = (await page.Locator(".fe-node[data-node-id=sel-debug]").BoundingBoxAsync())!;
        var b = (await page.Locator(".fe-node[data-node-id=sel-errors]").BoundingBoxAsync())!;
        await page.Locator(".fe-canvas").ClickAsync(new() { Position = new() { X = 5, Y = 5 } });
        await page.Keyboard.DownAsync("Shift");
        await page.Mouse.MoveAsync(a.X - 15, a.Y - 15);
        await page.Mouse.DownAsync();
        await page.Mouse.MoveAsync(b.X + b.Width + 15, b.Y + b.Height + 15, new() { Steps = 6 });
        await page.Mouse.UpAsync();
        await page.Keyboard.UpAsync("Shift");
        await Assertions.Expect(page.Locator(".fe-canvas .fe-node.selected")).ToHaveCountAsync(2);
        await Assertions.Expect(page.Locator(".fe-canvas .fe-node.selected[data-type=debug]")).ToHaveCountAsync(2);
    }

    [Fact]
    public async Task Adds_renames_disables_and_deletes_flow_tabs()
    {
        var page = await fixture.OpenEditorAsync();
        var tabs = page.Locator(".fe-tab");
        var count = await tabs.CountAsync();
        await page.Locator(".fe-tab-add").ClickAsync();
        await Assertions.Expect(tabs).ToHaveCountAsync(count + 1);

        await page.Locator(".fe-tab.active").DblClickAsync();
        await page.Locator(".fe-tab.active input").FillAsync("Packaging");
        await page.Locator(".fe-tab.active input").PressAsync("Enter");
        await Assertions.Expect(page.Locator(".fe-tab.active")).ToHaveTextAsync("Packaging");

        await page.Locator(".fe-tab-toggle").ClickAsync();
        await Assertions.Expect(page.Locator(".fe-tab.active")).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("disabled"));

        await page.Locator(".fe-tab-delete").ClickAsync();
        await Assertions.Expect(tabs).ToHaveCountAsync(count);
        await Assertions.Expect(page.Locator(".fe-tab", new() { HasText = "Packaging" })).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task A_double_click_opens_the_node_it_hit_and_only_a_node()
    {
        var page = await fixture.OpenEditorAsync();
        await Ui.AddTabAsync(page);
        await Ui.DropFromPaletteAsync(page, "inject", 150, 150);
        var inject = page.Locator(".fe-node[data-type=inject]");
        var panel = page.Locator(".fe-dialog[data-type=inject]");

        // A click on the node, then a double click on the empty canvas: the canvas was hit, not the node.
        await inject.ClickAsync();
        await page.Locator(".fe-canvas").DblClickAsync(new() { Position = new() { X = 600, Y = 400 } });
        await Task.Delay(500);
        await Assertions.Expect(page.Locator(".fe-dialog")).ToHaveCountAsync(0);

        // Two single clicks on the node, further apart than a double click: no panel either.
        await inject.ClickAsync();
        await Task.Delay(800);
        await inject.ClickAsync();
        await Task.Delay(500);
        await Assertions.Expect(page.Locator(".fe-dialog")).ToHaveCountAsync(0);

        await inject.DblClickAsync();
        await Assertions.Expect(panel).ToHaveCountAsync(1);
        Assert.Empty(fixture.BrowserErrors);
    }

    // These two find their node types in the catalog (the function node's code, the MQTT nodes'
    // broker): they fail until a type with a code property and one with a config-node property exist.
    [Fact]
    public async Task Edits_code_properties_in_monaco()
    {
        var (type, property) = await FirstPropertyOfKindAsync("code");
        var page = await fixture.OpenEditorAsync();
        await Ui.AddTabAsync(page);
        await Ui.DropFromPaletteAsync(page, type, 200, 200);
        await page.Locator($".fe-node[data-type='{type}']").DblClickAsync();
        var code = page.Locator($".fe-code[data-code='{property}']");
        await Assertions.Expect(code.Locator(".monaco-editor")).ToHaveCountAsync(1);
        await code.Locator(".view-lines").ClickAsync();
        // A syntax error gets its squiggle from Monaco's JavaScript language service, which runs
        // in a web worker of its own files: they are served.
        await page.Keyboard.PressAsync("Control+a");
        await page.Keyboard.TypeAsync("return (msg;");
        await Assertions.Expect(code.Locator(".squiggly-error").First).ToBeVisibleAsync();
        await page.Keyboard.PressAsync("Control+a");
        await page.Keyboard.TypeAsync("return msg;");
        var outputs = await OutputsPropertyAsync(type);
        if (outputs is not null) await page.Locator($"[data-field='{outputs}'] input").FillAsync("3");
        await page.Locator("button.fe-done").ClickAsync();
        if (outputs is not null) await Assertions.Expect(page.Locator($".fe-node[data-type='{type}'] .fe-port-out")).ToHaveCountAsync(3);

        var exported = await Ui.ExportAsync(page, "flow");
        Assert.Equal("return msg;", (string?)exported.Single(n => (string?)n!["type"] == type)![property]);
        Assert.Empty(fixture.BrowserErrors);
    }

    [Fact]
    public async Task Adds_a_config_node_from_the_property_panel()
    {
        var (type, property) = await FirstPropertyOfKindAsync("configNode");
        var page = await fixture.OpenEditorAsync();
        await Ui.AddTabAsync(page);
        await Ui.DropFromPaletteAsync(page, type, 200, 200);
        await page.Locator($".fe-node[data-type='{type}']").DblClickAsync();
        await page.Locator($"[data-field='{property}'] .fe-config-add").ClickAsync();
        var panels = page.Locator(".fe-dialog");
        await Assertions.Expect(panels).ToHaveCountAsync(2);
        await panels.Last.Locator("button.fe-done").ClickAsync();
        await Assertions.Expect(panels).ToHaveCountAsync(1);
        var configId = await page.Locator($"[data-field='{property}'] select").InputValueAsync();
        Assert.NotEmpty(configId);
        await page.Locator("button.fe-done").ClickAsync();

        await page.Locator($".fe-node[data-type='{type}']").ClickAsync();
        var exported = await Ui.ExportAsync(page, "selected");
        Assert.Equal(configId, (string?)exported.Single(n => (string?)n!["type"] == type)![property]);
        Assert.Contains(exported, n => (string?)n!["id"] == configId);
    }

    [Fact]
    public async Task Edits_a_config_node_with_the_pencil_and_keeps_its_secret_out_of_exports_and_the_clipboard()
    {
        var catalog = JsonNode.Parse(await fixture.Server.Http.GetStringAsync("/nodes"))!.AsArray();
        var (type, property, secret) = catalog.Where(t => (bool?)t!["isConfig"] != true)
            .SelectMany(t => t!["properties"]!.AsArray().Where(p => (string?)p!["editor"] == "configNode").Select(p => ((string)t!["type"]!, (string)p!["name"]!, (string)p!["configType"]!)))
            .Select(r => (r.Item1, r.Item2, Secret: (string?)catalog.Single(t => (string?)t!["type"] == r.Item3)!["credentials"]!.AsArray().FirstOrDefault(c => (bool?)c!["secret"] == true)?["name"]))
            .First(r => r.Secret is not null);
        const string password = "pw-that-must-not-leak-7f3a";
        var page = await fixture.OpenEditorAsync();
        await Ui.AddTabAsync(page);
        await Ui.DropFromPaletteAsync(page, type, 200, 200);
        var node = page.Locator($".fe-node[data-type='{type}']");
        await node.DblClickAsync();
        var panels = page.Locator(".fe-dialog");
        await page.Locator($"[data-field='{property}'] .fe-config-add").ClickAsync();
        await Assertions.Expect(panels).ToHaveCountAsync(2);
        await panels.Last.Locator("button.fe-done").ClickAsync();
        await Assertions.Expect(panels).ToHaveCountAsync(1);
        var configId = await page.Locator($"[data-field='{property}'] select").InputValueAsync();

        // ✎ opens the chosen config node: rename it and give it a password.
        await page.Locator($"[data-field='{property}'] .fe-config-edit").ClickAsync();
        await Assertions.Expect(panels).ToHaveCountAsync(2);
        await Assertions.Expect(panels.Last).ToHaveAttributeAsync("data-editing", configId);
        await panels.Last.Locator("[data-field=name] input").FillAsync("edited broker");
        await panels.Last.Locator($"[data-field='{secret}'] input").FillAsync(password);
        await panels.Last.Locator("button.fe-done").ClickAsync();
        await Assertions.Expect(panels).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator($"[data-field='{property}'] select option[value='{configId}']")).ToContainTextAsync("edited broker");
        await page.Locator("button.fe-done").ClickAsync();

        await node.ClickAsync();
        foreach (var scope in new[] { "selected", "flow", "all" })
        {
            var exported = await Ui.ExportAsync(page, scope);
            var config = exported.Single(n => (string?)n!["id"] == configId)!;
            Assert.Equal("edited broker", (string?)config["name"]);
            Assert.DoesNotContain(password, exported.ToJsonString());
            Assert.All(exported, n => Assert.False(n!.AsObject().ContainsKey("credentials"), $"{scope} export carries credentials of {n["id"]}"));
        }
        await page.Locator(".fe-open-export").ClickAsync();
        var download = await page.RunAndWaitForDownloadAsync(() => page.Locator(".fe-export-download").ClickAsync());
        Assert.DoesNotContain(password, await File.ReadAllTextAsync((await download.PathAsync())!));
        await page.Locator(".fe-export button", new() { HasText = "Close" }).ClickAsync();
        await node.ClickAsync();
        await page.Keyboard.PressAsync("Control+c");
        await Assertions.Expect(page.Locator(".fe-notice")).ToContainTextAsync("Copied");
        var copied = await page.EvaluateAsync<string>("navigator.clipboard.readText()");
        Assert.Contains(configId, copied);
        Assert.DoesNotContain(password, copied);
        Assert.Empty(fixture.BrowserErrors);
    }

    async Task<string?> OutputsPropertyAsync(string type) =>
        (string?)JsonNode.Parse(await fixture.Server.Http.GetStringAsync("/nodes"))!.AsArray().Single(t => (string?)t!["type"] == type)!["outputsProperty"];

    async Task<(string Type, string Property)> FirstPropertyOfKindAsync(string editor)
    {
        var catalog = JsonNode.Parse(await fixture.Server.Http.GetStringAsync("/nodes"))!.AsArray();
        var match = catalog.Where(t => (bool?)t!["isConfig"] != true)
            .SelectMany(t => t!["properties"]!.AsArray().Where(p => (string?)p!["editor"] == editor).Select(p => ((string)t!["type"]!, (string)p!["name"]!)))
            .FirstOrDefault();
        Assert.True(match != default, $"no node type in the catalog has a '{editor}' property");
        return match;
    }

    /// <summary>A Node-RED 5 export: a tab, an inject wired to a debug and a catch wired to a second debug.</summary>
    const string NodeRedExport = """
        [
          {"id":"nr-tab","type":"tab","label":"Imported line","disabled":false,"info":"from Node-RED","env":[]},
          {"id":"nr-inject","type":"inject","z":"nr-tab","name":"tick","props":[{"p":"payload"},{"p":"topic","vt":"str"}],"repeat":"","crontab":"","once":false,"onceDelay":0.1,"topic":"t","payload":"42","payloadType":"num","x":150,"y":80,"wires":[["nr-debug"]]},
          {"id":"nr-debug","type":"debug","z":"nr-tab","name":"show","active":true,"tosidebar":true,"console":false,"tostatus":false,"complete":"payload","targetType":"msg","statusVal":"","statusType":"auto","x":380,"y":80,"wires":[]},
          {"id":"nr-catch","type":"catch","z":"nr-tab","name":"","scope":null,"uncaught":false,"x":140,"y":160,"wires":[["nr-errors"]]},
          {"id":"nr-errors","type":"debug","z":"nr-tab","name":"errors","active":true,"tosidebar":true,"console":false,"tostatus":false,"complete":"true","targetType":"full","statusVal":"","statusType":"auto","x":380,"y":160,"wires":[]}
        ]
        """;
}
