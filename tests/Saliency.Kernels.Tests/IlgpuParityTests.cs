using System.Numerics;
using Saliency.Kernels.Backends;
using Saliency.Kernels.Ops;
using Saliency.Kernels.Ops.PrimalDual;

namespace Saliency.Kernels.Tests;

/// <summary>
/// Every ILGPU kernel against the hand-written CPU backend (the reference) on the same inputs: grid kernels on 1×1, 1×7,
/// 3×5, 28×28 and 37×23 grids, vector kernels on those lengths (1, 7, 15, 784, 851) with several slices, float and
/// double. On ILGPU's CPU accelerator (runs in every test run) element-wise kernels must agree bit for bit; on CUDA
/// (skipped with the reason where no device exists) to a few float ulps, since PTX may contract a·b + c into an FMA
/// and evaluates log/sin/cos with its own code. One accelerator per fixture: ILGPU compiles each kernel once.
/// </summary>
[TestFixture(BackendKind.IlgpuCpu)]
[TestFixture(BackendKind.Cuda)]
[NonParallelizable]
internal class IlgpuParityTests(BackendKind kind)
{
    private static readonly (int Rows, int Cols)[] Grids = [(1, 1), (1, 7), (3, 5), (28, 28), (37, 23)];
    private const int Slices = 3;
    private IComputeBackend _gpu = null!;

    private static IEnumerable<int> Lengths => Grids.Select(g => g.Rows * g.Cols);
    private static IComputeBackend Cpu => ComputeBackends.Cpu;
    private bool Exact => kind == BackendKind.IlgpuCpu;

    [OneTimeSetUp]
    public void CreateBackend()
    {
        var backend = ComputeBackends.TryCreate(kind, out string reason);
        if (backend is null)
        {
            if (kind == BackendKind.Cuda) Assert.Ignore($"CUDA backend unavailable: {reason}");
            Assert.Fail($"The {kind} backend must always be available, but: {reason}");
        }
        _gpu = backend!;
    }

    [OneTimeTearDown]
    public void DisposeBackend() => _gpu?.Dispose();

    // ---- helpers

    private static T[] Data<T>(int n, int seed, double lo = -1, double hi = 1) where T : INumberBase<T> =>
        TestData.Uniform(n, seed, lo, hi).Select(T.CreateTruncating).ToArray();

    private static DeviceBuffer<T> Up<T>(IComputeBackend backend, T[] host) where T : unmanaged
    {
        var b = backend.Allocate<T>(host.Length);
        backend.Upload<T>(host, b);
        return b;
    }

    /// <summary>Both backends' copies of the same host data.</summary>
    private (DeviceBuffer<T> Cpu, DeviceBuffer<T> Gpu) Pair<T>(T[] host) where T : unmanaged => (Up(Cpu, host), Up(_gpu, host));

    /// <summary>
    /// Exact equality on the CPU accelerator when <paramref name="exactOnCpuAccelerator"/>, otherwise |a − e| ≤ tol·max|e|
    /// with tol = <paramref name="floatTol"/> for float and <paramref name="doubleTol"/> for double.
    /// </summary>
    private void AssertParity<T>(DeviceBuffer<T> gpu, DeviceBuffer<T> cpu, bool exactOnCpuAccelerator, double floatTol = 1e-6, double doubleTol = 1e-13,
        string what = "") where T : unmanaged, INumberBase<T>
    {
        var actual = TestData.Download(gpu);
        var expect = TestData.Download(cpu);
        if (exactOnCpuAccelerator && Exact)
        {
            Assert.That(actual, Is.EqualTo(expect), $"{what}: the CPU accelerator must match the CPU bit for bit");
            return;
        }
        AssertClose(actual, expect, typeof(T) == typeof(float) ? floatTol : doubleTol, what);
    }

