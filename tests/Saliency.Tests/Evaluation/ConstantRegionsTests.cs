using NUnit.Framework;
using Saliency.Evaluation;
using Saliency.Explainers;
using Saliency.Linalg.Grid;
using Saliency.Models.Classifiers;
using Saliency.Solvers.Leg;
using Saliency.TestSupport;

namespace Saliency.Tests.Evaluation;

/// <summary>Region counting on hand-made grids, and the TV-sparsity of the demo's LEG-TV map.</summary>
[TestFixture]
internal class ConstantRegionsTests
{
    [Test]
    public void HandMadeGridsHaveTheirRegionCounts()
    {
        // One constant value, and an all-zero map: 1 region.
        Assert.That(ConstantRegions.Count(Enumerable.Repeat(0.7f, 20).ToArray(), 4, 5), Is.EqualTo(1));
        Assert.That(ConstantRegions.Count(new float[12], 3, 4), Is.EqualTo(1));
        // A checkerboard: no two 4-neighbours are equal, so every cell is its own region (diagonals do not join).
        var checker = new float[6 * 5];
        for (int r = 0; r < 6; r++) for (int c = 0; c < 5; c++) checker[r * 5 + c] = (r + c) % 2;
        Assert.That(ConstantRegions.Count(checker, 6, 5), Is.EqualTo(30));
        // Two blocks (left half −1, right half 2), and a values within the tolerance (1e-3·max) stay one block.
        var blocks = new float[4 * 6];
        for (int r = 0; r < 4; r++) for (int c = 0; c < 6; c++) blocks[r * 6 + c] = c < 3 ? -1f + 1e-4f * r : 2f;
        Assert.That(ConstantRegions.Count(blocks, 4, 6), Is.EqualTo(2));
        // A zero background with one blob: 2; a second, separate blob of the same value: 3 (components, not values).
        var blob = new float[7 * 7];
        foreach (int i in new[] { 8, 9, 15, 16, 17 }) blob[i] = 0.5f;
        Assert.That(ConstantRegions.Count(blob, 7, 7), Is.EqualTo(2));
        blob[40] = 0.5f;
        Assert.That(ConstantRegions.Count(blob, 7, 7), Is.EqualTo(3));
        // Channels are separate planes: two constant planes = 2.
        Assert.That(ConstantRegions.Count(new float[2 * 9], 3, 3, channels: 2), Is.EqualTo(2));
    }

    [Test]
    public void BadInputIsATypedException()
    {
        Assert.Throws<EvaluationInputException>(() => ConstantRegions.Count(new float[5], 2, 3));
        Assert.Throws<EvaluationInputException>(() => ConstantRegions.Count(new float[0], 0, 3));
        Assert.Throws<EvaluationInputException>(() => ConstantRegions.Count(new[] { 1f, float.NaN }, 1, 2));
        Assert.Throws<EvaluationInputException>(() => ConstantRegions.Count(new float[4], 2, 2, relativeTolerance: -1));
    }

    /// <summary>
    /// The demo's LEG-TV settings (<see cref="LegExplainerOptions.DigitDemo"/>) on the demo's digit (the least confident
    /// correctly classified of the first 50) give a TV-sparse map: well under a quarter of the cells as regions, and not constant.
    /// </summary>
    [Test]
    public void TheDemoLegTvMapIsTvSparse()
    {
        using var lenet = OnnxClassifier.Create(RepoFiles.LeNetModel);
        var digits = BundledLeNet.Digits();
        var image = digits.ImageFloats(DemoDigit(lenet, digits));
        var explanation = new LegExplainer(LegExplainerOptions.DigitDemo(28, 28)).Explain(lenet, image);
        int cells = explanation.Map.Values.Length;
        Assert.That(explanation.ConstantRegions, Is.EqualTo(ConstantRegions.Count(explanation.Map.Values, explanation.Map.Height, explanation.Map.Width)));
        Assert.That(explanation.ConstantRegions, Is.InRange(2, cells / 4), $"{explanation.ConstantRegions} regions on {cells} cells");
    }

    /// <summary>Measurement behind the demo's choice (prints region counts; run with --filter Name~RegionCountsByGrid).</summary>
    [Test, Explicit("measurement")]
    public void RegionCountsByGrid()
    {
        using var lenet = OnnxClassifier.Create(RepoFiles.LeNetModel);
        var digits = BundledLeNet.Digits();
        int demo = DemoDigit(lenet, digits);
        foreach (int index in new[] { demo, 0, 1, 2, 3 })
            foreach (int cell in new[] { 1, 2, 4 })
                foreach (double k in new[] { 0.05, 0.1, 0.3, 0.5 })
                {
                    var e = new LegExplainer(new LegExplainerOptions
                    {
                        TotalVariation = true,
                        Sampling = new LegOptions { Grid = new GridShape(28 / cell, 28 / cell), SampleCount = 4000, Antithetic = true },
                        TvOptions = new LegTvOptions { BoundFactor = k },
                    }).Explain(lenet, digits.ImageFloats(index));
                    TestContext.Out.WriteLine($"digit {index}{(index == demo ? " (demo)" : "")} cell {cell} grid {28 / cell} K_L {k}: {e.ConstantRegions} regions / {e.Map.Values.Length} cells (tol 1e-2: {ConstantRegions.Count(e.Map.Values, e.Map.Height, e.Map.Width, relativeTolerance: 1e-2)}, 1e-4: {ConstantRegions.Count(e.Map.Values, e.Map.Height, e.Map.Width, relativeTolerance: 1e-4)}), η {e.Map.SparsityRatio:0.00}, {e.Details.First(d => d.Key == "LP").Value}");
                }
    }

    /// <summary>The demo's pick (ExplainCommand.PickInformativeDigit): least confident correct digit of the first 50.</summary>
    private static int DemoDigit(IClassifier classifier, Saliency.Models.Data.DigitSet digits)
    {
        var scores = classifier.Predict(digits.Batch(0, 50));
        int best = 0;
        float bestTop = float.PositiveInfinity;
        for (int i = 0; i < 50; i++)
        {
            int predicted = scores.PredictedClass(i);
            float top = scores.ProbabilitiesOf(i)[predicted];
            if (predicted == digits.Label(i) && top < bestTop) { best = i; bestTop = top; }
        }
        return best;
    }
}
