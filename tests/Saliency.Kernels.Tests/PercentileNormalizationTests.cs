using Saliency.Kernels.Backends;
using Saliency.Kernels.Ops;

namespace Saliency.Kernels.Tests;

/// <summary>Percentile-capped normalisation against a sort-based reference (numpy's linear-interpolation percentile).</summary>
internal class PercentileNormalizationTests
{
    private static float[] Reference(float[] maps, int channels, int pixels, double q)
    {
        int batch = maps.Length / (channels * pixels);
        var output = new float[batch * pixels];
        for (int b = 0; b < batch; b++)
        {
            var s = new float[pixels];
            for (int i = 0; i < pixels; i++)
            {
                float acc = 0;
                for (int c = 0; c < channels; c++) acc += Math.Abs(maps[(b * channels + c) * pixels + i]);
                s[i] = acc;
            }
            var sorted = (float[])s.Clone();
            Array.Sort(sorted);
            double rank = q / 100 * (pixels - 1);
            int lo = (int)Math.Floor(rank);
            int hi = Math.Min(lo + 1, pixels - 1);
            double cap = sorted[lo] + (rank - lo) * ((double)sorted[hi] - sorted[lo]);
            for (int i = 0; i < pixels; i++)
                output[b * pixels + i] = (float)Math.Clamp(cap > 0 ? s[i] / cap : s[i] > 0 ? 1 : 0, 0, 1);
        }
        return output;
    }

    [TestCase(3, 224 * 224, 99.0)]
    [TestCase(1, 1, 99.0)]
    [TestCase(3, 15, 50.0)]
    [TestCase(2, 1001, 0.0)]
    [TestCase(2, 1001, 100.0)]
    public void MatchesSortBasedReference(int channels, int pixels, double q)
    {
        const int batch = 2;
        var maps = TestData.UniformF(batch * channels * pixels, 70, -5, 5);
        // Ties and zeros (common in sparse CASO maps): zero a third of the first map.
        for (int i = 0; i < channels * pixels; i += 3) maps[i] = 0;
        var result = new float[batch * pixels];
        PercentileNormalization.Apply(maps, result, channels, pixels, q);
        var expect = Reference(maps, channels, pixels, q);
        for (int i = 0; i < result.Length; i++) Assert.That(result[i], Is.EqualTo(expect[i]).Within(1e-6f));
        Assert.That(result, Is.All.InRange(0f, 1f));
        if (pixels > 100) Assert.That(result.Count(v => v == 1f), Is.GreaterThanOrEqualTo((int)(batch * pixels * (100 - q) / 100)));
    }

    [Test]
    public void AllZeroAndMostlyZeroMaps()
    {
        var zero = new float[2 * 50];
        var r = new float[50];
        PercentileNormalization.Apply(zero, r, 2, 50);
        Assert.That(r, Is.All.EqualTo(0f));
        var sparse = new float[200];
        sparse[7] = -3f;
        var r2 = new float[200];
        PercentileNormalization.Apply(sparse, r2, 1, 200); // the 99th percentile is 0: the non-zero pixel saturates
        Assert.That(r2[7], Is.EqualTo(1f));
        Assert.That(r2.Count(v => v != 0), Is.EqualTo(1));
    }

    [Test]
    public void BadInputThrows()
    {
        var maps = new float[30];
        var result = new float[10];
        Assert.Throws<NonFiniteValueException>(() => PercentileNormalization.Apply(maps, result, 3, 10, 101));
        Assert.Throws<BufferSizeMismatchException>(() => PercentileNormalization.Apply(maps, new float[11], 3, 10));
        Assert.Throws<BufferSizeMismatchException>(() => PercentileNormalization.Apply(maps, result, 4, 10));
        maps[5] = float.NaN;
        Assert.Throws<NonFiniteValueException>(() => PercentileNormalization.Apply(maps, result, 3, 10));
    }
}
