using NUnit.Framework;
using Saliency.Evaluation;

namespace Saliency.Tests.Evaluation;

/// <summary>Spearman ρ against the textbook formulas on small vectors, with and without ties.</summary>
[TestFixture]
internal sealed class RankCorrelationTests
{
    [Test]
    public void WithoutTiesItIsOneMinusSixSumOfSquaredRankDifferences()
    {
        float[] a = [0.3f, -1.2f, 4f, 2.5f, 0.9f, -0.1f, 7f];
        float[] b = [1f, 0.2f, -3f, 5f, 2f, 0.1f, 0.15f];
        var ra = EvaluationOracles.AverageRanks(a.Select(v => (double)v).ToArray());
        var rb = EvaluationOracles.AverageRanks(b.Select(v => (double)v).ToArray());
        int n = a.Length;
        double d2 = ra.Zip(rb, (x, y) => (x - y) * (x - y)).Sum();
        Assert.That(RankCorrelation.Spearman(a, b), Is.EqualTo(1 - 6 * d2 / (n * (n * (double)n - 1))).Within(1e-12));
    }

    [Test]
    public void TiesTakeTheAverageOfTheirRanks()
    {
        float[] a = [1, 2, 2, 3, 5, 5, 5];
        float[] b = [2, 1, 3, 3, 4, 0, 4];
        // Ranks written by hand: a → 1, 2.5, 2.5, 4, 6, 6, 6; b → 3, 2, 4.5, 4.5, 6.5, 1, 6.5.
        double[] ra = [1, 2.5, 2.5, 4, 6, 6, 6], rb = [3, 2, 4.5, 4.5, 6.5, 1, 6.5];
        Assert.That(RankCorrelation.Ranks(a), Is.EqualTo(ra));
        Assert.That(RankCorrelation.Ranks(b), Is.EqualTo(rb));
        Assert.That(RankCorrelation.Spearman(a, b), Is.EqualTo(EvaluationOracles.Pearson(ra, rb)).Within(1e-12));
    }

    [Test]
    public void AbsoluteRanksMagnitudes()
    {
        float[] a = [-3, 1, 2, -0.5f, 0];
        float[] b = [3, -1, -2, 0.5f, 0];
        Assert.That(RankCorrelation.SpearmanOfAbsolute(a, b), Is.EqualTo(1).Within(1e-12));
        Assert.That(RankCorrelation.Spearman(a, b), Is.EqualTo(-1).Within(1e-12));
        float[] c = [-3, 3, 1, -1, 2];
        double[] abs = [3, 3, 1, 1, 2];
        double expected = EvaluationOracles.Pearson(EvaluationOracles.AverageRanks(abs), EvaluationOracles.AverageRanks(a.Select(v => (double)Math.Abs(v)).ToArray()));
        Assert.That(RankCorrelation.SpearmanOfAbsolute(c, a), Is.EqualTo(expected).Within(1e-12));
    }

    [Test]
    public void RandomVectorsWithManyTiesMatchTheCountingReference()
    {
        var rng = new Random(5);
        var a = Enumerable.Range(0, 300).Select(_ => (float)rng.Next(-4, 5)).ToArray();
        var b = Enumerable.Range(0, 300).Select((_, i) => a[i] + (float)rng.Next(-3, 4)).ToArray();
        double expected = EvaluationOracles.Spearman(a.Select(v => (double)v).ToArray(), b.Select(v => (double)v).ToArray());
        Assert.That(RankCorrelation.Spearman(a, b), Is.EqualTo(expected).Within(1e-12));
        Assert.That(expected, Is.GreaterThan(0.5).And.LessThan(1));
    }

    [Test]
    public void AConstantVectorHasNoRankCorrelation()
    {
        Assert.That(RankCorrelation.Spearman([0, 0, 0], [1, 2, 3]), Is.NaN);
        Assert.That(RankCorrelation.SpearmanOfAbsolute([1, 2, 3], [-2, 2, 2]), Is.NaN);
    }

    [Test]
    public void BadInputIsRefused()
    {
        Assert.Throws<EvaluationInputException>(() => RankCorrelation.Spearman([1, 2], [1, 2, 3]));
        Assert.Throws<EvaluationInputException>(() => RankCorrelation.Spearman([1], [1]));
        Assert.Throws<EvaluationInputException>(() => RankCorrelation.Spearman([1, float.NaN], [1, 2]));
    }
}
