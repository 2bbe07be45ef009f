using NUnit.Framework;
using Saliency.Kernels.Ops;
using Saliency.Linalg.Grid;
using Saliency.Solvers.Leg;

namespace Saliency.Solvers.Tests.Leg;

[TestFixture]
internal class PerturbationUpsamplerTests
{
    [Test]
    public void Nearest_By8_CopiesEachCellToAn8x8Block()
    {
        var grid = new GridShape(28, 28);
        var up = new PerturbationUpsampler(grid, 224, 224, UpsamplingMode.Nearest);
        var z = Enumerable.Range(0, grid.Count).Select(k => (double)k).ToArray();
        var image = up.Upsample(z);
        for (int h = 0; h < 224; h++)
            for (int w = 0; w < 224; w++)
                Assert.That(image[h * 224 + w], Is.EqualTo(z[(h / 8) * 28 + w / 8]));
    }

    [TestCase(UpsamplingMode.Nearest, 3, 5, 7, 11)]
    [TestCase(UpsamplingMode.Bilinear, 3, 5, 7, 11)]
    [TestCase(UpsamplingMode.Bilinear, 4, 4, 32, 32)]
    [TestCase(UpsamplingMode.Bilinear, 1, 6, 5, 12)]
    public void ApplyTranspose_IsTheAdjointOfUpsample(UpsamplingMode mode, int p1, int p2, int h, int w)
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
        Assert.That(new PerturbationUpsampler(grid, 17, 23, UpsamplingMode.Bilinear).Upsample(constant), Is.All.EqualTo(2.5).Within(1e-12));
        var z = Enumerable.Range(0, grid.Count).Select(k => (double)k * k).ToArray();
        Assert.That(new PerturbationUpsampler(grid, 4, 6, UpsamplingMode.Bilinear).Upsample(z), Is.EqualTo(z).Within(1e-12));
    }

    [Test]
    public void BatchedFloatUpsample_MatchesSingleGrids_AndChecksLengths()
    {
        var grid = new GridShape(2, 3);
        var up = new PerturbationUpsampler(grid, 5, 7, UpsamplingMode.Bilinear);
        var grids = Enumerable.Range(0, 3 * 6).Select(k => (float)Math.Sin(k)).ToArray();
        var images = new float[3 * 35];
        up.Upsample(grids, images);
        for (int b = 0; b < 3; b++)
        {
            var single = up.Upsample(grids.AsSpan(b * 6, 6).ToArray().Select(v => (double)v).ToArray().AsSpan());
            for (int k = 0; k < 35; k++)
                Assert.That(images[b * 35 + k], Is.EqualTo(single[k]).Within(1e-6));
        }
        Assert.Throws<Saliency.Kernels.Backends.BufferSizeMismatchException>(() => up.Upsample(grids.AsSpan(1), images));
        Assert.Throws<ArgumentException>(() => up.Upsample(new double[5].AsSpan()));
        Assert.Throws<ArgumentOutOfRangeException>(() => new PerturbationUpsampler(grid, 0, 4, UpsamplingMode.Nearest));
    }
}
