using System.Numerics;
using Saliency.Kernels.Backends;
using Saliency.Kernels.Ops;
using Saliency.Kernels.Ops.PrimalDual;

namespace Saliency.GpuCheck;

/// <summary>
/// Every kernel on the accelerator against the CPU reference backend: the same seeded inputs on both, the outputs
/// downloaded and compared as <c>max |a − r| / max(|r|, 1e-30)</c> (relative to the largest reference value), against a
/// stated tolerance: 1e-12 for float64 element-wise kernels, 1e-5 for float32 ones (FMA contraction may differ), 1e-4
/// for the float32 HVP (sums over d in a different order), exact for the integer counts.
/// </summary>
internal static class KernelParity
{
    private const double F64 = 1e-12, F32 = 1e-5;

    public static int Run(IComputeBackend device, IComputeBackend reference, Table table)
    {
        int failures = 0;
        void Check(string name, string size, double tolerance, Func<IComputeBackend, double[]> run)
        {
            string result, verdict;
            try
            {
                var a = run(device);
                var r = run(reference);
                double err = RelativeError(a, r);
                bool pass = a.Length == r.Length && err <= tolerance;
                result = a.Length == r.Length ? $"max rel diff {err:0.0e+00}" : $"length {a.Length} vs {r.Length}";
                verdict = pass ? "PASS" : "FAIL";
                if (!pass) failures++;
            }
            catch (Exception e)
            {
                result = $"{e.GetType().Name}: {e.Message.Split('\n')[0]}";
                verdict = "FAIL";
                failures++;
            }
            table.Add("kernel", name, size, result, $"≤ {tolerance:0e+00}", verdict);
        }

        const int n = 30_011, slices = 3, len = n * slices; // odd slice length: no vector-width alignment
        Check("SoftThreshold f32", $"3×{n}", F32, be =>
        {
            using var x = Up(be, Random<float>(len, 1));
            using var y = be.Allocate<float>(len);
            SoftThreshold.Apply<float>(x, y, n, [0.1f, 0.5f, 0f]);
            return Down(y);
        });
        Check("SoftThreshold f64", $"3×{n}", F64, be =>
        {
            using var x = Up(be, Random<double>(len, 2));
            using var y = be.Allocate<double>(len);
            SoftThreshold.Apply<double>(x, y, n, [0.1, 0.5, 0]);
            return Down(y);
        });
        Check("VectorOps.Axpby f32", $"3×{n}", F32, be =>
        {
            using var x = Up(be, Random<float>(len, 3));
            using var y = Up(be, Random<float>(len, 4));
            VectorOps.Axpby<float>(x, y, n, [2f, -1f, 0.5f], [1f, 0.25f, -3f]);
            return Down(y);
        });
        Check("VectorOps.ProxGradient f32", $"3×{n}", F32, be =>
        {
            using var y = Up(be, Random<float>(len, 5));
            using var g = Up(be, Random<float>(len, 6));
            using var x = be.Allocate<float>(len);
            VectorOps.ProxGradient<float>(y, g, x, n, [0.1f, 0.2f, 0.05f], [0.5f, 0f, 2f]);
            return Down(x);
        });
        Check("VectorOps.Extrapolate f64", $"3×{n}", F64, be =>
        {
            using var xn = Up(be, Random<double>(len, 7));
            using var xo = Up(be, Random<double>(len, 8));
            using var yn = be.Allocate<double>(len);
            VectorOps.Extrapolate<double>(xn, xo, yn, n, [0.0, 0.5, 0.9]);
            return Down(yn);
        });
        Check("VectorOps.FistaUpdate f32", $"3×{n}", F32, be =>
        {
            using var y = Up(be, Random<float>(len, 9));
            using var g = Up(be, Random<float>(len, 10));
            using var xo = Up(be, Random<float>(len, 11));
            using var xn = be.Allocate<float>(len);
            using var yn = be.Allocate<float>(len);
            VectorOps.FistaUpdate<float>(y, g, xo, xn, yn, n, [0.1f, 0.2f, 0.3f], [0.5f, 0.1f, 0f], [0.3f, 0.6f, 0.9f]);
            return [.. Down(xn), .. Down(yn)];
        });
        Check("Reductions dot, ‖·‖₁, ‖·‖₂, ‖·‖∞ f32", $"3×{n}", F32, be =>
        {
            using var x = Up(be, Random<float>(len, 12));
            using var y = Up(be, Random<float>(len, 13));
            var r = new double[4 * slices];
            Reductions.Dot(x, y, n, r.AsSpan(0, slices));
            Reductions.L1Norm(x, n, r.AsSpan(slices, slices));
            Reductions.L2Norm(x, n, r.AsSpan(2 * slices, slices));
            Reductions.MaxAbs(x, n, r.AsSpan(3 * slices, slices));
            return r;
        });
        Check("Reductions dot, ‖·‖₁ f64", $"3×{n}", F64, be =>
        {
            using var x = Up(be, Random<double>(len, 14));
            using var y = Up(be, Random<double>(len, 15));
            var r = new double[2 * slices];
            Reductions.Dot(x, y, n, r.AsSpan(0, slices));
            Reductions.L1Norm(x, n, r.AsSpan(slices, slices));
            return r;
        });
        Check("Reductions zeros, non-finite (counts)", $"3×{n}", 0, be =>
        {
            var host = Random<float>(len, 16);
            for (int i = 0; i < len; i += 7) host[i] = 0f;
            for (int i = 3; i < len; i += 1001) host[i] = i % 2 == 0 ? float.NaN : float.PositiveInfinity;
            using var x = Up(be, host);
            var zeros = new long[slices];
            var bad = new long[slices];
            Reductions.CountZeros(x, n, zeros);
            Reductions.CountNonFinite(x, n, bad);
            return [.. zeros.Select(v => (double)v), .. bad.Select(v => (double)v)];
        });
        const int rows = 37, cols = 41, grids = 3;
        int edges = TotalVariation.DifferenceCount(rows, cols);
        Check("TotalVariation D, Dᵀ f64", $"3×{rows}×{cols}", F64, be =>
        {
            using var g = Up(be, Random<double>(grids * rows * cols, 17));
            using var z = be.Allocate<double>(grids * edges);
            using var v = Up(be, Random<double>(grids * edges, 18));
            using var back = be.Allocate<double>(grids * rows * cols);
            TotalVariation.Forward<double>(g, z, rows, cols);
            TotalVariation.Adjoint<double>(v, back, rows, cols);
            return [.. Down(z), .. Down(back)];
        });
        Check("TotalVariation D, Dᵀ f32", $"3×{rows}×{cols}", F32, be =>
        {
            using var g = Up(be, Random<float>(grids * rows * cols, 19));
            using var z = be.Allocate<float>(grids * edges);
            using var back = be.Allocate<float>(grids * rows * cols);
            TotalVariation.Forward<float>(g, z, rows, cols);
            TotalVariation.Adjoint<float>(z, back, rows, cols);
            return [.. Down(z), .. Down(back)];
        });
        const int d = 5_003, c = 13, k = 5;
        Check("HessianVectorProduct f32 (all classes)", $"d={d} c={c} k={k}", 1e-4, be => Hvp(be, d, c, k, default));
        Check("HessianVectorProduct f32 (class subset)", $"d={d} c={c} k={k}", 1e-4, be => Hvp(be, d, c, k, [0, 3, 7, 12]));
        Check("GaussianRng (Philox4x32-10) f32", "10,001 @ offset 3", F32, be =>
        {
            using var x = be.Allocate<float>(10_001);
            GaussianRng.Fill<float>(x, seed: 7, offset: 3, mean: 0.5, std: 2);
            return Down(x);
        });
        Check("GaussianRng (Philox4x32-10) f64", "10,001", F64, be =>
        {
            using var x = be.Allocate<double>(10_001);
            GaussianRng.Fill<double>(x, seed: 8);
            return Down(x);
        });
        foreach (var mode in Enum.GetValues<UpsamplingMode>())
            Check($"Upsampling {mode} f32", "3×7×9 → 30×31", F32, be =>
            {
                using var g = Up(be, Random<float>(3 * 7 * 9, 20));
                using var img = be.Allocate<float>(3 * 30 * 31);
                Upsampling.Apply<float>(g, img, 7, 9, 30, 31, mode);
                return Down(img);
            });
        Check("PercentileNormalization f32", "2×(3×4096)", F32, be =>
        {
            using var maps = Up(be, Random<float>(2 * 3 * 4096, 21));
            using var result = be.Allocate<float>(2 * 4096);
            PercentileNormalization.Apply(maps, result, 3, 4096);
            return Down(result);
        });
        Check("PrimalDualTvBatch step, evaluate, restart f64", "2 LPs 23×19", 1e-10, be => PrimalDual(be, 23, 19));
        // Whole solves: the device-resident CASO FISTA (float32; converged solutions agree to float32 round-off × cond)
        // and the PDHG batch (the optimal objective; LP optima need not be unique).
        Check("solver: CASO FISTA on the device, λ1 = 0, 0.01", "d=300 c=12", 1e-4, be =>
        {
            using var problem = Saliency.Solvers.Caso.CasoProblem.FromClassMajor(be, Random<float>(300 * 12, 60), 300, 12,
                [.. Enumerable.Range(0, 12).Select(j => 1.0 / 12)]);
            var options = new Saliency.Solvers.Caso.CasoOptions { Path = Saliency.Solvers.Caso.CasoSolverPath.Device, Tolerance = 1e-6, MaxIterations = 5000 };
            return [.. Saliency.Solvers.Caso.CasoSolver.Solve(problem, [0.0, 0.01], options).SelectMany(r => r.Solution)];
        });
        Check("solver: PDHG LEG-TV batch (optimal objectives)", "3×12²", 1e-5, be =>
        {
            var shape = new Saliency.Linalg.Grid.GridShape(12, 12);
            var lps = Enumerable.Range(0, 3).Select(i => Benchmarks.LegTvInstance(shape, i)).ToArray();
            var options = new Saliency.Solvers.Lp.TvLpDeviceBatchOptions { MaxIterations = 20_000 };
            return [.. Saliency.Solvers.Lp.TvLpDeviceBatchSolver.Solve(be, lps, options)
                .Select(s => s.Status == Saliency.Solvers.Lp.TvLpStatus.Optimal ? s.Certificate.PrimalObjective : double.NaN)];
        });
        return failures;
    }

