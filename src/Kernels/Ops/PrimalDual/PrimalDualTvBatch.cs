using Saliency.Kernels.Backends;
using Saliency.Kernels.Cpu;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using Saliency.Kernels.Ilgpu;

namespace Saliency.Kernels.Ops.PrimalDual;

/// <summary>
/// The LEG-TV primal-dual step, KKT evaluation and restart for a batch of B independent LPs on one p1×p2 grid,
/// on any backend: on the ILGPU backends each is one kernel launch for the whole batch (the kernels below); on the CPU
/// the LPs of the batch run in parallel through <see cref="PrimalDualTvStep"/>.
/// </summary>
/// <remarks>
/// Buffers: x (B·p), y (B·m), b (B·m) stored LP after LP. Per-LP scalars in <c>parameters</c> (B·<see cref="ParameterCount"/>):
/// τ, σ, L, 1/s², averaging weight, active (0/1). Inactive LPs are skipped by every kernel.
/// </remarks>
internal static class PrimalDualTvBatch
{
    /// <summary>Doubles per LP in the parameter buffer.</summary>
    public const int ParameterCount = 6;

    /// <summary>Index of τ, σ, L, 1/s², averaging weight and the active flag in an LP's parameters.</summary>
    public const int Tau = 0, Sigma = 1, Bound = 2, InverseVariance = 3, AverageWeight = 4, Active = 5;

    /// <summary>KKT sums per LP written by <see cref="Evaluate"/>: ‖Dx‖₁, ‖(|s²Dx − b| − L)₊‖², dual objective, ‖Dᵀy‖².</summary>
    public const int EvaluationCount = 4;