    private static void AssertClose<T>(T[] actual, T[] expect, double tol, string what = "") where T : INumberBase<T>
    {
        Assert.That(actual, Has.Length.EqualTo(expect.Length));
        double scale = expect.Length == 0 ? 1 : expect.Max(v => Math.Abs(double.CreateTruncating(v))) + 1e-300;
        for (int i = 0; i < expect.Length; i++)
            Assert.That(double.CreateTruncating(actual[i]), Is.EqualTo(double.CreateTruncating(expect[i])).Within(tol * scale), $"{what} element {i}");
    }

    private static void Both(bool single, Action<float> f, Action<double> d)
    {
        if (single) f(0f);
        else d(0.0);
    }

    // ---- plumbing

    [Test]
    public void UploadDownloadCopyClearRoundTrip()
    {
        var host = TestData.Uniform(1000, 1);
        using var a = Up(_gpu, host);
        using var b = _gpu.Allocate<double>(1000);
        Assert.That(TestData.Download(b), Is.All.EqualTo(0.0), "Allocate zero-fills");
        _gpu.Copy(a, b);
        Assert.That(TestData.Download(b), Is.EqualTo(host));
        _gpu.Clear(b);
        Assert.That(TestData.Download(b), Is.All.EqualTo(0.0));
        using var ints = Up(_gpu, new[] { 3, -1, 7 });
        Assert.That(TestData.Download(ints), Is.EqualTo(new[] { 3, -1, 7 }));
        using var empty = _gpu.Allocate<float>(0);
        Assert.That(TestData.Download(empty), Is.Empty);
        Assert.Throws<BufferSizeMismatchException>(() => _gpu.Upload<double>([1, 2], a));
        Assert.Throws<NotSupportedException>(() => _gpu.Allocate<long>(3));
        Assert.That(_gpu.Kind, Is.EqualTo(kind));
    }

    [Test]
    public void MisuseRaisesTypedExceptionsBeforeAnyDeviceWork()
    {
        var sentinel = new float[] { 5, 6, 7, 8 };
        using var x = Up(_gpu, new float[] { 1, -2, 3, -4 });
        using var y = Up(_gpu, sentinel);
        using var cpu = Up(Cpu, sentinel);
        using var other = ComputeBackends.Create(kind); // a second accelerator: its buffers belong to another backend
        using var foreign = Up(other, sentinel);
        Assert.Throws<BackendMismatchException>(() => SoftThreshold.Apply(x, cpu, 4, [0.5f]));
        Assert.Throws<BackendMismatchException>(() => SoftThreshold.Apply(x, foreign, 4, [0.5f]));
        Assert.Throws<BackendMismatchException>(() => VectorOps.Axpby(cpu, y, 4, [1f], [1f]));
        Assert.Throws<BufferSizeMismatchException>(() => SoftThreshold.Apply(x, y, 3, [0.5f]));
        Assert.Throws<BufferSizeMismatchException>(() => SoftThreshold.Apply(x, y, 2, [0.5f]));
        Assert.Throws<NonFiniteValueException>(() => SoftThreshold.Apply(x, y, 4, [float.NaN]));
        Assert.Throws<NonFiniteValueException>(() => VectorOps.FistaUpdate(x, x, x, y, y, 4, [-1f], [0f], [0f]));
        Assert.Throws<BufferSizeMismatchException>(() => TotalVariation.Forward(x, y, 1, 4)); // a 1×4 grid has 3 differences
        Assert.Throws<BufferSizeMismatchException>(() => Reductions.Dot(x, y, 4, new double[2]));
        using var disposed = Up(_gpu, sentinel);
        disposed.Dispose();
        Assert.Throws<BackendMismatchException>(() => SoftThreshold.Apply(x, disposed, 4, [0.5f]));
        Assert.Throws<BackendMismatchException>(() => Reductions.L1Norm(disposed, 4, new double[1]));
        using var maps = Up(_gpu, new float[] { 1, float.PositiveInfinity, 0, 2 });
        Assert.Throws<NonFiniteValueException>(() => PercentileNormalization.Apply(maps, y, 1, 4));
        // Nothing above reached the device: y still holds the sentinel.
        Assert.That(TestData.Download(y), Is.EqualTo(sentinel));
    }

