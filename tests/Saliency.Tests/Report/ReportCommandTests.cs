using System.Text.Json;
using NUnit.Framework;
using Saliency.Cli.Commands;
using Saliency.Cli.Report;
using Saliency.Reporting;
using Saliency.Tests.Cli;
using Saliency.TestSupport;
using Spectre.Console;

namespace Saliency.Tests.Report;

/// <summary><c>saliency report</c> in-process on two bundled digits with a few cheap methods.</summary>
public sealed class ReportCommandTests : CliTestBase
{
    private static readonly string[] SmallRun =
        ["report", "--count", "2", "--methods", "gradient,caso,occlusion", "--sanity-images", "1", "--sanity-depth", "2", "--show", "2"];

    [Test]
    public void JsonHoldsEachMapWithTheValuesOfItsNpyFile()
    {
        var (exit, output, error) = Invoke([.. SmallRun, "--out", Temp]);
        Assert.That(exit, Is.Zero, error);
        Assert.That(output, Does.Contain("index.html"));
        var document = ReportFiles.Read(Temp);
        Assert.That(document.Partial, Is.False);
        Assert.That(document.Images, Has.Count.EqualTo(2));
        Assert.That(document.Maps, Has.Count.EqualTo(2 * 3));
        Assert.That(document.SanityMaps, Has.Count.EqualTo(1 * 2 * 3), "1 sanity image × 2 steps × 3 methods");
        foreach (var map in document.Maps.Concat(document.SanityMaps))
        {
            var npy = Npy.Decode(File.ReadAllBytes(Path.Combine(Temp, map.File)));
            Assert.That(npy.Shape, Is.EqualTo(map.Shape), map.File);
            Assert.That(npy.Values.Select(v => (float)v), Is.EqualTo(map.Values), map.File);
        }
        foreach (var image in document.Images)
            Assert.That(Npy.Decode(File.ReadAllBytes(Path.Combine(Temp, image.File))).Values.Select(v => (float)v), Is.EqualTo(image.Pixels));
        // The maps are those explain writes for the same digit (gradient: deterministic).
        var gradient = document.Maps.Single(m => m.Image == 1 && m.Method == "gradient");
        Assert.That(gradient.Values.Any(v => v != 0), Is.True);
    }

    [Test]
    public void SummaryIsTheMeanOfThePerImageRowsAndEverySectionIsWritten()
    {
        Assert.That(Invoke([.. SmallRun, "--out", Temp]).Exit, Is.Zero);
        var document = ReportFiles.Read(Temp);
        foreach (var s in document.Summary.Sensitivity)
        {
            var rows = document.Sensitivity.Where(r => r.Method == s.Method).ToArray();
            Assert.That(s.Images, Is.EqualTo(2));
            Assert.That(s.DeletionLogOddsAuc, Is.EqualTo(rows.Average(r => r.DeletionLogOddsAuc)).Within(1e-12));
            Assert.That(s.InsertionProbabilities[^1], Is.EqualTo(rows.Average(r => r.InsertionProbabilities[^1])).Within(1e-12));
            // Deletion to 0 ends on the all-zero image whatever the map: the same last point for every method.
            Assert.That(rows.Select(r => r.DeletionLogOdds[^1]).Distinct().Count(), Is.LessThanOrEqualTo(2));
        }
        var step0 = document.Sanity.Where(r => r.Depth == 0).ToArray();
        Assert.That(step0, Has.Length.EqualTo(3));
        Assert.That(step0.Select(r => r.Ssim), Is.All.EqualTo(1.0), "step 0 compares each map with itself");
        Assert.That(document.CasoVersusCafo.Select(r => r.Index), Is.EqualTo(new[] { 0, 1 }));
        Assert.That(document.Sweep, Is.Not.Null);
        Assert.That(document.Sweep!.Caso.Count(p => p.Selected), Is.LessThanOrEqualTo(1));
        string html = File.ReadAllText(Path.Combine(Temp, "index.html"));
        foreach (var id in HtmlReport.Sections) Assert.That(html, Does.Contain($"<section id=\"{id}\">"), id);
        Assert.That(html, Does.Not.Contain("http://").And.Not.Contain("https://").And.Not.Contain("<script"), "self-contained, no script");
        foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(html, "src=\"([^\"]+)\""))
            Assert.That(File.Exists(Path.Combine(Temp, m.Groups[1].Value)), Is.True, m.Groups[1].Value);
    }

    [Test]
    public void CancellationWritesAConsistentPartialReportAndExits130()
    {
        using var cancellation = new CancellationTokenSource();
        var request = Request(Path.Combine(Temp, "partial"), count: 3);
        // Cancel as soon as the first image is complete: the report holds exactly that image.
        int exit = ReportCommand.Execute(request, Quiet(), TextWriter.Null, cancellation.Token,
            p => { if (p.ImagesDone == 1) cancellation.Cancel(); });
        Assert.That(exit, Is.EqualTo(ReportCommand.CancelledExitCode));
        var document = ReportFiles.Read(Path.Combine(Temp, "partial"));
        Assert.That(document.Partial, Is.True);
        Assert.That(document.Images.Select(i => i.Index), Is.EqualTo(new[] { 0 }));
        Assert.That(document.Maps.Select(m => m.Image).Distinct(), Is.EqualTo(new[] { 0 }));
        Assert.That(document.Sensitivity.Select(m => m.Image).Distinct(), Is.EqualTo(new[] { 0 }));
        Assert.That(document.Maps, Has.Count.EqualTo(request.Methods.Count), "no half-done image");
        string html = File.ReadAllText(Path.Combine(Temp, "partial", "index.html"));
        Assert.That(html, Does.Contain("id=\"partial\"").And.Contain("Partial report"));
        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Temp, "partial", ReportFiles.JsonName)));
        Assert.That(json.RootElement.GetProperty("partial").GetBoolean(), Is.True);

        // Cancelled before anything: an empty report, still marked partial and still a valid page.
        using var early = new CancellationTokenSource();
        early.Cancel();
        Assert.That(ReportCommand.Execute(Request(Path.Combine(Temp, "empty"), count: 2), Quiet(), TextWriter.Null, early.Token), Is.EqualTo(130));
        var empty = ReportFiles.Read(Path.Combine(Temp, "empty"));
        Assert.That(empty.Partial, Is.True);
        Assert.That(empty.Images, Is.Empty);
    }

    [Test]
    public void BadOptionsGiveOneLineErrors()
    {
        Assert.That(Invoke("report", "--methods", "nope", "--out", Temp).Err, Does.Contain("unknown method 'nope'"));
        Assert.That(Invoke("report", "--shard", "3/3", "--out", Temp).Err, Does.Contain("--shard must be i/N"));
        Assert.That(Invoke("report", "--count", "0", "--out", Temp).Err, Does.Contain("--count"));
        Assert.That(Invoke("report", "--merge", Temp, "--out", Temp).Err, Does.Contain("report.json does not exist"));
    }

    private static ReportCommand.Request Request(string folder, int count)
    {
        var options = new ReportMethodOptions();
        var parse = options.Parse("--methods", "gradient,occlusion");
        var (data, description) = ReportCommand.Digits(null, null, 0, count);
        return new ReportCommand.Request(RepoFiles.LeNetModel, data, description, options.Resolve(parse, null), options.Describe(parse),
            new ReportRunOptions { SanityImages = 0 }, null, folder, 2);
    }

    private static IAnsiConsole Quiet() => AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(TextWriter.Null) });
}