    private static double[] Hvp(IComputeBackend be, int d, int c, int k, int[]? subset)
    {
        using var w = Up(be, Random<float>(d * c, 30));
        var p = Random<float>(c, 31).Select(v => MathF.Exp(v)).ToArray();
        float sum = p.Sum();
        for (int j = 0; j < c; j++) p[j] /= sum;
        using var hvp = new HessianVectorProduct(w, d, c, p, subset);
        using var v = Up(be, Random<float>(k * d, 32));
        using var hv = be.Allocate<float>(k * d);
        hvp.Apply(v, hv);
        return Down(hv);
    }

    private static double[] PrimalDual(IComputeBackend be, int rows, int cols)
    {
        const int batch = 2;
        int p = rows * cols, m = PrimalDualTvStep.EdgeCount(rows, cols);
        var par = new double[batch * PrimalDualTvBatch.ParameterCount];
        for (int b = 0; b < batch; b++)
        {
            int o = b * PrimalDualTvBatch.ParameterCount;
            par[o + PrimalDualTvBatch.Tau] = 0.2 + 0.1 * b;
            par[o + PrimalDualTvBatch.Sigma] = 0.3;
            par[o + PrimalDualTvBatch.Bound] = 0.05;
            par[o + PrimalDualTvBatch.InverseVariance] = 10;
            par[o + PrimalDualTvBatch.AverageWeight] = 0.25;
            par[o + PrimalDualTvBatch.Active] = 1;
        }
        using var x = Up(be, Random<double>(batch * p, 40));
        using var y = Up(be, Random<double>(batch * m, 41));
        using var bb = Up(be, Random<double>(batch * m, 42));
        using var xo = be.Allocate<double>(batch * p);
        using var yo = be.Allocate<double>(batch * m);
        using var xs = be.Allocate<double>(batch * p);
        using var ys = be.Allocate<double>(batch * m);
        using var scale = Up(be, Enumerable.Range(0, p).Select(i => 0.5 + (i % 5) * 0.1).ToArray());
        using var parameters = Up(be, par);
        PrimalDualTvBatch.Step(x, y, bb, xo, yo, xs, ys, scale, parameters, rows, cols);
        PrimalDualTvBatch.Step(xo, yo, bb, x, y, xs, ys, null, parameters, rows, cols);
        using var evalScale = Up(be, new[] { 1.0, 0.5 });
        using var eval = be.Allocate<double>(batch * PrimalDualTvBatch.EvaluationCount);
        PrimalDualTvBatch.Evaluate(x, y, bb, evalScale, parameters, eval, rows, cols);
        using var xl = be.Allocate<double>(batch * p);
        using var yl = be.Allocate<double>(batch * m);
        using var mode = Up(be, new[] { 1, 2 });
        using var dist = be.Allocate<double>(2 * batch);
        PrimalDualTvBatch.Restart(x, y, xs, ys, xl, yl, mode, evalScale, dist, rows, cols);
        return [.. Down(x), .. Down(y), .. Down(eval), .. Down(dist)];
    }