    // ---- element-wise kernels

    [Test]
    public void SoftThresholdMatchesCpu([Values] bool single)
    {
        Both(single, Run, Run);

        void Run<T>(T _) where T : unmanaged, IFloatingPointIeee754<T>
        {
            foreach (int n in Lengths)
            {
                var x = Data<T>(n * Slices, n, -2, 2);
                var tau = Enumerable.Range(0, Slices).Select(s => T.CreateTruncating(0.3 * s)).ToArray();
                var (cx, gx) = Pair(x);
                var (cy, gy) = Pair(new T[x.Length]);
                SoftThreshold.Apply(cx, cy, n, tau);
                SoftThreshold.Apply(gx, gy, n, tau);
                AssertParity(gy, cy, exactOnCpuAccelerator: true, floatTol: 0, doubleTol: 0, what: $"n={n}");
                SoftThreshold.Apply(gx, gx, n, tau); // in place
                AssertParity(gx, cy, exactOnCpuAccelerator: true, floatTol: 0, doubleTol: 0, what: $"in place n={n}");
                foreach (var b in new[] { cx, gx, cy, gy }) b.Dispose();
            }
        }
    }

    [Test]
    public void VectorOpsMatchCpu([Values] bool single)
    {
        Both(single, Run, Run);

        void Run<T>(T _) where T : unmanaged, IFloatingPointIeee754<T>
        {
            foreach (int n in Lengths)
            {
                int len = n * Slices;
                var t = Enumerable.Range(0, Slices).Select(s => T.CreateTruncating(0.5 + 0.1 * s)).ToArray();
                var lambda = Enumerable.Range(0, Slices).Select(s => T.CreateTruncating(0.2 * s)).ToArray();
                var beta = Enumerable.Range(0, Slices).Select(s => T.CreateTruncating(0.1 + 0.3 * s)).ToArray();
                var (cy, gy) = Pair(Data<T>(len, 10 + n, -2, 2));
                var (cg, gg) = Pair(Data<T>(len, 20 + n));
                var (cxo, gxo) = Pair(Data<T>(len, 30 + n));
                var (cxn, gxn) = Pair(new T[len]);
                var (cyn, gyn) = Pair(new T[len]);

                VectorOps.ProxGradient(cy, cg, cxn, n, t, lambda);
                VectorOps.ProxGradient(gy, gg, gxn, n, t, lambda);
                AssertParity(gxn, cxn, true, what: $"prox-gradient n={n}");
                VectorOps.Extrapolate(cxn, cxo, cyn, n, beta);
                VectorOps.Extrapolate(gxn, gxo, gyn, n, beta);
                AssertParity(gyn, cyn, true, what: $"extrapolate n={n}");
                VectorOps.FistaUpdate(cy, cg, cxo, cxn, cyn, n, t, lambda, beta);
                VectorOps.FistaUpdate(gy, gg, gxo, gxn, gyn, n, t, lambda, beta);
                AssertParity(gxn, cxn, true, what: $"FISTA x n={n}");
                AssertParity(gyn, cyn, true, what: $"FISTA y n={n}");
                // Aliased as the solver uses it: x_new = x_old, y_new = y.
                VectorOps.FistaUpdate(cy, cg, cxo, cxo, cy, n, t, lambda, beta);
                VectorOps.FistaUpdate(gy, gg, gxo, gxo, gy, n, t, lambda, beta);
                AssertParity(gxo, cxo, true, what: $"FISTA in place x n={n}");
                AssertParity(gy, cy, true, what: $"FISTA in place y n={n}");
                VectorOps.Axpby(cg, cy, n, t, beta);
                VectorOps.Axpby(gg, gy, n, t, beta);
                AssertParity(gy, cy, true, what: $"axpby n={n}");
                foreach (var b in new[] { cy, gy, cg, gg, cxo, gxo, cxn, gxn, cyn, gyn }) b.Dispose();
            }
        }
    }

    // ---- reductions

