using Saliency.Kernels.Backends;
using Saliency.Kernels.Ops;

namespace Saliency.Kernels.Tests;

/// <summary>Philox4x32-10 known answers, reproducibility, windowing, and the moments of the Gaussian stream.</summary>
internal class GaussianRngTests
{
    // Random123 kat_vectors, "philox4x32 10": counter[4], key[2] → output[4].
    [TestCase(0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x00000000u, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u)]
    [TestCase(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu)]
    [TestCase(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u, 0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u)]
    public void PhiloxMatchesRandom123KnownAnswers(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1, uint e0, uint e1, uint e2, uint e3)
    {
        Assert.That(GaussianRng.Philox4x32(c0, c1, c2, c3, k0, k1), Is.EqualTo((e0, e1, e2, e3)));
    }

    [Test]
    public void StreamElementsFollowTheDocumentedCounterMapping()
    {
        // Element g = 4b + lane uses counter (b, 0, 0, 0) and key (lo32 seed, hi32 seed); check lane 1 of block 5.
        const ulong seed = 0x0000_0001_2345_6789UL;
        var (r0, r1, _, _) = GaussianRng.Philox4x32(5, 0, 0, 0, 0x23456789u, 1u);
        double u0 = (r0 + 0.5) / 4294967296.0, u1 = (r1 + 0.5) / 4294967296.0;
        double expected = Math.Sqrt(-2 * Math.Log(u0)) * Math.Sin(2 * Math.PI * u1);
        var one = new double[1];
        GaussianRng.Fill<double>(one, seed, offset: 21);
        Assert.That(one[0], Is.EqualTo(expected).Within(1e-12));
    }

    [Test]
    public void SameSeedSameDrawsAndWindowsAgree()
    {
        var a = new float[1001];
        var b = new float[1001];
        GaussianRng.Fill<float>(a, 42);
        GaussianRng.Fill<float>(b, 42);
        Assert.That(a, Is.EqualTo(b));
        var window = new float[333];
        GaussianRng.Fill<float>(window, 42, offset: 299);
        Assert.That(window, Is.EqualTo(a.AsSpan(299, 333).ToArray()));
        var other = new float[1001];
        GaussianRng.Fill<float>(other, 43);
        Assert.That(other.Zip(a).Count(t => t.First == t.Second), Is.LessThan(5));
        using var buffer = TestData.Cpu(new float[1001]);
        GaussianRng.Fill(buffer, 42);
        Assert.That(buffer.Span.ToArray(), Is.EqualTo(a));
    }

    [Test]
    public void MomentsOfAMillionDrawsAreStandardNormal()
    {
        const int n = 1_000_000;
        var z = new double[n];
        GaussianRng.Fill<double>(z, 2026, offset: 3);
        double m1 = 0, m2 = 0, m3 = 0, m4 = 0, lag = 0;
        for (int i = 0; i < n; i++)
        {
            double v = z[i];
            m1 += v;
            m2 += v * v;
            m3 += v * v * v;
            m4 += v * v * v * v;
            if (i > 0) lag += v * z[i - 1];
        }
        m1 /= n; m2 /= n; m3 /= n; m4 /= n; lag /= n - 1;
        // Standard errors of the sample moments of N(0,1): sd(mean) = 1/√n, sd(E z²) = √2/√n, sd(E z³) = √15/√n,
        // sd(E z⁴) = √96/√n, sd(lag-1 product) = 1/√n. Bound: 5 standard errors (false-alarm rate < 1e-6 each).
        double se = 1 / Math.Sqrt(n);
        Assert.That(m1, Is.EqualTo(0).Within(5 * se));
        Assert.That(m2, Is.EqualTo(1).Within(5 * Math.Sqrt(2) * se));
        Assert.That(m3, Is.EqualTo(0).Within(5 * Math.Sqrt(15) * se));
        Assert.That(m4, Is.EqualTo(3).Within(5 * Math.Sqrt(96) * se));
        Assert.That(lag, Is.EqualTo(0).Within(5 * se));
    }

    [Test]
    public void ScaleAndBadArguments()
    {
        var a = new double[64];
        var b = new double[64];
        GaussianRng.Fill<double>(a, 7);
        GaussianRng.Fill<double>(b, 7, mean: 2, std: 0.5);
        for (int i = 0; i < a.Length; i++) Assert.That(b[i], Is.EqualTo(2 + 0.5 * a[i]).Within(1e-12));
        Assert.Throws<NonFiniteValueException>(() => GaussianRng.Fill<double>(a, 7, std: -1));
        Assert.Throws<NonFiniteValueException>(() => GaussianRng.Fill<double>(a, 7, mean: double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => GaussianRng.Fill<double>(a, 7, offset: ulong.MaxValue - 10));
    }
}