    internal static T[] Random<T>(int length, int seed) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rng = new Random(seed);
        var a = new T[length];
        for (int i = 0; i < length; i++) a[i] = T.CreateTruncating(2 * rng.NextDouble() - 1);
        return a;
    }

    internal static DeviceBuffer<T> Up<T>(IComputeBackend be, T[] host) where T : unmanaged
    {
        var b = be.Allocate<T>(host.Length);
        be.Upload<T>(host, b);
        return b;
    }

    private static double[] Down<T>(DeviceBuffer<T> b) where T : unmanaged, INumberBase<T>
    {
        var host = new T[b.Length];
        b.Backend.Download(b, host);
        return host.Select(double.CreateTruncating).ToArray();
    }

    private static double RelativeError(double[] a, double[] r)
    {
        if (a.Length != r.Length) return double.PositiveInfinity;
        double scale = 0, err = 0;
        for (int i = 0; i < r.Length; i++)
        {
            bool fa = double.IsFinite(a[i]), fr = double.IsFinite(r[i]);
            if (fa != fr || (!fr && !a[i].Equals(r[i]))) return double.PositiveInfinity;
            if (!fr) continue;
            scale = Math.Max(scale, Math.Abs(r[i]));
            err = Math.Max(err, Math.Abs(a[i] - r[i]));
        }
        return err == 0 ? 0 : err / Math.Max(scale, 1e-30);
    }
}
