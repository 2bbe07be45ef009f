using Saliency.Kernels.Backends;
using Saliency.Kernels.Cuda;
using Saliency.Kernels.Ops;

namespace Saliency.Kernels.Tests;

/// <summary>
/// Every kernel on the CUDA backend against the CPU backend (the reference) on the same inputs. Skipped with the
/// probing reason where no CUDA driver, GPU or NVRTC is present.
/// </summary>
[NonParallelizable]
public class CudaParityTests
{
    private CudaBackend? _cuda;

    [OneTimeSetUp]
    public void CreateBackend()
    {
        _cuda = ComputeBackends.TryCreateCuda(out string reason);
        if (_cuda is null) Assert.Ignore($"CUDA backend unavailable: {reason}");
    }

    [OneTimeTearDown]
    public void DisposeBackend() => _cuda?.Dispose();

    private CudaBackend Gpu => _cuda!;

    private DeviceBuffer<T> Up<T>(T[] host) where T : unmanaged
    {
        var b = Gpu.Allocate<T>(host.Length);
        Gpu.Upload<T>(host, b);
        return b;
    }

    private static void AssertClose(float[] actual, float[] expect, double relTol)
    {
        double scale = expect.Length == 0 ? 1 : expect.Max(v => Math.Abs((double)v)) + 1e-30;
        for (int i = 0; i < expect.Length; i++)
            Assert.That(actual[i], Is.EqualTo(expect[i]).Within(relTol * scale), $"element {i}");
    }

    private static void AssertClose(double[] actual, double[] expect, double relTol)
    {
        double scale = expect.Length == 0 ? 1 : expect.Max(Math.Abs) + 1e-300;
        for (int i = 0; i < expect.Length; i++)
            Assert.That(actual[i], Is.EqualTo(expect[i]).Within(relTol * scale), $"element {i}");
    }

    [Test]
    public void UploadDownloadCopyClear()
    {
        var host = TestData.UniformF(1000, 1);
        using var a = Up(host);
        using var b = Gpu.Allocate<float>(1000);
        Gpu.Copy(a, b);
        Assert.That(TestData.Download(b), Is.EqualTo(host));
        Gpu.Clear(b);
        Assert.That(TestData.Download(b), Is.All.EqualTo(0f));
        using var cpu = TestData.Cpu(host);
        Assert.Throws<BackendMismatchException>(() => SoftThreshold.Apply(a, cpu, 1000, [0.1f]));
    }

    [Test]
    public void CompileErrorsCarryTheNvrtcLog()
    {
        var ex = Assert.Throws<CudaException>(() => Gpu.GetKernel(new CudaKernelSource("broken.cu", "extern \"C\" __global__ void f() { undefined_symbol(); }"), "f"));
        Assert.That(ex!.CompileLog, Does.Contain("undefined_symbol"));
    }

    [TestCase(1, 1)]
    [TestCase(150_528, 3)]
    [TestCase(10, 70)] // more slices than one launch carries
    public void SoftThresholdAndFistaMatchCpu(int n, int slices)
    {
        var x = TestData.UniformF(n * slices, 2, -2, 2);
        var g = TestData.UniformF(n * slices, 3);
        var xo = TestData.UniformF(n * slices, 4);
        var tau = Enumerable.Range(0, slices).Select(s => 0.01f * s).ToArray();
        var t = Enumerable.Range(0, slices).Select(s => 0.5f + 0.01f * s).ToArray();
        var beta = Enumerable.Range(0, slices).Select(s => 0.1f + 0.005f * s).ToArray();

        using var cx = TestData.Cpu(x);
        using var cy = TestData.Cpu(new float[x.Length]);
        SoftThreshold.Apply(cx, cy, n, tau);
        using var gx = Up(x);
        using var gy = Gpu.Allocate<float>(x.Length);
        SoftThreshold.Apply(gx, gy, n, tau);
        Assert.That(TestData.Download(gy), Is.EqualTo(cy.Span.ToArray())); // same formula, no rounding difference

        using var cg = TestData.Cpu(g);
        using var cxo = TestData.Cpu(xo);
        using var cxn = TestData.Cpu(new float[x.Length]);
        using var cyn = TestData.Cpu(new float[x.Length]);
        VectorOps.FistaUpdate(cx, cg, cxo, cxn, cyn, n, t, tau, beta);
        using var gg = Up(g);
        using var gxo = Up(xo);
        using var gxn = Gpu.Allocate<float>(x.Length);
        using var gyn = Gpu.Allocate<float>(x.Length);
        VectorOps.FistaUpdate(gx, gg, gxo, gxn, gyn, n, t, tau, beta);
        // The GPU may fuse y − t·g into one FMA: a few ulps of difference.
        AssertClose(TestData.Download(gxn), cxn.Span.ToArray(), 1e-6);
        AssertClose(TestData.Download(gyn), cyn.Span.ToArray(), 1e-6);

        VectorOps.Axpby(cx, cy, n, t, beta);
        VectorOps.Axpby(gx, gy, n, t, beta);
        AssertClose(TestData.Download(gy), cy.Span.ToArray(), 1e-6);
    }

