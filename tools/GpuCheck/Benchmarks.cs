using System.Diagnostics;
using Saliency.Kernels.Backends;
using Saliency.Kernels.Ops;
using Saliency.Linalg.Grid;
using Saliency.Solvers.Caso;
using Saliency.Solvers.Lp;

namespace Saliency.GpuCheck;

/// <summary>
/// The GPU benchmarks, each with a peer measured in the same run: HVP bandwidth against a device-to-device copy of W
/// (the bandwidth ceiling), PDHG on one 224² LEG-TV LP and a 3×224² batch (solve to tolerance; iterations/s against
/// the CPU reference backend), CASO FISTA iterations/s on the device (k = 1 and 16 λ1 per batch) against the host
/// FISTA on the CPU reference. Medians of repeated runs (warm: a first run compiles/loads the kernels and is not
/// timed). Each benchmark is skipped when the time budget is spent.
/// </summary>
internal static class Benchmarks
{
    public static void Run(IComputeBackend device, IComputeBackend reference, Table table, bool full, TimeSpan budget, Stopwatch clock)
    {
        bool Over(string what)
        {
            if (clock.Elapsed < budget) return false;
            table.Add("bench", what, "", "skipped: time budget spent", "", "");
            return true;
        }
        void Guard(string what, Action body)
        {
            if (Over(what)) return;
            try { body(); }
            catch (Exception e) { table.Add("bench", what, "", $"{e.GetType().Name}: {e.Message.Split('\n')[0]}", "", "ERROR"); }
        }

        int d = full ? 3 * 224 * 224 : 3 * 28 * 28, c = full ? 1000 : 10;
        var w = RandomW(d, c);
        Guard("HVP bandwidth", () => Hvp(device, reference, table, w, d, c, full));
        int side = full ? 224 : 28;
        Guard("PDHG LEG-TV", () => Pdhg(device, reference, table, side, full));
        Guard("CASO FISTA", () => Caso(device, reference, table, w, d, c, full));
    }

    private static void Hvp(IComputeBackend device, IComputeBackend reference, Table table, float[] w, int d, int c, bool full)
    {
        var p = Probabilities(c).Select(v => (float)v).ToArray();
        using var wd = KernelParity.Up(device, w);
        using var copy = device.Allocate<float>(w.Length);
        long bytes = (long)w.Length * sizeof(float);
        int reps = full ? 7 : 3;
        double tCopy = Median(reps, () => device.Copy(wd, copy), device);
        double copyGbs = 2.0 * bytes / tCopy / 1e9; // a copy reads and writes W once
        table.Add("bench", "device copy of W (peer)", $"{bytes / 1e6:0} MB", $"{tCopy * 1e3:0.000} ms, {copyGbs:0.0} GB/s", "", "");
        using var hvp = new HessianVectorProduct(wd, d, c, p);
        foreach (int k in new[] { 1, 16 })
        {
            using var v = KernelParity.Up(device, KernelParity.Random<float>(k * d, 50 + k));
            using var hv = device.Allocate<float>(k * d);
            double t = Median(reps, () => hvp.Apply(v, hv), device);
            double gbs = hvp.BytesStreamedPerApply / t / 1e9;
            table.Add("bench", $"HVP H·V, k = {k}", $"d={d} c={c}", $"{t * 1e3:0.000} ms, {gbs:G3} GB/s of W",
                $"{gbs / copyGbs:G3}× copy bandwidth", "");
        }
        // CPU reference peer on the same W (k = 16), fewer repetitions.
        using var wr = KernelParity.Up(reference, w);
        using var hr = new HessianVectorProduct(wr, d, c, p);
        using var vr = KernelParity.Up(reference, KernelParity.Random<float>(16 * d, 66));
        using var hvr = reference.Allocate<float>(16 * d);
        using var vd = KernelParity.Up(device, KernelParity.Random<float>(16 * d, 66));
        using var hvd = device.Allocate<float>(16 * d);
        double tr = Median(3, () => hr.Apply(vr, hvr), reference);
        double td = Median(reps, () => hvp.Apply(vd, hvd), device);
        table.Add("bench", "HVP k = 16 on the CPU reference (peer)", $"d={d} c={c}", $"{tr * 1e3:0.0} ms", $"device {tr / td:G3}× faster", "");
    }

    private static void Pdhg(IComputeBackend device, IComputeBackend reference, Table table, int side, bool full)
    {
        var shape = new GridShape(side, side);
        var lps = Enumerable.Range(0, 3).Select(ch => LegTvInstance(shape, ch)).ToArray();
        var options = new TvLpDeviceBatchOptions { MaxIterations = full ? 100_000 : 300 };
        TvLpDeviceBatchSolver.Solve(device, [lps[0]], options with { MaxIterations = 10 }); // warm-up: kernel compilation
        foreach (var batch in new[] { lps[..1], lps })
        {
            var sw = Stopwatch.StartNew();
            var solved = TvLpDeviceBatchSolver.Solve(device, batch, options);
            double t = sw.Elapsed.TotalSeconds;
            int iterations = solved.Max(s => s.Iterations);
            string status = string.Join(",", solved.Select(s => s.Status).Distinct());
            double gap = solved.Max(s => s.Certificate.RelativeGap);
            table.Add("bench", $"PDHG LEG-TV, batch {batch.Length}", $"{batch.Length}×{side}²",
                $"{t:0.000} s, {iterations} it ({status}, gap {gap:0.0e+00}), {batch.Length * iterations / t:0} LP-it/s", "", "");
        }
        // Peer: the same batch of 3 on the CPU reference, a fixed number of iterations (a tolerance far out of reach).
        int peerIterations = full ? 300 : 100;
        var fixedOptions = new TvLpDeviceBatchOptions { MaxIterations = peerIterations, RelativeTolerance = 1e-14 }; // not reached in so few iterations
        var swr = Stopwatch.StartNew();
        TvLpDeviceBatchSolver.Solve(reference, lps, fixedOptions);
        double tr = swr.Elapsed.TotalSeconds;
        var swd = Stopwatch.StartNew();
        TvLpDeviceBatchSolver.Solve(device, lps, fixedOptions);
        double td = swd.Elapsed.TotalSeconds;
        table.Add("bench", "PDHG batch 3, fixed iterations (peer: CPU reference)", $"3×{side}², {peerIterations} it",
            $"device {3 * peerIterations / td:0} LP-it/s", $"CPU {3 * peerIterations / tr:0} LP-it/s; device {tr / td:G3}×", "");
    }

