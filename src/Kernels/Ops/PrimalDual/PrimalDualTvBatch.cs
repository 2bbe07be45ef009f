using Saliency.Kernels.Backends;
using Saliency.Kernels.Cpu;
using Saliency.Kernels.Cuda;

namespace Saliency.Kernels.Ops.PrimalDual;

/// <summary>
/// The LEG-TV primal-dual step, KKT evaluation and restart for a batch of B independent LPs on one p1×p2 grid,
/// on any backend: on CUDA each is one kernel launch for the whole batch (<c>PrimalDualTvStep.cu</c>); on the CPU
/// the LPs of the batch run in parallel through <see cref="PrimalDualTvStep"/>.
/// </summary>
/// <remarks>
/// Buffers: x (B·p), y (B·m), b (B·m) stored LP after LP. Per-LP scalars in <c>parameters</c> (B·<see cref="ParameterCount"/>):
/// τ, σ, L, 1/s², averaging weight, active (0/1). Inactive LPs are skipped by every kernel.
/// </remarks>
public static class PrimalDualTvBatch
{
    /// <summary>Doubles per LP in the parameter buffer.</summary>
    public const int ParameterCount = 6;

    /// <summary>Index of τ, σ, L, 1/s², averaging weight and the active flag in an LP's parameters.</summary>
    public const int Tau = 0, Sigma = 1, Bound = 2, InverseVariance = 3, AverageWeight = 4, Active = 5;

    /// <summary>KKT sums per LP written by <see cref="Evaluate"/>: ‖Dx‖₁, ‖(|s²Dx − b| − L)₊‖², dual objective, ‖Dᵀy‖².</summary>
    public const int EvaluationCount = 4;

    [ThreadStatic]
    private static double[]? t_scratch;

    private static readonly Lazy<CudaKernelSource> Source = new(() => CudaKernelSource.Embedded("PrimalDualTvStep.cu"));