    [TestCase(1, 1)]
    [TestCase(150_528, 4)]
    public void ReductionsMatchCpu(int n, int slices)
    {
        var x = TestData.Uniform(n * slices, 5);
        var y = TestData.Uniform(n * slices, 6);
        for (int i = 0; i < x.Length; i += 4) x[i] = 0;
        using var cx = TestData.Cpu(x);
        using var cy = TestData.Cpu(y);
        using var gx = Up(x);
        using var gy = Up(y);
        var (a, b) = (new double[slices], new double[slices]);
        Reductions.Dot(cx, cy, n, a);
        Reductions.Dot(gx, gy, n, b);
        AssertClose(b, a, 1e-12);
        Reductions.L1Norm(cx, n, a);
        Reductions.L1Norm(gx, n, b);
        AssertClose(b, a, 1e-12);
        Reductions.L2Norm(cx, n, a);
        Reductions.L2Norm(gx, n, b);
        AssertClose(b, a, 1e-12);
        Reductions.MaxAbs(cx, n, a);
        Reductions.MaxAbs(gx, n, b);
        Assert.That(b, Is.EqualTo(a));
        var (za, zb) = (new long[slices], new long[slices]);
        Reductions.CountZeros(cx, n, za);
        Reductions.CountZeros(gx, n, zb);
        Assert.That(zb, Is.EqualTo(za));
    }

    [TestCase(1, 1, 1)]
    [TestCase(3, 5, 2)]
    [TestCase(28, 28, 3)]
    [TestCase(37, 23, 6)]
    public void TotalVariationMatchesCpu(int p1, int p2, int batch)
    {
        int p = p1 * p2, m = TotalVariation.DifferenceCount(p1, p2);
        var x = TestData.Uniform(batch * p, 7);
        var u = TestData.Uniform(batch * m, 8);
        var (dx, dtu) = (new double[batch * m], new double[batch * p]);
        TotalVariation.Forward<double>(x, dx, p1, p2);
        TotalVariation.Adjoint<double>(u, dtu, p1, p2);
        using var gx = Up(x);
        using var gu = Up(u);
        using var gdx = Gpu.Allocate<double>(batch * m);
        using var gdtu = Gpu.Allocate<double>(batch * p);
        TotalVariation.Forward(gx, gdx, p1, p2);
        TotalVariation.Adjoint(gu, gdtu, p1, p2);
        Assert.That(TestData.Download(gdx), Is.EqualTo(dx));
        AssertClose(TestData.Download(gdtu), dtu, 1e-15);
    }

    [TestCase(499, 13, 1, false)]
    [TestCase(499, 13, 16, false)]
    [TestCase(2000, 100, 7, true)]
    [TestCase(150_528, 64, 4, false)]
    public void HessianVectorProductMatchesCpu(int d, int c, int k, bool subset)
    {
        var (w, p) = HessianVectorProductTests.Problem(d, c, 9);
        int[] classes = subset ? Enumerable.Range(0, c).Where(j => j % 4 == 0).ToArray() : [];
        var v = TestData.UniformF(k * d, 10);
        using var cw = TestData.Cpu(w);
        using var cv = TestData.Cpu(v);
        using var chv = TestData.Cpu(new float[k * d]);
        using (var op = new HessianVectorProduct(cw, d, c, p, classes)) op.Apply(cv, chv);
        using var gw = Up(w);
        using var gv = Up(v);
        using var ghv = Gpu.Allocate<float>(k * d);
        foreach (bool cublas in new[] { true, false })
        {
            Gpu.Clear(ghv);
            using (var op = new HessianVectorProduct(gw, d, c, p, classes) { PreferCublas = cublas }) op.Apply(gv, ghv);
            AssertClose(TestData.Download(ghv), chv.Span.ToArray(), 1e-4);
        }
    }

    [Test]
    public void GaussianStreamMatchesCpu()
    {
        var cpu = new float[100_003];
        GaussianRng.Fill<float>(cpu, 99, offset: 5, mean: 0.5, std: 2);
        using var g = Gpu.Allocate<float>(cpu.Length);
        GaussianRng.Fill(g, 99, offset: 5, mean: 0.5, std: 2);
        AssertClose(TestData.Download(g), cpu, 1e-6);
        var cpuD = new double[1001];
        GaussianRng.Fill<double>(cpuD, 12345, offset: 1);
        using var gd = Gpu.Allocate<double>(cpuD.Length);
        GaussianRng.Fill(gd, 12345, offset: 1);
        AssertClose(TestData.Download(gd), cpuD, 1e-13);
    }

    [TestCase(28, 28, 224, 224, UpsamplingMode.Nearest)]
    [TestCase(28, 28, 224, 224, UpsamplingMode.Bilinear)]
    [TestCase(37, 23, 50, 99, UpsamplingMode.Bilinear)]
    public void UpsamplingMatchesCpu(int p1, int p2, int h, int w, UpsamplingMode mode)
    {
        const int batch = 3;
        var g = TestData.UniformF(batch * p1 * p2, 11);
        var img = new float[batch * h * w];
        Upsampling.Apply<float>(g, img, p1, p2, h, w, mode);
        using var gg = Up(g);
        using var gi = Gpu.Allocate<float>(img.Length);
        Upsampling.Apply(gg, gi, p1, p2, h, w, mode);
        AssertClose(TestData.Download(gi), img, 1e-6);
    }

    [TestCase(3, 224 * 224, 99.0)]
    [TestCase(1, 1, 99.0)]
    [TestCase(2, 1001, 37.5)]
    public void PercentileNormalizationMatchesCpu(int channels, int pixels, double q)
    {
        const int batch = 2;
        var maps = TestData.UniformF(batch * channels * pixels, 12, -3, 3);
        for (int i = 0; i < maps.Length; i += 5) maps[i] = 0;
        var expect = new float[batch * pixels];
        PercentileNormalization.Apply(maps, expect, channels, pixels, q);
        using var gm = Up(maps);
        using var gr = Gpu.Allocate<float>(expect.Length);
        PercentileNormalization.Apply(gm, gr, channels, pixels, q);
        AssertClose(TestData.Download(gr), expect, 1e-6);
    }
}
