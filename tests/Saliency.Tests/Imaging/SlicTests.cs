using NUnit.Framework;
using Saliency.Imaging;

namespace Saliency.Tests.Imaging;

/// <summary>
/// SLIC on piecewise-constant synthetic images whose regions are known: every superpixel lies inside one region (so
/// every region boundary is a superpixel boundary: boundary recall 1, under-segmentation error 0), every label is one
/// 4-connected region, and the CIELAB conversion against published reference values.
/// </summary>
[TestFixture]
public sealed class SlicTests
{
    private const int Size = 60;

    /// <summary>
    /// Four regions, each at least 8 pixels thick everywhere (SLIC merges slivers thinner than its connectivity
    /// threshold into a neighbour, so a thinner region could not be recovered): a disc, a rectangle on the right
    /// border, a bottom-left quadrilateral with a slanted side (no corner sharper than 60°), and the rest.
    /// </summary>
    private static int RegionOf(int y, int x)
    {
        if ((y - 20) * (y - 20) + (x - 22) * (x - 22) <= 12 * 12) return 0;
        if (y >= 8 && y < 28 && x >= 44) return 1;
        return y >= 40 && 2 * x < 48 + (y - 40) ? 3 : 2;
    }

    private static float[] Image(float[][] colours)
    {
        int channels = colours[0].Length, plane = Size * Size;
        var image = new float[channels * plane];
        for (int y = 0; y < Size; y++)
            for (int x = 0; x < Size; x++)
                for (int c = 0; c < channels; c++) image[c * plane + y * Size + x] = colours[RegionOf(y, x)][c];
        return image;
    }

    private static void AssertInsideRegions(Superpixels s, int segments)
    {
        Assert.That(s.Count, Is.InRange(segments / 2, 2 * segments), "about K superpixels");
        var region = new int[s.Count];
        Array.Fill(region, -1);
        for (int i = 0; i < Size * Size; i++)
        {
            int r = RegionOf(i / Size, i % Size), l = s.Labels[i];
            if (region[l] < 0) region[l] = r;
            Assert.That(r, Is.EqualTo(region[l]), $"superpixel {l} straddles regions {region[l]} and {r} (pixel {i / Size}, {i % Size})");
        }
        AssertConnected(s);
    }

    /// <summary>Labels are 0…Count−1, each one 4-connected component (flood fill from its first pixel reaches all of it).</summary>
    private static void AssertConnected(Superpixels s)
    {
        int n = s.Height * s.Width;
        var size = new int[s.Count];
        foreach (int l in s.Labels) size[l]++;
        Assert.That(size, Has.All.GreaterThan(0));
        var seen = new bool[n];
        var reached = new int[s.Count];
        for (int start = 0; start < n; start++)
        {
            int l = s.Labels[start];
            if (reached[l] > 0) continue;
            var queue = new Queue<int>([start]);
            seen[start] = true;
            while (queue.TryDequeue(out int i))
            {
                reached[l]++;
                int y = i / s.Width, x = i % s.Width;
                foreach (var (ny, nx) in new[] { (y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1) })
                {
                    if (ny < 0 || nx < 0 || ny >= s.Height || nx >= s.Width) continue;
                    int j = ny * s.Width + nx;
                    if (!seen[j] && s.Labels[j] == l) { seen[j] = true; queue.Enqueue(j); }
                }
            }
            Assert.That(reached[l], Is.EqualTo(size[l]), $"label {l} is not one 4-connected region");
        }
    }

    [TestCase(16)]
    [TestCase(25)]
    [TestCase(36)]
    [TestCase(64)]
    [TestCase(100)]
    public void ColourRegionsAreRecovered(int segments)
    {
        float[][] colours = [[0.9f, 0.1f, 0.1f], [0.95f, 0.9f, 0.2f], [0.1f, 0.2f, 0.8f], [0.2f, 0.7f, 0.3f]];
        var s = Slic.Segment(Image(colours), 3, Size, Size, new SlicOptions { Segments = segments });
        AssertInsideRegions(s, segments);
    }

    [Test]
    public void GrayRegionsAreRecoveredAndOutOfRangeValuesAreRescaled()
    {
        float[][] levels = [[0.1f], [0.45f], [0.75f], [0.95f]];
        var s = Slic.Segment(Image(levels), 1, Size, Size, new SlicOptions { Segments = 36 });
        AssertInsideRegions(s, 36);
        // A model input normalised as (x − μ)/σ: the same partition after the min–max rescale.
        var normalised = Image(levels).Select(v => (v - 0.5f) / 0.25f).ToArray();
        Assert.That(Slic.Segment(normalised, 1, Size, Size, new SlicOptions { Segments = 36 }).Labels, Is.EqualTo(s.Labels));
    }

    [Test]
    public void EveryLabelIsConnectedOnNoise()
    {
        var rng = new Random(3);
        var noise = Enumerable.Range(0, 3 * 40 * 40).Select(_ => (float)rng.NextDouble()).ToArray();
        var s = Slic.Segment(noise, 3, 40, 40, new SlicOptions { Segments = 30, Compactness = 1 });
        AssertConnected(s);
        Assert.That(Slic.Segment(noise, 3, 40, 40, new SlicOptions { Segments = 30, Compactness = 1 }).Labels, Is.EqualTo(s.Labels), "deterministic");
    }

    // Reference values: CIE L*a*b* (D65) of the sRGB primaries and white, as tabulated from the sRGB/CIE definitions
    // (e.g. Lindbloom's calculator): red (53.24, 80.09, 67.20), green (87.73, −86.18, 83.18), blue (32.30, 79.19, −107.86).
    [TestCase(1.0, 0.0, 0.0, 53.2408, 80.0925, 67.2032)]
    [TestCase(0.0, 1.0, 0.0, 87.7347, -86.1827, 83.1793)]
    [TestCase(0.0, 0.0, 1.0, 32.2970, 79.1875, -107.8602)]
    [TestCase(1.0, 1.0, 1.0, 100.0, 0.0, 0.0)]
    [TestCase(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)]
    public void SrgbToLabMatchesReferenceValues(double r, double g, double b, double l, double a, double bb)
    {
        var lab = Slic.SrgbToLab(r, g, b);
        Assert.That(lab.L, Is.EqualTo(l).Within(0.01));
        Assert.That(lab.A, Is.EqualTo(a).Within(0.02));
        Assert.That(lab.B, Is.EqualTo(bb).Within(0.02));
    }

    [Test]
    public void BadSettingsAreArgumentErrors()
    {
        var image = new float[16];
        Assert.Throws<ArgumentException>(() => Slic.Segment(image, 1, 4, 4, new SlicOptions { Segments = 0 }));
        Assert.Throws<ArgumentException>(() => Slic.Segment(image, 1, 4, 4, new SlicOptions { Segments = 17 }));
        Assert.Throws<ArgumentException>(() => Slic.Segment(image, 1, 4, 4, new SlicOptions { Compactness = 0 }));
        Assert.Throws<ArgumentException>(() => Slic.Segment(image, 1, 4, 5));
        image[3] = float.NaN;
        Assert.Throws<ArgumentException>(() => Slic.Segment(image, 1, 4, 4));
    }
}
