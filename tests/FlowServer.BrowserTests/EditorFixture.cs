using FlowServer.Testing;
using Microsoft.Playwright;

namespace FlowServer.BrowserTests;

/// <summary>
/// One real server and one Debian chromium per test class (Playwright drives it through
/// ExecutablePath: no browser download). Each test opens its own page.
/// </summary>
public sealed class EditorFixture : IAsyncLifetime
{
    public const string Chromium = "/usr/bin/chromium";

    IPlaywright? _playwright;
    int _pages;
    public FlowServerInstance Server { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;
    public System.Collections.Concurrent.ConcurrentBag<string> BrowserErrors { get; } = [];

    public async Task InitializeAsync()
    {
        // The machine may be shared and loaded: expectations wait up to 15 s, not Playwright's 5 s.
        Assertions.SetDefaultExpectTimeout(15_000);
        Server = await FlowServerInstance.StartAsync();
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
    }

    /// <summary>A fresh page on the editor, after the circuit has rendered the palette.</summary>
    public async Task<IPage> OpenEditorAsync()
    {
        var context = await Browser.NewContextAsync(new() { ViewportSize = new() { Width = 1400, Height = 800 } });
        await context.GrantPermissionsAsync(["clipboard-read", "clipboard-write"], new() { Origin = Server.BaseAddress.ToString().TrimEnd('/') });
        var page = await context.NewPageAsync();
        // Script errors (a missing asset, a failing interop call) fail the test that caused them.
        var number = Interlocked.Increment(ref _pages);
        page.Console += (_, message) => { if (message.Type == "error") BrowserErrors.Add($"page {number}: {message.Text} ({message.Location})"); };
        page.PageError += (_, error) => BrowserErrors.Add($"page {number}: {error}");
        // Also requests that fail in a worker or without a console message: a file the build
        // left out of the static assets (Directory.Build.targets) shows here as a 404.
        context.Response += (_, response) => { if (response.Status >= 400) BrowserErrors.Add($"page {number}: {response.Status} {response.Url}"); };
        page.SetDefaultTimeout(10_000);
        await page.GotoAsync(Server.BaseAddress.ToString());
        await page.Locator(".fe-palette-node").First.WaitForAsync();
        return page;
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null) await Browser.DisposeAsync();
        _playwright?.Dispose();
        if (Server is not null) await Server.DisposeAsync();
    }
}