    [Test]
    public void ReductionsMatchCpu([Values] bool single)
    {
        Both(single, Run, Run);

        void Run<T>(T _) where T : unmanaged, IFloatingPointIeee754<T>
        {
            // Also one slice long enough to be split into several segments (parts) per slice.
            foreach (int n in Lengths.Append(20_000))
            {
                var x = Data<T>(n * Slices, 40 + n);
                for (int i = 0; i < x.Length; i += 3) x[i] = T.Zero;
                var (cx, gx) = Pair(x);
                var (cy, gy) = Pair(Data<T>(n * Slices, 50 + n));
                double tol = typeof(T) == typeof(float) ? 1e-6 : 1e-12; // float: the CPU sums blocks in float, ILGPU in double
                var (a, b) = (new double[Slices], new double[Slices]);
                Reductions.Dot(cx, cy, n, a);
                Reductions.Dot(gx, gy, n, b);
                AssertClose(b, a, tol, $"dot n={n}");
                Reductions.L1Norm(cx, n, a);
                Reductions.L1Norm(gx, n, b);
                AssertClose(b, a, tol, $"L1 n={n}");
                Reductions.L2Norm(cx, n, a);
                Reductions.L2Norm(gx, n, b);
                AssertClose(b, a, tol, $"L2 n={n}");
                Reductions.MaxAbs(cx, n, a);
                Reductions.MaxAbs(gx, n, b);
                Assert.That(b, Is.EqualTo(a), $"max n={n}");
                var (za, zb) = (new long[Slices], new long[Slices]);
                Reductions.CountZeros(cx, n, za);
                Reductions.CountZeros(gx, n, zb);
                Assert.That(zb, Is.EqualTo(za), $"zeros n={n}");
                x[x.Length - 1] = T.NaN;
                x[0] = T.PositiveInfinity;
                _gpu.Upload<T>(x, gx);
                Cpu.Upload<T>(x, cx);
                Reductions.CountNonFinite(cx, n, za);
                Reductions.CountNonFinite(gx, n, zb);
                Assert.That(zb, Is.EqualTo(za), $"non-finite n={n}");
                Assert.That(zb.Sum(), Is.EqualTo(2));
                foreach (var buf in new[] { cx, gx, cy, gy }) buf.Dispose();
            }
        }
    }

    // ---- grid kernels

    [Test]
    public void TotalVariationMatchesCpu([Values] bool single)
    {
        Both(single, Run, Run);

        void Run<T>(T _) where T : unmanaged, IFloatingPointIeee754<T>
        {
            foreach (var (p1, p2) in Grids)
            {
                int p = p1 * p2, m = TotalVariation.DifferenceCount(p1, p2);
                var (cx, gx) = Pair(Data<T>(Slices * p, 60 + p));
                var (cu, gu) = Pair(Data<T>(Slices * m, 70 + p));
                var (cdx, gdx) = Pair(new T[Slices * m]);
                var (cdt, gdt) = Pair(new T[Slices * p]);
                TotalVariation.Forward(cx, cdx, p1, p2);
                TotalVariation.Forward(gx, gdx, p1, p2);
                AssertParity(gdx, cdx, true, what: $"D on {p1}×{p2}");
                TotalVariation.Adjoint(cu, cdt, p1, p2);
                TotalVariation.Adjoint(gu, gdt, p1, p2);
                AssertParity(gdt, cdt, true, what: $"Dᵀ on {p1}×{p2}");
                foreach (var b in new[] { cx, gx, cu, gu, cdx, gdx, cdt, gdt }) b.Dispose();
            }
        }
    }

