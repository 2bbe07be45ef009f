using System.Diagnostics;
using System.Text;
using NUnit.Framework;
using Saliency.Reporting;
using Saliency.Tests.Cli;

namespace Saliency.Tests.Report;

/// <summary>
/// <c>--shard i/N</c> and <c>--merge</c>: three shards run as separate processes of the built command
/// (<c>dotnet saliency.dll</c>) and merged give, number for number, the report of one run over the whole data set.
/// </summary>
public sealed class ShardMergeTests : CliTestBase
{
    /// <summary>Seeded methods (LIME, LEG-TV) included: their seeds follow the image, not the shard.</summary>
    private static readonly string[] Run =
        ["report", "--count", "5", "--methods", "gradient,caso,lime,leg-tv", "--samples", "200", "--sanity-images", "2", "--sanity-depth", "2", "--show", "1"];

    [Test]
    public void ThreeShardProcessesMergeIntoTheSingleRunsNumbers()
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "saliency.dll");
        Assert.That(File.Exists(dll), Is.True, dll);
        var single = Path.Combine(Temp, "single");
        var shards = Enumerable.Range(0, 3).Select(i => Path.Combine(Temp, $"shard{i}")).ToArray();
        // All four processes at once: each is mostly start-up and model loading.
        var processes = shards.Select((dir, i) => Start(dll, [.. Run, "--shard", $"{i}/3", "--out", dir]))
            .Append(Start(dll, [.. Run, "--out", single])).ToArray();
        foreach (var (process, output) in processes)
        {
            process.WaitForExit();
            Assert.That(process.ExitCode, Is.Zero, output.ToString());
        }
        var parts = shards.Select(ReportFiles.Read).ToArray();
        Assert.That(parts.Select(p => p.Images.Count), Is.EqualTo(new[] { 1, 2, 2 }), "contiguous slices of 5 images");
        Assert.That(parts.Select(p => p.Shard!.Index), Is.EqualTo(new[] { 0, 1, 2 }));

        var merged = Path.Combine(Temp, "merged");
        var (exit, _, error) = Invoke(["report", "--merge", .. shards.Reverse(), "--out", merged]);
        Assert.That(exit, Is.Zero, error);
        var a = ReportFiles.Read(single);
        var b = ReportFiles.Read(merged);
        Assert.That(b.MergedShards, Is.EqualTo(3));
        Assert.That(b.Images.Select(i => i.Index), Is.EqualTo(Enumerable.Range(0, 5)));
        Assert.That(b.Sanity.Select(r => r.Image).Distinct(), Is.EqualTo(new[] { 0, 1 }), "sanity on images 0 and 1, from two shards");
        // Every row and every mean, bit for bit (timings, versions and the merge bookkeeping aside).
        Assert.That(Numbers(b), Is.EqualTo(Numbers(a)));
        Assert.That(b.Summary.Sensitivity.Select(s => s.DeletionLogOddsAuc), Is.EqualTo(a.Summary.Sensitivity.Select(s => s.DeletionLogOddsAuc)));
        Assert.That(File.Exists(Path.Combine(merged, "index.html")), Is.True);
        foreach (var map in b.Maps)
            Assert.That(File.ReadAllBytes(Path.Combine(merged, map.File)), Is.EqualTo(File.ReadAllBytes(Path.Combine(single, map.File))), map.File);

        // A shard missing, or given twice, is refused.
        Assert.That(Invoke("report", "--merge", shards[0], shards[1], "--out", Path.Combine(Temp, "bad")).Err, Does.Contain("each of 0/3"));
        Assert.That(Invoke("report", "--merge", shards[0], shards[0], shards[1], "--out", Path.Combine(Temp, "bad")).Err, Does.Contain("each of 0/3"));
    }

    private static string Numbers(ReportDocument d) => Encoding.UTF8.GetString(ReportFiles.Serialize(d with
    {
        Timings = new ReportTimings(),
        Versions = new Dictionary<string, string>(),
        MergedShards = 0,
        Shard = null,
    }));

    private static (Process, StringBuilder) Start(string dll, string[] args)
    {
        var info = new ProcessStartInfo("dotnet", [dll, .. args]) { RedirectStandardOutput = true, RedirectStandardError = true };
        var output = new StringBuilder();
        var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return (process, output);
    }
}