    [ThreadStatic]
    private static double[]? t_scratch;

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
            case IlgpuBackend gpu:
            {
                // Absent optional buffers are passed as x with a flag (kernels take no null views).
                var vx = gpu.Own(x).View;
                var step = gpu.GetKernel("PrimalDualTvBatch.Step", a => a.LoadAutoGroupedStreamKernel<Index1D, Spread,
                    ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>,
                    ArrayView<double>, ArrayView<double>, ArrayView<double>, int, int, int>(StepKernel));
                int flags = (xSum is null ? 0 : 1) | (primalScale is null ? 0 : 2);
                var spread = gpu.Spread(batch * p);
                step(spread.Threads, spread, vx, gpu.Own(y).View, gpu.Own(b).View, gpu.Own(xOut).View, gpu.Own(yOut).View,
                    xSum is null ? vx : gpu.Own(xSum).View, ySum is null ? vx : gpu.Own(ySum).View,
                    primalScale is null ? vx : gpu.Own(primalScale).View, gpu.Own(parameters).View, rows, cols, flags);
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
            case IlgpuBackend gpu:
            {
                var evaluate = gpu.GetKernel("PrimalDualTvBatch.Evaluate", a => a.LoadAutoGroupedStreamKernel<Index1D, Spread,
                    ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>,
                    int, int>(EvaluateKernel));
                var spread = gpu.Spread(batch * p);
                evaluate(spread.Threads, spread, gpu.Own(x).View, gpu.Own(y).View, gpu.Own(b).View, gpu.Own(scale).View, gpu.Own(parameters).View,
                    gpu.Own(output).View, rows, cols);
                break;
            }
            default:
                throw new NotSupportedException($"Backend {be.Kind} has no primal-dual kernels.");
        }
    }

    /// <summary>
    /// Restarts the LPs with modeₖ ≠ 0 (1: at the current point, 2: at the running average sumₖ·avgScaleₖ): writes the
    /// point into x/y, adds ‖x − xLast‖² and ‖y − yLast‖² into distances[2k], [2k+1] (zero them first), copies the point
    /// into xLast/yLast and clears the sums. Mode 2 without running sums is refused on the CPU backend; on the ILGPU
    /// backends, where the modes are device data, it restarts at the current point.
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
            case IlgpuBackend gpu:
            {
                var vx = gpu.Own(x).View;
                var vy = gpu.Own(y).View;
                var restart = gpu.GetKernel("PrimalDualTvBatch.Restart", a => a.LoadAutoGroupedStreamKernel<Index1D, Spread,
                    ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>, ArrayView<double>,
                    ArrayView<int>, ArrayView<double>, ArrayView<double>, int, int, int>(RestartKernel));
                // One thread per element of the longer of x and y (p > m on 1×n grids).
                var spread = gpu.Spread(batch * Math.Max(p, m));
                restart(spread.Threads, spread, vx, vy, xSum is null ? vx : gpu.Own(xSum).View, ySum is null ? vy : gpu.Own(ySum).View,
                    gpu.Own(xLast).View, gpu.Own(yLast).View, gpu.Own(mode).View, gpu.Own(averageScale).View, gpu.Own(distances).View,
                    rows, cols, xSum is null ? 0 : 1);
                break;
            }
            default:
                throw new NotSupportedException($"Backend {be.Kind} has no primal-dual kernels.");
        }
    }

    // ---- ILGPU kernels (double). Layout and per-LP parameters as in the type remarks; see PrimalDualTvStep for the
    // derivation of the step. Every kernel skips inactive LPs.

    /// <summary>(Dᵀy)[r, c] = yv[r−1, c] − yv[r, c] + yh[r, c−1] − yh[r, c] of one LP (y at <paramref name="yk"/>).</summary>
    private static double Dty(ArrayView<double> y, long yk, int nv, int r, int c, int p1, int p2)
    {
        double acc = 0.0;
        if (r > 0) acc += y[yk + (long)(r - 1) * p2 + c];
        if (r < p1 - 1) acc -= y[yk + (long)r * p2 + c];
        if (c > 0) acc += y[yk + nv + (long)r * (p2 - 1) + c - 1];
        if (c < p2 - 1) acc -= y[yk + nv + (long)r * (p2 - 1) + c];
        return acc;
    }

    /// <summary>y⁺ = w − clip(shrink₁(w), lo, hi) with shrink₁(w) = w − clamp(w, −1, 1) (PrimalDualTvStep.Prox).</summary>
    private static double Prox(double w, double lo, double hi)
    {
        double s = w - XMath.Clamp(w, -1.0, 1.0);
        s = s < lo ? lo : (s > hi ? hi : s);
        return w - s;
    }

    /// <summary>
    /// ILGPU kernel, one work item per pixel of the batch: x⁺ at the pixel and, for the vertical edge below it and the
    /// horizontal edge to its right, y⁺ from x̄ = 2x⁺ − x at both ends (the neighbour's x⁺ is recomputed from the old y,
    /// so no grid-wide barrier is needed; outputs are separate buffers, so nothing races). flags: 1 = running sums given,
    /// 2 = primal scale given.
    /// </summary>
    private static void StepKernel(Index1D t, Spread spread, ArrayView<double> x, ArrayView<double> y, ArrayView<double> b, ArrayView<double> xo, ArrayView<double> yo, ArrayView<double> xs, ArrayView<double> ys, ArrayView<double> pscale, ArrayView<double> par, int p1, int p2, int flags)
    {
        for (int i = spread.First(t); i < spread.End(t); i += spread.Step) StepKernelItem(i, x, y, b, xo, yo, xs, ys, pscale, par, p1, p2, flags);
    }

    private static void StepKernelItem(int i, ArrayView<double> x, ArrayView<double> y, ArrayView<double> b, ArrayView<double> xo, ArrayView<double> yo, ArrayView<double> xs, ArrayView<double> ys, ArrayView<double> pscale, ArrayView<double> par, int p1, int p2, int flags)
    {
        int p = p1 * p2, nv = (p1 - 1) * p2, m = nv + p1 * (p2 - 1);
        int k = i / p;
        long pk = (long)k * ParameterCount;
        if (par[pk + Active] == 0.0) return;
        bool sums = (flags & 1) != 0, scaled = (flags & 2) != 0;
        double tau = par[pk + Tau], sigma = par[pk + Sigma], L = par[pk + Bound], q = sigma * par[pk + InverseVariance], aw = par[pk + AverageWeight];
        int j = i - k * p, r = j / p2, c = j - r * p2;
        long xk = (long)k * p, yk = (long)k * m;

        double t = scaled ? tau * pscale[j] : tau;
        double xOld = x[xk + j];
        double xNew = xOld - t * Dty(y, yk, nv, r, c, p1, p2);
        double xb = 2.0 * xNew - xOld;
        xo[i] = xNew;
        if (sums) xs[i] += aw * xNew;

        if (r < p1 - 1)
        {
            int jd = j + p2;
            double td = scaled ? tau * pscale[jd] : tau;
            double xdOld = x[xk + jd];
            double xdb = 2.0 * (xdOld - td * Dty(y, yk, nv, r + 1, c, p1, p2)) - xdOld;
            long e = yk + (long)r * p2 + c;
            double yn = Prox(y[e] + sigma * (xdb - xb), q * (b[e] - L), q * (b[e] + L));
            yo[e] = yn;
            if (sums) ys[e] += aw * yn;
        }
        if (c < p2 - 1)
        {
            int jr = j + 1;
            double tr = scaled ? tau * pscale[jr] : tau;
            double xrOld = x[xk + jr];
            double xrb = 2.0 * (xrOld - tr * Dty(y, yk, nv, r, c + 1, p1, p2)) - xrOld;
            long e = yk + nv + (long)r * (p2 - 1) + c;
            double yn = Prox(y[e] + sigma * (xrb - xb), q * (b[e] - L), q * (b[e] + L));
            yo[e] = yn;
            if (sums) ys[e] += aw * yn;
        }
    }

    /// <summary>
    /// ILGPU kernel, one work item per pixel of the batch: the pixel's (Dᵀy)² term and the KKT terms of its two owned edges
    /// (below, right) of (scaleₖ·xₖ, scaleₖ·yₖ), added atomically into out[4k … 4k+3] (zeroed by the caller).
    /// </summary>
    private static void EvaluateKernel(Index1D t, Spread spread, ArrayView<double> x, ArrayView<double> y, ArrayView<double> b, ArrayView<double> scale, ArrayView<double> par, ArrayView<double> output, int p1, int p2)
    {
        for (int i = spread.First(t); i < spread.End(t); i += spread.Step) EvaluateKernelItem(i, x, y, b, scale, par, output, p1, p2);
    }

    private static void EvaluateKernelItem(int i, ArrayView<double> x, ArrayView<double> y, ArrayView<double> b, ArrayView<double> scale, ArrayView<double> par, ArrayView<double> output, int p1, int p2)
    {
        int p = p1 * p2, nv = (p1 - 1) * p2, m = nv + p1 * (p2 - 1);
        int k = i / p;
        long pk = (long)k * ParameterCount;
        if (par[pk + Active] == 0.0) return;
        double L = par[pk + Bound], s2 = 1.0 / par[pk + InverseVariance], sc = scale[k];
        int j = i - k * p, r = j / p2, c = j - r * p2;
        long xk = (long)k * p, yk = (long)k * m;
        double dty = sc * Dty(y, yk, nv, r, c, p1, p2);
        double tv = 0.0, viol = 0.0, dual = 0.0;
        if (r < p1 - 1)
        {
            long e = yk + (long)r * p2 + c;
            double z = sc * (x[xk + j + p2] - x[xk + j]);
            tv += XMath.Abs(z);
            double over = XMath.Abs(s2 * z - b[e]) - L;
            if (over > 0.0) viol += over * over;
            double v = SplitDual(sc * y[e], b[e], L, s2);
            dual -= v * b[e] + L * XMath.Abs(v);
        }
        if (c < p2 - 1)
        {
            long e = yk + nv + (long)r * (p2 - 1) + c;
            double z = sc * (x[xk + j + 1] - x[xk + j]);
            tv += XMath.Abs(z);
            double over = XMath.Abs(s2 * z - b[e]) - L;
            if (over > 0.0) viol += over * over;
            double v = SplitDual(sc * y[e], b[e], L, s2);
            dual -= v * b[e] + L * XMath.Abs(v);
        }
        long o = (long)k * EvaluationCount;
        Atomic.Add(ref output[o], tv);
        Atomic.Add(ref output[o + 1], viol);
        Atomic.Add(ref output[o + 2], dual);
        Atomic.Add(ref output[o + 3], dty * dty);
    }

    /// <summary>
    /// ILGPU kernel, one work item per index e &lt; max(p, m) of each LP: restarts x[e] (e &lt; p) and y[e] (e &lt; m) of the LPs
    /// with mode ≠ 0 and adds the squared moves into distances[2k], [2k+1] atomically (zeroed by the caller).
    /// </summary>
    private static void RestartKernel(Index1D t, Spread spread, ArrayView<double> x, ArrayView<double> y, ArrayView<double> xs, ArrayView<double> ys, ArrayView<double> xLast, ArrayView<double> yLast, ArrayView<int> mode, ArrayView<double> avgScale, ArrayView<double> dist, int p1, int p2, int sums)
    {
        for (int i = spread.First(t); i < spread.End(t); i += spread.Step) RestartKernelItem(i, x, y, xs, ys, xLast, yLast, mode, avgScale, dist, p1, p2, sums);
    }

    private static void RestartKernelItem(int i, ArrayView<double> x, ArrayView<double> y, ArrayView<double> xs, ArrayView<double> ys, ArrayView<double> xLast, ArrayView<double> yLast, ArrayView<int> mode, ArrayView<double> avgScale, ArrayView<double> dist, int p1, int p2, int sums)
    {
        int p = p1 * p2, m = 2 * p - p1 - p2, n = XMath.Max(p, m);
        int k = i / n;
        int md = mode[k];
        if (md == 0) return;
        if (sums == 0) md = 1; // no running sums: the CPU path throws; device-resident modes cannot be checked up front
        int e = i - k * n;
        if (e < m)
        {
            long iy = (long)k * m + e;
            double yNew = md == 2 ? ys[iy] * avgScale[k] : y[iy];
            double dy = yNew - yLast[iy];
            y[iy] = yNew;
            yLast[iy] = yNew;
            if (sums != 0) ys[iy] = 0.0;
            Atomic.Add(ref dist[2L * k + 1], dy * dy);
        }
        if (e < p)
        {
            long ix = (long)k * p + e;
            double xNew = md == 2 ? xs[ix] * avgScale[k] : x[ix];
            double dx = xNew - xLast[ix];
            x[ix] = xNew;
            xLast[ix] = xNew;
            if (sums != 0) xs[ix] = 0.0;
            Atomic.Add(ref dist[2L * k], dx * dx);
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