    /// <summary>
    /// (xOut, yOut) ← one PDHG step from (x, y) for every active LP; adds weight·(x⁺, y⁺) to the sums when given;
    /// <paramref name="primalScale"/> (length p, shared by the batch) multiplies τ per pixel when given.
    /// </summary>
    /// <exception cref="BufferSizeMismatchException">A buffer does not match the batch and grid.</exception>
    /// <exception cref="BackendMismatchException">Buffers of different backends.</exception>
    public static void Step(
        DeviceBuffer<double> x, DeviceBuffer<double> y, DeviceBuffer<double> b, DeviceBuffer<double> xOut, DeviceBuffer<double> yOut,
        DeviceBuffer<double>? xSum, DeviceBuffer<double>? ySum, DeviceBuffer<double>? primalScale, DeviceBuffer<double> parameters,
        int rows, int cols)
    {
        int batch = CheckBatch(x, y, b, parameters, rows, cols);
        var be = x.Backend;
        int p = rows * cols, m = PrimalDualTvStep.EdgeCount(rows, cols);
        foreach (var (buf, len) in new[] { (xOut, p), (yOut, m) })
        {
            KernelGuard.SameBackend(be, buf);
            KernelGuard.Length(buf.Length, (long)batch * len, "step output");
        }
        if ((xSum is null) != (ySum is null)) throw new ArgumentException("Give both running sums or neither.");
        if (xSum is not null)
        {
            KernelGuard.SameBackend(be, xSum);
            KernelGuard.SameBackend(be, ySum);
            KernelGuard.Length(xSum.Length, (long)batch * p, "primal sum");
            KernelGuard.Length(ySum!.Length, (long)batch * m, "dual sum");
        }
        if (primalScale is not null)
        {
            KernelGuard.SameBackend(be, primalScale);
            KernelGuard.Length(primalScale.Length, p, "primal scale");
        }

        switch (be)
        {
            case CpuBackend cpu:
            {
                var par = cpu.Own(parameters).Span.ToArray();
                var xs = xSum is null ? null : cpu.Own(xSum);
                var ys = ySum is null ? null : cpu.Own(ySum);
                var sc = primalScale is null ? null : cpu.Own(primalScale);
                var cx = cpu.Own(x);
                var cy = cpu.Own(y);
                var cb = cpu.Own(b);
                var cxo = cpu.Own(xOut);
                var cyo = cpu.Own(yOut);
                Parallel.For(0, batch, new ParallelOptions { MaxDegreeOfParallelism = cpu.Parallelism }, k =>
                {
                    int o = k * ParameterCount;
                    if (par[o + Active] == 0) return;
                    var scratch = t_scratch is { } t && t.Length >= 5 * cols ? t : (t_scratch = new double[5 * cols]);
                    PrimalDualTvStep.Step(rows, cols,
                        cx.Span.Slice(k * p, p), cy.Span.Slice(k * m, m), cb.Span.Slice(k * m, m),
                        cxo.Span.Slice(k * p, p), cyo.Span.Slice(k * m, m),
                        par[o + Tau], par[o + Sigma], par[o + Bound], par[o + InverseVariance],
                        sc is null ? [] : sc.Span,
                        xs is null ? [] : xs.Span.Slice(k * p, p), ys is null ? [] : ys.Span.Slice(k * m, m),
                        par[o + AverageWeight], scratch, false, out _);
                });
                break;
            }
            case CudaBackend cuda:
            {
                var kernel = cuda.GetKernel(Source.Value, "pdtv_step_f64");
                var args = CudaLaunchArgs.Rent()
                    .Add(cuda.Own(x)).Add(cuda.Own(y)).Add(cuda.Own(b)).Add(cuda.Own(xOut)).Add(cuda.Own(yOut))
                    .Add(xSum is null ? 0UL : cuda.Own(xSum).DevicePointer).Add(ySum is null ? 0UL : cuda.Own(ySum).DevicePointer)
                    .Add(primalScale is null ? 0UL : cuda.Own(primalScale).DevicePointer)
                    .Add(cuda.Own(parameters)).Add(rows).Add(cols).Add((long)batch);
                cuda.Launch1D(kernel, (long)batch * p, args);
                break;
            }
            default:
                throw new NotSupportedException($"Backend {be.Kind} has no primal-dual kernels.");
        }
    }

