using System.Diagnostics;
using System.Globalization;
using System.Text;
using NUnit.Framework;
using Saliency.Explainers;
using Saliency.Models.Classifiers;
using Saliency.Models.Runtime;
using Saliency.TestSupport;

namespace Saliency.Tests.Zoo;

/// <summary>
/// Time per explanation (gradient, CASO, LEG-TV with <see cref="ZooExplainTests"/>' settings) for every zoo model
/// and opset, written to bench/Saliency.Bench/Zoo/RESULTS.md. Explicit: a measurement (minutes), not a test; it
/// asserts nothing about speed. Cold = the first explanation after the classifier is opened (ONNX Runtime's first
/// runs allocate and plan); warm = the median of <see cref="WarmRuns"/> more. The gradient, measured in the same
/// loop, is the peer the other two are compared with.
/// </summary>
[TestFixture]
[Explicit("measurement: writes bench/Saliency.Bench/Zoo/RESULTS.md (several minutes on 2 cores)")]
public sealed class ZooTimingMeasurement
{
    private const int WarmRuns = 5;

    [Test]
    public void WriteResults()
    {
        string loadBefore = File.ReadAllText("/proc/loadavg").Trim();
        var rows = new List<string>();
        var warmRatios = new List<(double Caso, double LegTv)>();
        foreach (var model in ZooFixtures.Models)
        {
            var x = model.Input();
            var open = Stopwatch.StartNew();
            OnnxClassifier classifier;
            try
            {
                classifier = OnnxClassifier.Create(model.Path, new InferenceSessionOptions { IntraOpThreads = 1 });
            }
            catch (Saliency.Models.Autodiff.JacobianExportException e)
            {
                rows.Add($"| {model.Arch} | {model.Opset} | {model.InputShape[2]}² | not exported: {e.Message.Replace('|', '/')} | | | | | | | | |");
                continue;
            }
            using var _ = classifier;
            double openMs = open.Elapsed.TotalMilliseconds;
            var methods = new IExplainer[] { new GradientExplainer(), new CasoExplainer(), new LegExplainer(ZooExplainTests.SmallLegTv()) };
            var cold = new double[methods.Length];
            var warm = new double[methods.Length];
            for (int m = 0; m < methods.Length; m++)
            {
                cold[m] = Time(() => methods[m].Explain(classifier, x));
                var runs = Enumerable.Range(0, WarmRuns).Select(_ => Time(() => methods[m].Explain(classifier, x))).Order().ToArray();
                warm[m] = runs[WarmRuns / 2];
            }
            warmRatios.Add((warm[1] / warm[0], warm[2] / warm[0]));
            rows.Add(string.Create(CultureInfo.InvariantCulture,
                $"| {model.Arch} | {model.Opset} | {model.InputShape[2]}² | {openMs:F0} | {cold[0]:F1} | {warm[0]:F1} | {cold[1]:F0} | {warm[1]:F0} | {warm[1] / warm[0]:F0}× | {cold[2]:F0} | {warm[2]:F0} | {warm[2] / warm[0]:F0}× |"));
            TestContext.Out.WriteLine(rows[^1]);
        }
        string loadAfter = File.ReadAllText("/proc/loadavg").Trim();

        var md = new StringBuilder();
        md.AppendLine("# Zoo: time per explanation (issue 10 item 5)");
        md.AppendLine();
        md.AppendLine("Every conformance-zoo model (tests/Fixtures/zoo: torchvision architectures, reduced width, 10 classes, 32² or");
        md.AppendLine("64² input) at every opset, explained on its fixed test input for torch's predicted class on the CPU backend, one");
        md.AppendLine("ONNX Runtime intra-op thread. Settings as in `tests/Saliency.Tests/Zoo/ZooExplainTests.cs`: gradient = one");
        md.AppendLine("Jacobian column (after a forward pass that picks the class); CASO = W for all 10 classes, W A Wᵀ, the default λ1");
        md.AppendLine("sweep and FISTA; LEG-TV = 64 antithetic forward evaluations on an 8×8 grid, then the TV LP.");
        md.AppendLine();
        md.AppendLine($"Machine: {Environment.ProcessorCount}-core VM, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}.");
        md.AppendLine($"**Shared machine: load average (1, 5, 15 min) `{loadBefore}` before and `{loadAfter}` after the run**, so the");
        md.AppendLine("absolute figures are inflated and noisy; the ratios against the gradient, measured in the same loop, are steadier.");
        md.AppendLine();
        md.AppendLine("Command: `dotnet test tests/Saliency.Tests/Saliency.Tests.csproj -c Release --filter \"FullyQualifiedName~ZooTimingMeasurement\"`");
        md.AppendLine();
        md.AppendLine($"Times in ms. open = export the Jacobian graph and create both sessions. cold = first explanation after open; warm = median of {WarmRuns} more. ratio = warm / warm gradient.");
        md.AppendLine();
        md.AppendLine("| model | opset | input | open | gradient cold | gradient warm | CASO cold | CASO warm | CASO ratio | LEG-TV cold | LEG-TV warm | LEG-TV ratio |");
        md.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var r in rows) md.AppendLine(r);
        md.AppendLine();
        var caso = warmRatios.Select(r => r.Caso).Order().ToArray();
        var leg = warmRatios.Select(r => r.LegTv).Order().ToArray();
        md.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"Median over the {warmRatios.Count} files explained: CASO warm = {caso[caso.Length / 2]:F0}× the gradient, LEG-TV warm = {leg[leg.Length / 2]:F0}× the gradient."));
        var path = RepoFiles.Path("bench/Saliency.Bench/Zoo/RESULTS.md");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, md.ToString());
        TestContext.Out.WriteLine($"wrote {path}");
    }

    private static double Time(Action action)
    {
        var sw = Stopwatch.StartNew();
        action();
        return sw.Elapsed.TotalMilliseconds;
    }
}
