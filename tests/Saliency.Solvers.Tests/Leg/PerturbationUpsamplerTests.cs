using NUnit.Framework;
using Saliency.Linalg.Grid;
using Saliency.Solvers.Leg;

namespace Saliency.Solvers.Tests.Leg;

[TestFixture]
public class PerturbationUpsamplerTests
{
    [Test]
    public void Nearest_By8_CopiesEachCellToAn8x8Block()
    {
        var grid = new GridShape(28, 28);
        var up = new PerturbationUpsampler(grid, 224, 224, PerturbationUpsampling.Nearest);
        var z = Enumerable.Range(0, grid.Count).Select(k => (double)k).ToArray();
        var image = up.Upsample(z);
        for (int h = 0; h < 224; h++)
            for (int w = 0; w < 224; w++)
                Assert.That(image[h * 224 + w], Is.EqualTo(z[(h / 8) * 28 + w / 8]));
    }

    [TestCase(PerturbationUpsampling.Nearest, 3, 5, 7, 11)]
    [TestCase(PerturbationUpsampling.Bilinear, 3, 5, 7, 11)]
    [TestCase(PerturbationUpsampling.Bilinear, 4, 4, 32, 32)]
    [TestCase(PerturbationUpsampling.Bilinear, 1, 6, 5, 12)]
    public void ApplyTranspose_IsTheAdjointOfUpsample(PerturbationUpsampling mode, int p1, int p2, int h, int w)
    {
        var grid = new GridShape(p1, p2);
        var up = new PerturbationUpsampler(grid, h, w, mode);
        var rng = new Random(1);
        var z = Enumerable.Range(0, grid.Count).Select(_ => rng.NextDouble() - 0.5).ToArray();
        var v = Enumerable.Range(0, h * w).Select(_ => rng.NextDouble() - 0.5).ToArray();
        var uz = up.Upsample(z);
        var utv = new double[grid.Count];
        up.ApplyTranspose(v, utv);
        double lhs = uz.Zip(v, (x, y) => x * y).Sum(), rhs = z.Zip(utv, (x, y) => x * y).Sum();
        Assert.That(lhs, Is.EqualTo(rhs).Within(1e-12));
    }

    [Test]
    public void Bilinear_PreservesConstants_AndIsIdentityAtEqualSize()
    {
        var grid = new GridShape(4, 6);
        var constant = Enumerable.Repeat(2.5, grid.Count).ToArray();
        Assert.That(new PerturbationUpsampler(grid, 17, 23, PerturbationUpsampling.Bilinear).Upsample(constant), Is.All.EqualTo(2.5).Within(1e-12));
        var z = Enumerable.Range(0, grid.Count).Select(k => (double)k * k).ToArray();
        Assert.That(new PerturbationUpsampler(grid, 4, 6, PerturbationUpsampling.Bilinear).Upsample(z), Is.EqualTo(z).Within(1e-12));
    }

    [Test]
    public void AddTo_AddsTheUpsampledPerturbation_AndChecksLengths()
    {
        var grid = new GridShape(2, 2);
        var up = new PerturbationUpsampler(grid, 4, 4, PerturbationUpsampling.Nearest);
        var image = Enumerable.Range(0, 16).Select(k => (float)k).ToArray();
        var output = new float[16];
        up.AddTo(image, [1.0, 2.0, 3.0, 4.0], output);
        Assert.That(output[0], Is.EqualTo(1f));
        Assert.That(output[3], Is.EqualTo(3f + 2f));
        Assert.That(output[15], Is.EqualTo(15f + 4f));
        Assert.Throws<ArgumentException>(() => up.AddTo(image, [1.0, 2.0, 3.0], output));
        Assert.Throws<ArgumentException>(() => up.AddTo(image.AsSpan(1), [1.0, 2.0, 3.0, 4.0], output));
        Assert.Throws<ArgumentOutOfRangeException>(() => new PerturbationUpsampler(grid, 0, 4, PerturbationUpsampling.Nearest));
    }
}
