using System.Diagnostics;
using System.Text.Json.Nodes;
using FlowServer.Testing.Fixtures;
using Microsoft.Playwright;

namespace FlowServer.BrowserTests;

/// <summary>
/// The issue's "done when": someone who knows Node-RED builds mqtt in → function → mqtt out in
/// the browser, deploys, and sees real MQTT messages go through and show in the debug sidebar.
/// </summary>
public sealed class MqttFlowTests(EditorFixture fixture) : IClassFixture<EditorFixture>
{
    [Fact]
    public async Task Builds_mqtt_in_function_mqtt_out_against_a_real_broker_and_watches_the_messages()
    {
        await using var mosquitto = await MosquittoFixture.StartNewAsync();
        var page = await fixture.OpenEditorAsync();
        await Ui.AddTabAsync(page);
        await Ui.DropFromPaletteAsync(page, "mqtt in", 150, 150);
        await Ui.DropFromPaletteAsync(page, "function", 380, 150);
        await Ui.DropFromPaletteAsync(page, "mqtt out", 620, 110);
        await Ui.DropFromPaletteAsync(page, "debug", 620, 230);
        var mqttIn = page.Locator(".fe-node[data-type='mqtt in']");
        var function = page.Locator(".fe-node[data-type=function]");
        var mqttOut = page.Locator(".fe-node[data-type='mqtt out']");
        var debug = page.Locator(".fe-node[data-type=debug]");
        await Ui.WireAsync(page, mqttIn.Locator(".fe-port-out"), function.Locator(".fe-port-in"));
        await Ui.WireAsync(page, function.Locator(".fe-port-out"), mqttOut.Locator(".fe-port-in"));
        await Ui.WireAsync(page, function.Locator(".fe-port-out"), debug.Locator(".fe-port-in"));
        await Assertions.Expect(page.Locator(".fe-canvas g.diagram-link")).ToHaveCountAsync(3);

        // mqtt in: a topic and a new broker, added from the property panel.
        await mqttIn.DblClickAsync();
        var panel = page.Locator(".fe-dialog[data-type='mqtt in']");
        await panel.Locator("[data-field=topic] input").FillAsync("raw/#");
        await panel.Locator("[data-field=broker] .fe-config-add").ClickAsync();
        var brokerPanel = page.Locator(".fe-dialog[data-type=mqtt-broker]");
        await brokerPanel.Locator("[data-field=broker] input").FillAsync("127.0.0.1");
        await brokerPanel.Locator("[data-field=port] input").FillAsync(mosquitto.Port.ToString());
        await brokerPanel.Locator("button.fe-done").ClickAsync();
        await Assertions.Expect(brokerPanel).ToHaveCountAsync(0);
        var brokerId = await panel.Locator("[data-field=broker] select").InputValueAsync();
        Assert.NotEmpty(brokerId);
        await panel.Locator("button.fe-done").ClickAsync();

        // function: code typed into Monaco.
        await function.DblClickAsync();
        var code = page.Locator(".fe-code[data-code=func]");
        await code.Locator(".view-lines").ClickAsync();
        await page.Keyboard.PressAsync("Control+a");
        await page.Keyboard.TypeAsync("msg.payload = 'got ' + msg.payload;\nreturn msg;");
        await page.Locator(".fe-dialog[data-type=function] button.fe-done").ClickAsync();

        // mqtt out: the same broker, a fixed topic.
        await mqttOut.DblClickAsync();
        var outPanel = page.Locator(".fe-dialog[data-type='mqtt out']");
        await outPanel.Locator("[data-field=topic] input").FillAsync("uns/line1");
        await outPanel.Locator("[data-field=broker] select").SelectOptionAsync(brokerId);
        await outPanel.Locator("button.fe-done").ClickAsync();

        await Ui.DeployAsync(page);
        await Assertions.Expect(mqttIn.Locator(".fe-status")).ToContainTextAsync("connected", new() { Timeout = 20_000 });
        await Assertions.Expect(mqttIn.Locator(".fe-status")).Not.ToContainTextAsync("dis");

        using var subscriber = Start("mosquitto_sub", "-h", "127.0.0.1", "-p", mosquitto.Port.ToString(), "-t", "uns/#", "-C", "1", "-W", "20", "-v");
        var received = subscriber.StandardOutput.ReadToEndAsync();
        await Task.Delay(500); // the subscription is in place
        using (var publisher = Start("mosquitto_pub", "-h", "127.0.0.1", "-p", mosquitto.Port.ToString(), "-t", "raw/line1", "-m", "21"))
            await publisher.WaitForExitAsync();

        var message = page.Locator(".fe-debug-message").Filter(new() { HasText = "got 21" });
        await Assertions.Expect(message).ToHaveCountAsync(1, new() { Timeout = 15_000 });
        await Assertions.Expect(message.Locator(".fe-debug-topic")).ToContainTextAsync("raw/line1");
        await subscriber.WaitForExitAsync();
        Assert.Equal("uns/line1 got 21", (await received).Trim());

        var flows = JsonNode.Parse(await fixture.Server.Http.GetStringAsync("/flows"))!.AsArray();
        Assert.Contains(flows, n => (string?)n!["type"] == "mqtt-broker" && (string?)n["id"] == brokerId);
        Assert.Empty(fixture.BrowserErrors);
    }

    static Process Start(string program, params string[] arguments)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in arguments) info.ArgumentList.Add(a);
        return Process.Start(info)!;
    }
}