    /// <summary>
    /// Adds the KKT sums (see <see cref="EvaluationCount"/>) of (scaleₖ·xₖ, scaleₖ·yₖ) for every active LP into
    /// <paramref name="output"/> (B·4, zero it first). <paramref name="scale"/> (length B) lets a running sum be
    /// evaluated as an average without a copy.
    /// </summary>
    public static void Evaluate(
        DeviceBuffer<double> x, DeviceBuffer<double> y, DeviceBuffer<double> b, DeviceBuffer<double> scale,
        DeviceBuffer<double> parameters, DeviceBuffer<double> output, int rows, int cols)
    {
        int batch = CheckBatch(x, y, b, parameters, rows, cols);
        var be = x.Backend;
        KernelGuard.SameBackend(be, scale);
        KernelGuard.SameBackend(be, output);
        KernelGuard.Length(scale.Length, batch, "evaluation scale");
        KernelGuard.Length(output.Length, (long)batch * EvaluationCount, "evaluation output");
        int p = rows * cols, m = PrimalDualTvStep.EdgeCount(rows, cols);
        switch (be)
        {
            case CpuBackend cpu:
            {
                var par = cpu.Own(parameters).Span.ToArray();
                var sc = cpu.Own(scale).Span.ToArray();
                var cx = cpu.Own(x);
                var cy = cpu.Own(y);
                var cb = cpu.Own(b);
                var results = new double[batch * EvaluationCount];
                Parallel.For(0, batch, new ParallelOptions { MaxDegreeOfParallelism = cpu.Parallelism }, k =>
                {
                    int o = k * ParameterCount;
                    if (par[o + Active] == 0) return;
                    var xk = new double[p];
                    var yk = new double[m];
                    var z = new double[m];
                    var dty = new double[p];
                    var xs = cx.Span.Slice(k * p, p);
                    var ys = cy.Span.Slice(k * m, m);
                    for (int j = 0; j < p; j++) xk[j] = sc[k] * xs[j];
                    for (int e = 0; e < m; e++) yk[e] = sc[k] * ys[e];
                    PrimalDualTvStep.ApplyD(rows, cols, xk, z);
                    PrimalDualTvStep.ApplyDTranspose(rows, cols, yk, dty);
                    var bk = cb.Span.Slice(k * m, m);
                    double L = par[o + Bound], s2 = 1.0 / par[o + InverseVariance];
                    double tv = 0, viol = 0, dual = 0, rd = 0;
                    for (int e = 0; e < m; e++)
                    {
                        tv += Math.Abs(z[e]);
                        double over = Math.Abs(s2 * z[e] - bk[e]) - L;
                        if (over > 0) viol += over * over;
                        double v = SplitDual(yk[e], bk[e], L, s2);
                        dual -= v * bk[e] + L * Math.Abs(v);
                    }
                    for (int j = 0; j < p; j++) rd += dty[j] * dty[j];
                    results[k * EvaluationCount] = tv;
                    results[k * EvaluationCount + 1] = viol;
                    results[k * EvaluationCount + 2] = dual;
                    results[k * EvaluationCount + 3] = rd;
                });
                var outSpan = cpu.Own(output).Span;
                for (int i = 0; i < results.Length; i++) outSpan[i] += results[i];
                break;
            }
            case CudaBackend cuda:
            {
                var kernel = cuda.GetKernel(Source.Value, "pdtv_evaluate_f64");
                var args = CudaLaunchArgs.Rent()
                    .Add(cuda.Own(x)).Add(cuda.Own(y)).Add(cuda.Own(b)).Add(cuda.Own(scale)).Add(cuda.Own(parameters))
                    .Add(cuda.Own(output)).Add(rows).Add(cols).Add((long)batch);
                cuda.Launch1D(kernel, (long)batch * p, args);
                break;
            }
            default:
                throw new NotSupportedException($"Backend {be.Kind} has no primal-dual kernels.");
        }
    }

