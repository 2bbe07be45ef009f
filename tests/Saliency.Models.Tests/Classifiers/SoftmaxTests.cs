using NUnit.Framework;
using Saliency.Kernels.Backends;
using Saliency.Models.Classifiers;

namespace Saliency.Models.Tests.Classifiers;

/// <summary>
/// <see cref="Softmax"/> against closed forms at logits far outside float32's exp range (±1000): two classes a, b
/// have <c>p_a = 1 / (1 + e^{b − a})</c>, equal logits give 1/c, and <c>log Σ e^z = z₀ + log c</c> for c equal logits.
/// </summary>
[TestFixture]
internal sealed class SoftmaxTests
{
    [Test]
    public void TwoLargeLogitsMatchTheLogisticClosedForm()
    {
        float a = 1000f, b = 1000f - MathF.Log(3f), far = -1000f;
        var p = Softmax.Probabilities([a, b, far]);
        double pa = 1 / (1 + Math.Exp((double)b - a));
        Assert.That(p[0], Is.EqualTo(pa).Within(1e-15));
        Assert.That(p[1], Is.EqualTo(1 - pa).Within(1e-15));
        Assert.That(pa, Is.EqualTo(0.75).Within(1e-4), "b − a ≈ −ln 3 up to float rounding of 998.9");
        Assert.That(p[2], Is.EqualTo(0.0), "e^{−2000} underflows to 0 in float64");

        var single = new float[3];
        Softmax.Probabilities([a, b, far], single);
        Assert.That(single[0], Is.EqualTo((float)pa));
        Assert.That(single[1], Is.EqualTo((float)(1 - pa)));
    }

    [TestCase(1000f)]
    [TestCase(-1000f)]
    [TestCase(89f)]
    public void EqualLogitsGiveTheUniformDistributionAndLogC(float z)
    {
        const int c = 7;
        var logits = Enumerable.Repeat(z, c).ToArray();
        var p = Softmax.Probabilities(logits);
        Assert.That(p, Is.All.EqualTo(1.0 / c).Within(1e-15));
        Assert.That(Softmax.LogSumExp(logits), Is.EqualTo(z + Math.Log(c)).Within(1e-12 * Math.Abs(z)));
    }

    [Test]
    public void LogSumExpGivesTheLogProbabilitiesOfLargeLogits()
    {
        float[] logits = [1000f, 990f, -1000f];
        double lse = Softmax.LogSumExp(logits);
        // log Σ e^z = 1000 + log(1 + e^{−10}) (+ e^{−2000}, below double precision).
        Assert.That(lse, Is.EqualTo(1000 + Math.Log(1 + Math.Exp(-10))).Within(1e-12));
        var p = Softmax.Probabilities(logits);
        Assert.That(Math.Log(p[1]), Is.EqualTo(logits[1] - lse).Within(1e-12));
    }

    [Test]
    public void RowsNormaliseEachRowAndMatchTheSingleRowForm()
    {
        float[] logits = [500f, 400f, 300f, -1000f, -999f, -998f];
        var rows = new float[6];
        Softmax.Rows(logits, rows, 3);
        var second = new float[3];
        Softmax.Probabilities(logits.AsSpan(3, 3), second);
        Assert.That(rows.AsSpan(3, 3).ToArray(), Is.EqualTo(second));
        double s0 = 1 + Math.Exp(-100) + Math.Exp(-200);
        Assert.That(rows.Take(3), Is.EqualTo(new[] { (float)(1 / s0), (float)(Math.Exp(-100) / s0), 0f }),
            "e^{−100} is a float32 subnormal, e^{−200} underflows");
        double s = Math.Exp(-2) + Math.Exp(-1) + 1;
        Assert.That(second, Is.EqualTo(new[] { (float)(Math.Exp(-2) / s), (float)(Math.Exp(-1) / s), (float)(1 / s) }));
    }

    [Test]
    public void NonFiniteLogitsAreRejectedWithTheirIndex()
    {
        foreach (float bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
        {
            var e = Assert.Throws<NonFiniteValueException>(() => Softmax.Probabilities([0f, 1f, bad]));
            Assert.That(e!.Index, Is.EqualTo(2));
            Assert.Throws<NonFiniteValueException>(() => Softmax.LogSumExp([bad]));
            var rowsError = Assert.Throws<NonFiniteValueException>(() => Softmax.Rows([0f, 1f, 2f, bad], new float[4], 2));
            Assert.That(rowsError!.Index, Is.EqualTo(3));
        }
        Assert.Throws<ArgumentException>(() => Softmax.Probabilities(ReadOnlySpan<float>.Empty));
        Assert.Throws<ArgumentException>(() => Softmax.Probabilities([1f, 2f], new float[3]));
    }
}