    [Test]
    public void PrimalDualStepEvaluateRestartMatchCpu([Values] bool withSumsAndScale)
    {
        foreach (var (p1, p2) in Grids)
        {
            int p = p1 * p2, m = PrimalDualTvStep.EdgeCount(p1, p2);
            var par = new double[Slices * PrimalDualTvBatch.ParameterCount];
            for (int k = 0; k < Slices; k++)
            {
                var o = k * PrimalDualTvBatch.ParameterCount;
                (par[o], par[o + 1], par[o + 2], par[o + 3], par[o + 4], par[o + 5]) = (0.3 + 0.1 * k, 0.2, 0.05 * k, 1.5, 0.25, k == 1 ? 0 : 1);
            }
            var (cx, gx) = Pair(TestData.Uniform(Slices * p, 80 + p));
            var (cy, gy) = Pair(TestData.Uniform(Slices * m, 81 + p));
            var (cb, gb) = Pair(TestData.Uniform(Slices * m, 82 + p, -0.5, 0.5));
            var (cxo, gxo) = Pair(new double[Slices * p]);
            var (cyo, gyo) = Pair(new double[Slices * m]);
            var (cxs, gxs) = Pair(TestData.Uniform(Slices * p, 83 + p));
            var (cys, gys) = Pair(TestData.Uniform(Slices * m, 84 + p));
            var (csc, gsc) = Pair(TestData.Uniform(p, 85 + p, 0.5, 1.5));
            var (cpar, gpar) = Pair(par);
            string at = $"{p1}×{p2}";

            PrimalDualTvBatch.Step(cx, cy, cb, cxo, cyo, withSumsAndScale ? cxs : null, withSumsAndScale ? cys : null,
                withSumsAndScale ? csc : null, cpar, p1, p2);
            PrimalDualTvBatch.Step(gx, gy, gb, gxo, gyo, withSumsAndScale ? gxs : null, withSumsAndScale ? gys : null,
                withSumsAndScale ? gsc : null, gpar, p1, p2);
            AssertParity(gxo, cxo, true, what: $"x⁺ {at}");
            AssertParity(gyo, cyo, true, what: $"y⁺ {at}");
            AssertParity(gxs, cxs, true, what: $"x sums {at}");
            AssertParity(gys, cys, true, what: $"y sums {at}");

            var (cscale, gscale) = Pair(new[] { 1.0, 0.5, 2.0 });
            var (cev, gev) = Pair(new double[Slices * PrimalDualTvBatch.EvaluationCount]);
            PrimalDualTvBatch.Evaluate(cxo, cyo, cb, cscale, cpar, cev, p1, p2);
            PrimalDualTvBatch.Evaluate(gxo, gyo, gb, gscale, gpar, gev, p1, p2);
            AssertParity(gev, cev, false, doubleTol: 1e-12, what: $"KKT sums {at}"); // atomics: any summation order

            var (cmode, gmode) = Pair(new[] { 1, 2, 0 });
            var (cavg, gavg) = Pair(new[] { 0.5, 0.25, 1.0 });
            var (cdist, gdist) = Pair(new double[2 * Slices]);
            var (cxl, gxl) = Pair(TestData.Uniform(Slices * p, 86 + p));
            var (cyl, gyl) = Pair(TestData.Uniform(Slices * m, 87 + p));
            PrimalDualTvBatch.Restart(cxo, cyo, cxs, cys, cxl, cyl, cmode, cavg, cdist, p1, p2);
            PrimalDualTvBatch.Restart(gxo, gyo, gxs, gys, gxl, gyl, gmode, gavg, gdist, p1, p2);
            foreach (var (g, c, what) in new[] { (gxo, cxo, "x"), (gyo, cyo, "y"), (gxs, cxs, "x sums"), (gys, cys, "y sums"), (gxl, cxl, "x last"), (gyl, cyl, "y last") })
                AssertParity(g, c, true, what: $"restart {what} {at}");
            AssertParity(gdist, cdist, false, doubleTol: 1e-12, what: $"restart distances {at}");
            foreach (var b in new[] { cx, gx, cy, gy, cb, gb, cxo, gxo, cyo, gyo, cxs, gxs, cys, gys, csc, gsc, cpar, gpar, cscale, gscale, cev, gev,
                         cavg, gavg, cdist, gdist, cxl, gxl, cyl, gyl })
                b.Dispose();
            cmode.Dispose();
            gmode.Dispose();
        }
    }

