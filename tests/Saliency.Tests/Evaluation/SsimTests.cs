using NUnit.Framework;
using Saliency.Evaluation;

namespace Saliency.Tests.Evaluation;

/// <summary>SSIM against Wang et al.'s formula worked out on tiny pictures.</summary>
[TestFixture]
internal sealed class SsimTests
{
    private const double C1 = 1e-4, C2 = 9e-4;

    [Test]
    public void IdenticalPicturesGiveExactlyOne()
    {
        var x = EvaluationOracles.Uniform(28 * 28, 1);
        Assert.That(Ssim.Compute(x, x, 28, 28), Is.EqualTo(1.0));
        var zero = new float[49];
        Assert.That(Ssim.Compute(zero, zero, 7, 7), Is.EqualTo(1.0));
    }

    [Test]
    public void ConstantPicturesGiveTheLuminanceTerm()
    {
        float a = 0.25f, b = 0.75f;
        var x = Enumerable.Repeat(a, 49).ToArray();
        var y = Enumerable.Repeat(b, 49).ToArray();
        // σ's are 0: SSIM = (2ab + C1)/(a² + b² + C1) · C2/C2.
        Assert.That(Ssim.Compute(x, y, 7, 7), Is.EqualTo((2.0 * a * b + C1) / (a * (double)a + b * (double)b + C1)).Within(1e-12));
    }

    [Test]
    public void AnAffineImageOfAWindowMatchesTheClosedForm()
    {
        var x = EvaluationOracles.Uniform(49, 2);
        const double alpha = -0.6, beta = 0.8;
        var y = x.Select(v => (float)(alpha * v + beta)).ToArray();
        // One 7×7 window: μy = αμx + β, σy² = α²σx², σxy = ασx² (up to the float rounding of y).
        var xs = x.Select(v => (double)v).ToArray();
        double mx = xs.Average(), vx = xs.Sum(v => (v - mx) * (v - mx)) / 48, my = alpha * mx + beta;
        double expected = (2 * mx * my + C1) * (2 * alpha * vx + C2) / ((mx * mx + my * my + C1) * ((1 + alpha * alpha) * vx + C2));
        Assert.That(Ssim.Compute(x, y, 7, 7), Is.EqualTo(expected).Within(1e-6));
        Assert.That(expected, Is.LessThan(0));
    }

    [Test]
    public void ThePictureMeanIsOverEveryWindowInside()
    {
        // 8×9 with a 7×7 window: 2 × 3 windows, each from the formula.
        var x = EvaluationOracles.Uniform(72, 3);
        var y = EvaluationOracles.Uniform(72, 4);
        double sum = 0;
        for (int r = 0; r < 2; r++)
            for (int c = 0; c < 3; c++)
                sum += EvaluationOracles.WindowSsim(EvaluationOracles.Window(x, 9, r, c, 7), EvaluationOracles.Window(y, 9, r, c, 7));
        Assert.That(Ssim.Compute(x, y, 8, 9), Is.EqualTo(sum / 6).Within(1e-12));
    }

    [Test]
    public void APictureSmallerThanTheWindowUsesItsShortSide()
    {
        var x = EvaluationOracles.Uniform(5 * 6, 5);
        var y = EvaluationOracles.Uniform(5 * 6, 6);
        double expected = (EvaluationOracles.WindowSsim(EvaluationOracles.Window(x, 6, 0, 0, 5), EvaluationOracles.Window(y, 6, 0, 0, 5))
                         + EvaluationOracles.WindowSsim(EvaluationOracles.Window(x, 6, 0, 1, 5), EvaluationOracles.Window(y, 6, 0, 1, 5))) / 2;
        Assert.That(Ssim.Compute(x, y, 5, 6), Is.EqualTo(expected).Within(1e-12));
    }

    [Test]
    public void BadInputIsRefused()
    {
        Assert.Throws<EvaluationInputException>(() => Ssim.Compute(new float[4], new float[4], 1, 4));
        Assert.Throws<EvaluationInputException>(() => Ssim.Compute(new float[9], new float[8], 3, 3));
        Assert.Throws<EvaluationInputException>(() => Ssim.Compute(new float[9], new float[9], 3, 3, window: 1));
        var bad = new float[9];
        bad[4] = float.PositiveInfinity;
        Assert.Throws<EvaluationInputException>(() => Ssim.Compute(bad, new float[9], 3, 3));
    }
}
