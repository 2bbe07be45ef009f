using Microsoft.Playwright;
using NUnit.Framework;
using Saliency.Cli.Report;
using Saliency.Tests.Cli;
using Saliency.TestSupport;

namespace Saliency.Tests.Report;

/// <summary>
/// Headless Chromium opens a demo report: every section is there, every picture and plot loaded, nothing logged as an
/// error. Playwright drives Debian's chromium (tools/setup.sh installs it; browser downloads are impossible here).
/// </summary>
public sealed class ReportBrowserTests : CliTestBase
{
    private const string Chromium = "/usr/bin/chromium";

    [Test]
    public async Task DemoReportOpensInChromiumWithEverySectionAndPicture()
    {
        if (!File.Exists(Chromium))
        {
            if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI")))
                Assert.Fail($"{Chromium} is missing; tools/setup.sh installs Debian's chromium.");
            Assert.Ignore($"{Chromium} is not installed (run tools/setup.sh); the browser test needs Debian's chromium.");
        }
        // The demo's own path (all methods of the catalogue, its LEG-TV grid), on 1 digit with the sanity check: small
        // enough for the default test run (the full demo takes about a minute).
        string folder = Path.Combine(Temp, "demo");
        var (exit, output, error) = Invoke("demo", "--count", "2", "--report-digits", "1", "--sanity-digits", "1", "--out", folder);
        Assert.That(exit, Is.Zero, error);
        Assert.That(output, Does.Contain("Accuracy on 500 digits"));
        string index = Path.Combine(folder, "index.html");
        Assert.That(File.Exists(index), Is.True);

        using var playwright = await Playwright.CreateAsync();
        // A fresh profile folder per run: Playwright takes it as the persistent context's userDataDir (it refuses
        // --user-data-dir among the arguments) and passes it to chromium as --user-data-dir.
        await using var browser = await playwright.Chromium.LaunchPersistentContextAsync(Path.Combine(Temp, "profile"), new BrowserTypeLaunchPersistentContextOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args =
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
            ],
            ViewportSize = new ViewportSize { Width = 1400, Height = 1000 },
        });
        var page = browser.Pages.Count > 0 ? browser.Pages[0] : await browser.NewPageAsync();
        var errors = new List<string>();
        page.Console += (_, message) => { if (message.Type == "error") errors.Add(message.Text); };
        page.PageError += (_, message) => errors.Add(message);
        page.RequestFailed += (_, request) => errors.Add($"failed: {request.Url}");
        await page.GotoAsync(new Uri(index).AbsoluteUri, new PageGotoOptions { WaitUntil = WaitUntilState.Load });

        foreach (var id in HtmlReport.Sections)
            Assert.That(await page.Locator($"section#{id} h2").CountAsync(), Is.EqualTo(1), $"section {id}");
        var images = await page.EvaluateAsync<ImageState[]>(
            "() => Array.from(document.images).map(i => ({ src: i.getAttribute('src'), complete: i.complete, naturalWidth: i.naturalWidth }))");
        Assert.That(images.Length, Is.GreaterThan(13 * 2 + 13 * 5), "map and overlay per method, the sanity grid (5 steps), plots");
        Assert.That(images.Where(i => !i.Complete || i.NaturalWidth <= 0).Select(i => i.Src), Is.Empty, "images that did not load");
        Assert.That(images.Count(i => i.Src.EndsWith(".svg", StringComparison.Ordinal)), Is.GreaterThanOrEqualTo(9), "the ScottPlot SVG plots");
        Assert.That(errors, Is.Empty, "console errors");

        string screenshot = Path.Combine(TestContext.CurrentContext.WorkDirectory, "report-screenshot.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = screenshot, FullPage = true });
        Directory.CreateDirectory(RepoFiles.Path("out"));
        File.Copy(screenshot, RepoFiles.Path("out/report-screenshot.png"), overwrite: true);
        TestContext.AddTestAttachment(screenshot);
        Assert.That(new FileInfo(screenshot).Length, Is.GreaterThan(10_000));
    }

    /// <summary>What the page says about one &lt;img&gt; (Playwright fills it through the parameterless constructor).</summary>
    private sealed class ImageState
    {
        public string Src { get; set; } = "";

        public bool Complete { get; set; }

        public int NaturalWidth { get; set; }
    }
}