    [Test]
    public void HessianVectorProductMatchesCpu([Values(1, 3)] int k, [Values] bool subset)
    {
        const int c = 10;
        foreach (int d in Lengths)
        {
            var (w, p) = HessianVectorProductTests.Problem(d, c, 90 + d);
            int[] classes = subset ? [7, 2, 5] : [];
            var (cw, gw) = Pair(w);
            var (cv, gv) = Pair(TestData.UniformF(k * d, 91 + d));
            var (chv, ghv) = Pair(new float[k * d]);
            using (var op = new HessianVectorProduct(cw, d, c, p, classes)) op.Apply(cv, chv);
            using (var op = new HessianVectorProduct(gw, d, c, p, classes))
            {
                op.Apply(gv, ghv);
                op.Apply(gv, ghv); // workspace reuse
            }
            // Different accumulation order (CPU: float tiles added in double; ILGPU: double per thread).
            AssertParity(ghv, chv, false, floatTol: 1e-5, what: $"HV d={d}");
            foreach (var b in new[] { cw, gw, cv, gv, chv, ghv }) b.Dispose();
        }
    }

    [Test]
    public void GaussianStreamMatchesCpu([Values] bool single)
    {
        Both(single, Run, Run);

        void Run<T>(T _) where T : unmanaged, IFloatingPointIeee754<T>
        {
            foreach (int n in Lengths)
                foreach (ulong offset in new ulong[] { 0, 3, 1UL << 33 })
                {
                    var (c, g) = Pair(new T[n]);
                    GaussianRng.Fill(c, seed: 0x1234_5678_9ABC_DEF0UL, offset, mean: 0.5, std: 2);
                    GaussianRng.Fill(g, seed: 0x1234_5678_9ABC_DEF0UL, offset, mean: 0.5, std: 2);
                    // Bit for bit on the CPU accelerator (same Philox words, same System.Math calls); CUDA's log/sin/cos
                    // may differ in the last bits.
                    AssertParity(g, c, true, floatTol: 1e-6, doubleTol: 1e-12, what: $"n={n} offset={offset}");
                    c.Dispose();
                    g.Dispose();
                }
        }
    }

    [Test]
    public void UpsamplingMatchesCpu([Values] UpsamplingMode mode, [Values] bool single)
    {
        Both(single, Run, Run);

        void Run<T>(T _) where T : unmanaged, IFloatingPointIeee754<T>
        {
            foreach (var (p1, p2) in Grids)
                foreach (var (h, w) in new[] { (p1, p2), (2 * p1 + 1, 3 * p2), (224, 224) })
                {
                    var (cg, gg) = Pair(Data<T>(Slices * p1 * p2, 100 + p1 * p2));
                    var (ci, gi) = Pair(new T[Slices * h * w]);
                    Upsampling.Apply(cg, ci, p1, p2, h, w, mode);
                    Upsampling.Apply(gg, gi, p1, p2, h, w, mode);
                    AssertParity(gi, ci, true, what: $"{p1}×{p2} → {h}×{w}");
                    foreach (var b in new[] { cg, gg, ci, gi }) b.Dispose();
                }
        }
    }

    [Test]
    public void PercentileNormalizationMatchesCpu([Values(1, 3)] int channels, [Values(99.0, 37.5, 0.0, 100.0)] double q)
    {
        foreach (int pixels in Lengths)
        {
            var maps = TestData.UniformF(Slices * channels * pixels, 110 + pixels, -3, 3);
            for (int i = 0; i < maps.Length; i += 4) maps[i] = 0;
            var (cm, gm) = Pair(maps);
            var (cr, gr) = Pair(new float[Slices * pixels]);
            PercentileNormalization.Apply(cm, cr, channels, pixels, q);
            PercentileNormalization.Apply(gm, gr, channels, pixels, q);
            AssertParity(gr, cr, true, what: $"{pixels} pixels");
            foreach (var b in new[] { cm, gm, cr, gr }) b.Dispose();
        }
    }
}