    private static void Caso(IComputeBackend device, IComputeBackend reference, Table table, float[] w, int d, int c, bool full)
    {
        var p = Probabilities(c);
        var problemOptions = new CasoProblemOptions { LambdaMaxMethod = LambdaMaxKind.PowerIterationEstimate };
        using var onDevice = CasoProblem.FromClassMajor(device, w, d, c, p, problemOptions);
        int iterations = full ? 200 : 10;
        var fixedRun = new CasoOptions { Path = CasoSolverPath.Device, Tolerance = 0, MaxIterations = iterations, MaxBatch = 16, CheckInterval = 10 };
        CasoSolver.Solve(onDevice, [1e-3], fixedRun with { MaxIterations = 2 }); // warm-up
        double perSecondOne = 0;
        foreach (int k in new[] { 1, 16 })
        {
            var lambdas = Enumerable.Range(0, k).Select(i => 1e-4 * Math.Pow(10, i % 5)).ToArray();
            var sw = Stopwatch.StartNew();
            CasoSolver.Solve(onDevice, lambdas, fixedRun);
            double t = sw.Elapsed.TotalSeconds;
            double perSecond = iterations / t;
            if (k == 1) perSecondOne = perSecond;
            table.Add("bench", $"CASO FISTA on the device, k = {k} λ1", $"d={d} c={c}, {iterations} it",
                $"{perSecond:0.0} it/s ({k * perSecond:0} λ1-it/s)", k == 1 ? "" : $"{k * perSecond / perSecondOne:0.0}× the λ1-it/s of k = 1", "");
        }
        using var onHost = CasoProblem.FromClassMajor(reference, w, d, c, p, problemOptions);
        int hostIterations = full ? 5 : 10;
        var swh = Stopwatch.StartNew();
        CasoSolver.Solve(onHost, [1e-3], new CasoOptions { Path = CasoSolverPath.Host, Tolerance = 0, MaxIterations = hostIterations });
        double hostPerSecond = hostIterations / swh.Elapsed.TotalSeconds;
        table.Add("bench", "CASO FISTA on the host, CPU reference (peer), k = 1", $"d={d} c={c}, {hostIterations} it",
            $"{hostPerSecond:0.0} it/s", $"device {perSecondOne / hostPerSecond:G3}×", "");
    }

    /// <summary>A LEG-TV LP of the paper's covariance: b = s²·D(blob) + noise, L = 0.1·max|b| (a sparse-gradient optimum).</summary>
    internal static TvLpProblem LegTvInstance(GridShape shape, int channel)
    {
        int rows = shape.Rows, cols = shape.Cols;
        var g = new double[rows * cols];
        var rng = new Random(100 + channel);
        for (int r = 0; r < rows; r++)
            for (int col = 0; col < cols; col++)
            {
                double dy = (r - rows * (0.4 + 0.1 * channel)) / rows, dx = (col - cols * 0.5) / cols;
                g[r * cols + col] = (dx * dx + dy * dy < 0.04 ? 1.0 : 0.0) + 0.05 * (rng.NextDouble() - 0.5);
            }
        var b = new double[TotalVariation.DifferenceCount(rows, cols)];
        TotalVariation.Forward<double>(g, b, rows, cols);
        for (int e = 0; e < b.Length; e++) b[e] = 0.1 * b[e] + 0.01 * (rng.NextDouble() - 0.5);
        double bound = 0.1 * b.Max(Math.Abs);
        return TvLpProblem.ForPaperCovariance(shape, b, bound, 0.1);
    }

    private static float[] RandomW(int d, int c)
    {
        var w = new float[(long)d * c];
        ulong s = 0x9E3779B97F4A7C15UL;
        for (long i = 0; i < w.Length; i++)
        {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17; // xorshift64: fast, deterministic
            w[i] = (float)((s >> 40) * (1.0 / (1UL << 24)) - 0.5) * 0.01f;
        }
        return w;
    }

    private static double[] Probabilities(int c)
    {
        var p = new double[c];
        double sum = 0;
        for (int j = 0; j < c; j++) sum += p[j] = Math.Exp(-0.05 * j);
        for (int j = 0; j < c; j++) p[j] /= sum;
        return p;
    }

    private static double Median(int reps, Action body, IComputeBackend backend)
    {
        body();
        backend.Synchronize();
        var times = new double[reps];
        for (int i = 0; i < reps; i++)
        {
            var sw = Stopwatch.StartNew();
            body();
            backend.Synchronize();
            times[i] = sw.Elapsed.TotalSeconds;
        }
        Array.Sort(times);
        return times[reps / 2];
    }
}