    /// <summary>
    /// Restarts the LPs with modeₖ ≠ 0 (1: at the current point, 2: at the running average sumₖ·avgScaleₖ): writes the
    /// point into x/y, adds ‖x − xLast‖² and ‖y − yLast‖² into distances[2k], [2k+1] (zero them first), copies the point
    /// into xLast/yLast and clears the sums.
    /// </summary>
    public static void Restart(
        DeviceBuffer<double> x, DeviceBuffer<double> y, DeviceBuffer<double>? xSum, DeviceBuffer<double>? ySum,
        DeviceBuffer<double> xLast, DeviceBuffer<double> yLast, DeviceBuffer<int> mode, DeviceBuffer<double> averageScale,
        DeviceBuffer<double> distances, int rows, int cols)
    {
        var be = x.Backend;
        int p = rows * cols, m = PrimalDualTvStep.EdgeCount(rows, cols);
        int batch = KernelGuard.SliceCount(x.Length, p);
        foreach (var buf in new[] { y, yLast }) { KernelGuard.SameBackend(be, buf); KernelGuard.Length(buf.Length, (long)batch * m, "dual buffer"); }
        KernelGuard.SameBackend(be, xLast);
        KernelGuard.Length(xLast.Length, (long)batch * p, "primal buffer");
        KernelGuard.SameBackend(be, mode);
        KernelGuard.Length(mode.Length, batch, "restart modes");
        KernelGuard.SameBackend(be, averageScale);
        KernelGuard.Length(averageScale.Length, batch, "average scale");
        KernelGuard.SameBackend(be, distances);
        KernelGuard.Length(distances.Length, 2L * batch, "distances");
        if ((xSum is null) != (ySum is null)) throw new ArgumentException("Give both running sums or neither.");
        switch (be)
        {
            case CpuBackend cpu:
            {
                var md = cpu.Own(mode).Span;
                var sc = cpu.Own(averageScale).Span;
                var dist = cpu.Own(distances).Span;
                var cx = cpu.Own(x).Span;
                var cy = cpu.Own(y).Span;
                var cxl = cpu.Own(xLast).Span;
                var cyl = cpu.Own(yLast).Span;
                var xs = xSum is null ? default : cpu.Own(xSum).Span;
                var ys = ySum is null ? default : cpu.Own(ySum).Span;
                for (int k = 0; k < batch; k++)
                {
                    if (md[k] == 0) continue;
                    if (md[k] == 2 && xSum is null) throw new ArgumentException("Restart to the average needs the running sums.");
                    double dx = 0, dy = 0;
                    for (int j = k * p; j < (k + 1) * p; j++)
                    {
                        double v = md[k] == 2 ? xs[j] * sc[k] : cx[j];
                        dx += (v - cxl[j]) * (v - cxl[j]);
                        cx[j] = cxl[j] = v;
                        if (xSum is not null) xs[j] = 0;
                    }
                    for (int e = k * m; e < (k + 1) * m; e++)
                    {
                        double v = md[k] == 2 ? ys[e] * sc[k] : cy[e];
                        dy += (v - cyl[e]) * (v - cyl[e]);
                        cy[e] = cyl[e] = v;
                        if (ySum is not null) ys[e] = 0;
                    }
                    dist[2 * k] += dx;
                    dist[2 * k + 1] += dy;
                }
                break;
            }
            case CudaBackend cuda:
            {
                var kernel = cuda.GetKernel(Source.Value, "pdtv_restart_f64");
                var args = CudaLaunchArgs.Rent()
                    .Add(cuda.Own(x)).Add(cuda.Own(y))
                    .Add(xSum is null ? 0UL : cuda.Own(xSum).DevicePointer).Add(ySum is null ? 0UL : cuda.Own(ySum).DevicePointer)
                    .Add(cuda.Own(xLast)).Add(cuda.Own(yLast)).Add(cuda.Own(mode)).Add(cuda.Own(averageScale)).Add(cuda.Own(distances))
                    .Add(rows).Add(cols).Add((long)batch);
                cuda.Launch1D(kernel, (long)batch * m, args);
                break;
            }
            default:
                throw new NotSupportedException($"Backend {be.Kind} has no primal-dual kernels.");
        }
    }

    /// <summary>The certificate's v for one edge: argmin of v·b + L|v| on [(y−1)/s², (y+1)/s²] (end points or 0).</summary>
    public static double SplitDual(double y, double b, double bound, double s2)
    {
        double lo = (y - 1.0) / s2, hi = (y + 1.0) / s2;
        double best = lo, bestValue = lo * b + bound * Math.Abs(lo);
        double hiValue = hi * b + bound * Math.Abs(hi);
        if (hiValue < bestValue) { best = hi; bestValue = hiValue; }
        if (lo <= 0 && hi >= 0 && bestValue > 0) best = 0;
        return best;
    }

    private static int CheckBatch(DeviceBuffer<double> x, DeviceBuffer<double> y, DeviceBuffer<double> b, DeviceBuffer<double> parameters, int rows, int cols)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (rows < 1 || cols < 1) throw new ArgumentOutOfRangeException(nameof(rows), $"Grid {rows}×{cols} must be at least 1×1.");
        var be = x.Backend;
        KernelGuard.SameBackend(be, x);
        KernelGuard.SameBackend(be, y);
        KernelGuard.SameBackend(be, b);
        KernelGuard.SameBackend(be, parameters);
        int p = rows * cols, m = PrimalDualTvStep.EdgeCount(rows, cols);
        int batch = KernelGuard.SliceCount(x.Length, p);
        KernelGuard.Length(y.Length, (long)batch * m, "dual iterate");
        KernelGuard.Length(b.Length, (long)batch * m, "right-hand sides");
        KernelGuard.Length(parameters.Length, (long)batch * ParameterCount, "per-LP parameters");
        return batch;
    }
}
