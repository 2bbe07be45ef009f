using Saliency.Kernels.Backends;
using Saliency.Kernels.Ops;

namespace Saliency.Kernels.Tests;

/// <summary>Nearest and bilinear upsampling against direct formulas, block structure and exactness on linear ramps.</summary>
internal class UpsamplingTests
{
    [TestCase(28, 28, 224, 224)]
    [TestCase(3, 5, 7, 11)]
    [TestCase(1, 1, 4, 4)]
    [TestCase(37, 23, 37, 23)]
    public void NearestPicksTheContainingCell(int p1, int p2, int h, int w)
    {
        const int batch = 2;
        var g = TestData.Uniform(batch * p1 * p2, 60);
        var img = new double[batch * h * w];
        Upsampling.Apply<double>(g, img, p1, p2, h, w, UpsamplingMode.Nearest);
        for (int b = 0; b < batch; b++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                {
                    // The cell containing pixel centre ((y+½)·p1/H) — equal to ⌊y·p1/H⌋ for these sizes.
                    int sy = (int)Math.Floor((y + 0.5) * p1 / h), sx = (int)Math.Floor((x + 0.5) * p2 / w);
                    if ((long)y * p1 / h != sy || (long)x * p2 / w != sx) continue; // the two conventions differ only at ties
                    Assert.That(img[(b * h + y) * w + x], Is.EqualTo(g[(b * p1 + sy) * p2 + sx]));
                }
        if (h == 8 * p1 && w == 8 * p2)
        {
            // ×8: each cell becomes an 8×8 block.
            Assert.That(img[(0 * h + 8 * 3 + 7) * w + 8 * 5 + 7], Is.EqualTo(g[3 * p2 + 5]));
            Assert.That(img[(1 * h + 8 * 27) * w + 8 * 27], Is.EqualTo(g[(p1 + 27) * p2 + 27]));
        }
    }

    [TestCase(28, 28, 224, 224)]
    [TestCase(3, 5, 7, 11)]
    [TestCase(37, 23, 111, 46)]
    public void BilinearReproducesLinearRampsInTheInterior(int p1, int p2, int h, int w)
    {
        // g[r, c] = 2r − 3c + 1 is reproduced exactly at every pixel whose source coordinate lies inside [0, p−1].
        var g = new double[p1 * p2];
        for (int r = 0; r < p1; r++)
            for (int c = 0; c < p2; c++) g[r * p2 + c] = 2 * r - 3 * c + 1;
        var img = new float[h * w];
        Upsampling.Apply<float>(g.Select(v => (float)v).ToArray(), img, p1, p2, h, w, UpsamplingMode.Bilinear);
        int checkedPixels = 0;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                double sy = (y + 0.5) * p1 / h - 0.5, sx = (x + 0.5) * p2 / w - 0.5;
                if (sy < 0 || sx < 0 || sy > p1 - 1 || sx > p2 - 1) continue;
                Assert.That(img[y * w + x], Is.EqualTo(2 * sy - 3 * sx + 1).Within(1e-4));
                checkedPixels++;
            }
        Assert.That(checkedPixels, Is.GreaterThan(h * w / 2));
    }

    [Test]
    public void BilinearMatchesDirectFormulaIncludingBorders()
    {
        const int p1 = 4, p2 = 3, h = 9, w = 10;
        var g = TestData.Uniform(p1 * p2, 61);
        var img = new double[h * w];
        Upsampling.Apply<double>(g, img, p1, p2, h, w, UpsamplingMode.Bilinear);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
            {
                // Clamp-to-edge interpolation written independently: weights over all cells as a tent function.
                double sy = Math.Clamp((y + 0.5) * p1 / h - 0.5, 0, p1 - 1), sx = Math.Clamp((x + 0.5) * p2 / w - 0.5, 0, p2 - 1);
                double expect = 0;
                for (int r = 0; r < p1; r++)
                    for (int c = 0; c < p2; c++)
                        expect += Math.Max(0, 1 - Math.Abs(sy - r)) * Math.Max(0, 1 - Math.Abs(sx - c)) * g[r * p2 + c];
                Assert.That(img[y * w + x], Is.EqualTo(expect).Within(1e-12));
            }
    }

    [Test]
    public void MismatchedSizesThrow()
    {
        using var g = TestData.Cpu(new float[2 * 9]);
        using var img = TestData.Cpu(new float[3 * 36]);
        Assert.Throws<BufferSizeMismatchException>(() => Upsampling.Apply(g, img, 3, 3, 6, 6, UpsamplingMode.Nearest));
        Assert.Throws<ArgumentOutOfRangeException>(() => Upsampling.Apply(g, img, 3, 3, 0, 6, UpsamplingMode.Nearest));
        Assert.Throws<BufferSizeMismatchException>(() => Upsampling.Apply(g, img, 4, 4, 6, 6, UpsamplingMode.Nearest));
    }
}
