using System.Globalization;
using NUnit.Framework;
using Saliency.Explainers;
using Saliency.Models.Classifiers;
using Saliency.Solvers.Caso;
using Saliency.TestSupport;

namespace Saliency.Tests.Cli;

/// <summary><c>saliency explain --method caso|cafo</c> prints the λ1 sweep's path, one row per solved λ1.</summary>
[TestFixture]
internal class SweepPathOutputTests : CliTestBase
{
    [TestCase("caso", CasoObjectiveKind.Caso)]
    [TestCase("cafo", CasoObjectiveKind.Cafo)]
    public void ExplainPrintsEveryPointOfThePathAndMarksTheChoice(string method, CasoObjectiveKind kind)
    {
        var (exit, output, error) = Invoke("explain", "--method", method, "--digit", "9", "--out", Path.Combine(Temp, "map.png"));
        Assert.That(exit, Is.EqualTo(0), error);

        // The same sweep through the library: every point's λ1 and η appear on one row, the choice is marked.
        using var classifier = OnnxClassifier.Create(RepoFiles.LeNetModel);
        var sweep = new CasoExplainer(new CasoExplainerOptions { Solver = new CasoOptions { Kind = kind } })
            .Explain(classifier, BundledLeNet.Digits().ImageFloats(9)).Sweep!;
        Assert.That(output, Does.Contain($"λ1 sweep path ({sweep.Path.Count} solves in {sweep.Batches} batches)"));
        var rows = output.Split('\n');
        foreach (var p in sweep.Path)
        {
            string lambda = p.Lambda1.ToString("G4", CultureInfo.InvariantCulture), eta = p.SparsityRatio.ToString("0.0000", CultureInfo.InvariantCulture);
            var row = rows.SingleOrDefault(r => r.Contains($"│ {lambda} ") && r.Contains($"│ {eta} "));
            Assert.That(row, Is.Not.Null, $"a row for λ1 = {lambda}, η = {eta}");
            Assert.That(row!.Contains("← chosen"), Is.EqualTo(p.Selected), $"mark at λ1 = {lambda}");
            Assert.That(row.Contains($"│ {p.NonZeros} "), Is.True, $"non-zeros at λ1 = {lambda}");
        }
    }

    [Test]
    public void AFixedLambda1PrintsNoPath()
    {
        var (exit, output, error) = Invoke("explain", "--method", "caso", "--digit", "9", "--lambda1", "0.01", "--out", Path.Combine(Temp, "map.png"));
        Assert.That(exit, Is.EqualTo(0), error);
        Assert.That(output, Does.Not.Contain("λ1 sweep path"));
    }
}
