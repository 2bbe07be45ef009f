using System.Numerics.Tensors;
using Saliency.Kernels.Backends;
using Saliency.Kernels.Cpu;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Algorithms.ScanReduceOperations;
using ILGPU.Runtime;
using Saliency.Kernels.Ilgpu;

namespace Saliency.Kernels.Ops;

/// <summary>
/// Batched Hessian-vector products of the cross-entropy loss on the logits through its factors,
/// <c>H V = W (A (Wᵀ V))</c> with <c>A = diag(p) − p pᵀ</c> (docs/mathematics.md, "Gradient and Hessian of the loss": exact for piecewise-linear networks,
/// the Gauss–Newton part otherwise), for k right-hand sides in one pass pair over W. H (d×d) is never formed.
/// </summary>
/// <remarks>
/// <para><b>Layouts.</b> W is d×c stored <b>class-major</b>: the gradient of logit j (column j of W) is contiguous,
/// element (pixel i, class j) at <c>j·d + i</c> (the column-major storage of MathNet's d×c matrices). The k right-hand
/// sides V and the results HV are k×d row-major (right-hand side r at <c>r·d</c>).</para>
/// <para><b>Class subsets.</b> A subset S of classes (e.g. the top-k by probability) uses the rows of W and entries of
/// p of S only: <c>H_S = W_S (diag(p_S) − p_S p_Sᵀ) W_Sᵀ</c>, the principal sub-block of A, with p_S not
/// renormalised. Restriction costs nothing on any backend: the passes read just those classes' rows of W in place.</para>
/// <para><b>Validation.</b> W and p are checked once at construction (W finite, p finite in [0, 1] with sum ≤ 1 + 1e-3,
/// subset indices distinct and in range). Each <see cref="Apply"/> checks sizes, and on the CPU backend that V is
/// finite; device-resident V on the ILGPU backends is not rescanned per call (use <see cref="Reductions.CountNonFinite{T}"/>).</para>
/// <para>Not safe for concurrent <see cref="Apply"/> calls on one instance (they are serialised by a lock).</para>
/// </remarks>
internal sealed class HessianVectorProduct : IDisposable
{

    private readonly object _gate = new();
    private readonly DeviceBuffer<float> _w;
    private readonly int[] _classes;
    private readonly float[] _pActive;

    // CPU workspace (grown to the largest k seen, then reused: no per-call buffers).
    private double[][] _partials = [];
    private float[] _z = [];
    private double[] _u = [];

    // ILGPU workspace (grown to the largest k seen).
    private DeviceBuffer<int>? _classesDevice;
    private DeviceBuffer<float>? _pDevice;
    private DeviceBuffer<double>? _partialDevice;
    private DeviceBuffer<float>? _zDevice;
    private int _deviceCapacityK;

    /// <summary>
    /// Creates the operator for the Jacobian <paramref name="jacobian"/> (class-major d×c, see remarks) and the softmax
    /// probabilities <paramref name="probabilities"/> (length c). <paramref name="classSubset"/> optionally restricts
    /// H to those classes (indices into 0..c−1); empty means all classes. The buffer is referenced, not copied.
    /// </summary>
    /// <exception cref="BufferSizeMismatchException">W's length is not d·c, or p's length is not c.</exception>
    /// <exception cref="NonFiniteValueException">W or p not finite, p outside [0, 1] or summing above 1.</exception>
    /// <exception cref="ArgumentException">Subset indices out of range or repeated.</exception>
    public HessianVectorProduct(DeviceBuffer<float> jacobian, int dimension, int classCount, ReadOnlySpan<float> probabilities,
        ReadOnlySpan<int> classSubset = default)
    {
        ArgumentNullException.ThrowIfNull(jacobian);
        KernelGuard.SameBackend(jacobian.Backend, jacobian);
        KernelGuard.AtLeast(dimension, 1);
        KernelGuard.AtLeast(classCount, 1);
        if (jacobian.Length != (long)dimension * classCount)
            KernelGuard.Length(jacobian.Length, (long)dimension * classCount, $"Jacobian W (d={dimension} × c={classCount}, class-major)");
        KernelGuard.Length(probabilities.Length, classCount, "probabilities p (one per class)");
        KernelGuard.FiniteNonNegative(probabilities, nameof(probabilities));
        double sum = 0;
        foreach (var pj in probabilities)
        {
            if (pj > 1f) throw new NonFiniteValueException($"Probabilities must lie in [0, 1], got {pj}.", nameof(probabilities));
            sum += pj;
        }
        if (sum > 1 + 1e-3) throw new NonFiniteValueException($"Probabilities sum to {sum}, above 1.", nameof(probabilities));

        if (classSubset.IsEmpty)
        {
            _classes = Enumerable.Range(0, classCount).ToArray();
        }
        else
        {
            _classes = classSubset.ToArray();
            var seen = new HashSet<int>();
            foreach (var j in _classes)
            {
                if ((uint)j >= (uint)classCount) throw new ArgumentException($"Class index {j} is outside 0..{classCount - 1}.", nameof(classSubset));
                if (!seen.Add(j)) throw new ArgumentException($"Class index {j} appears twice in the subset.", nameof(classSubset));
            }
        }
        _pActive = new float[_classes.Length];
        for (int i = 0; i < _classes.Length; i++) _pActive[i] = probabilities[_classes[i]];
        _w = jacobian;
        Dimension = dimension;
        ClassCount = classCount;

        switch (jacobian.Backend)
        {
            case CpuBackend cpu:
                KernelGuard.Finite((ReadOnlySpan<float>)cpu.Own(jacobian).Span, "jacobian");
                break;
            case IlgpuBackend gpu:
                Span<long> bad = stackalloc long[1];
                Reductions.CountNonFinite(jacobian, jacobian.Length, bad);
                if (bad[0] != 0) throw new NonFiniteValueException($"The Jacobian W has {bad[0]} non-finite entries.", nameof(jacobian));
                _classesDevice = gpu.Allocate<int>(_classes.Length);
                gpu.Upload<int>(_classes, _classesDevice);
                _pDevice = gpu.Allocate<float>(_pActive.Length);
                gpu.Upload<float>(_pActive, _pDevice);
                break;
            default:
                throw new NotSupportedException($"Backend {jacobian.Backend.Kind} has no HVP kernel.");
        }
    }

    /// <summary>Input dimension d.</summary>
    public int Dimension { get; }

    /// <summary>Number of classes c of W.</summary>
    public int ClassCount { get; }

    /// <summary>The classes H uses (all, or the subset), in order.</summary>
    public IReadOnlyList<int> ActiveClasses => _classes;

    /// <summary>Bytes of W streamed by one <see cref="Apply"/> on the CPU backend (two passes over the active rows; the
    /// ILGPU kernels re-read W per right-hand side in pass 1, mostly from cache).</summary>
    public long BytesStreamedPerApply => 2L * _classes.Length * Dimension * sizeof(float);

    /// <summary>
    /// <paramref name="result"/> ← H <paramref name="vectors"/> for the <c>k = vectors.Length / d</c> right-hand sides
    /// (k×d row-major in and out). <paramref name="result"/> must not be <paramref name="vectors"/>.
    /// </summary>
    /// <exception cref="BufferSizeMismatchException">Lengths are not k·d with k ≥ 1, or differ.</exception>
    /// <exception cref="NonFiniteValueException">V contains NaN/∞ (checked on the CPU backend; device-resident V is not
    /// rescanned per call, use <see cref="Reductions.CountNonFinite{T}"/>).</exception>
    public void Apply(DeviceBuffer<float> vectors, DeviceBuffer<float> result)
    {
        ArgumentNullException.ThrowIfNull(vectors);
        ArgumentNullException.ThrowIfNull(result);
        ObjectDisposedException.ThrowIf(_w.IsDisposed, _w);
        KernelGuard.SameBackend(_w.Backend, vectors);
        KernelGuard.SameBackend(_w.Backend, result);
        int k = KernelGuard.SliceCount(vectors.Length, Dimension, "vectors");
        KernelGuard.Length(result.Length, vectors.Length, "result length");
        if (ReferenceEquals(vectors, result)) throw new ArgumentException("HVP result must be a different buffer from the input vectors.", nameof(result));
        lock (_gate)
        {
            if (_w.Backend is CpuBackend cpu)
            {
                var v = (ReadOnlySpan<float>)cpu.Own(vectors).Span;
                KernelGuard.Finite(v, "vectors");
                ApplyCpu(cpu.Own(_w).Span, v, cpu.Own(result).Span, k);
            }
            else
            {
                ApplyIlgpu((IlgpuBackend)_w.Backend, vectors, result, k);
            }
        }
    }

    private void ApplyCpu(ReadOnlySpan<float> w, ReadOnlySpan<float> v, Span<float> hv, int k)
    {
        int d = Dimension, cA = _classes.Length;
        // A few contiguous pixel ranges per core, scheduled dynamically: a core slowed by other work on the machine
        // does not hold the whole pass back. Each range keeps its own pass-1 partial sums.
        int workers = Math.Max(1, Math.Min(4 * CpuBackend.Shared.Parallelism, (d + HvpCpu.Tile - 1) / HvpCpu.Tile));
        if (CpuBackend.Shared.Parallelism == 1) workers = 1;
        if (_partials.Length < workers || _partials[0].Length < cA * k)
        {
            _partials = new double[workers][];
            for (int i = 0; i < workers; i++) _partials[i] = new double[cA * k];
        }
        if (_z.Length < cA * k)
        {
            _z = new float[cA * k];
            _u = new double[cA * k];
        }

        for (int wk = 0; wk < workers; wk++) _partials[wk].AsSpan(0, cA * k).Clear();

        // Pass 1: U = W_Sᵀ V, per-core partial sums over contiguous pixel ranges, combined in double.
        RunPerWorker(workers, w, v, default, (wk, lo, hi, ws, vs, _) => HvpCpu.Project(ws, d, _classes, vs, k, lo, hi, _partials[wk].AsSpan(0, cA * k)));
        var u = _u.AsSpan(0, cA * k);
        u.Clear();
        for (int wk = 0; wk < workers; wk++) TensorPrimitives.Add(u, _partials[wk].AsSpan(0, cA * k), u);

        // Middle: Z = A U with A = diag(p) − ppᵀ: Z[j, r] = p_j (U[j, r] − Σ_l p_l U[l, r]).
        for (int r = 0; r < k; r++)
        {
            double pu = 0;
            for (int j = 0; j < cA; j++) pu += _pActive[j] * u[j * k + r];
            for (int j = 0; j < cA; j++) _z[j * k + r] = (float)(_pActive[j] * (u[j * k + r] - pu));
        }

        // Pass 2: HV = W_S Z, each core writing its own pixel range of every right-hand side.
        RunPerWorker(workers, w, v, hv, (_, lo, hi, ws, _, outs) => HvpCpu.Expand(ws, d, _classes, _z.AsSpan(0, cA * k), k, lo, hi, outs));
    }

    private delegate void WorkerBody(int worker, int lo, int hi, ReadOnlySpan<float> w, ReadOnlySpan<float> v, Span<float> hv);

    // Parallel.For bodies cannot capture spans; the buffers are pinned (CpuBuffer arrays live on the pinned heap, and
    // `fixed` covers any other span), so the workers get them back as pointer-based spans.
    private unsafe void RunPerWorker(int workers, ReadOnlySpan<float> w, ReadOnlySpan<float> v, Span<float> hv, WorkerBody body)
    {
        int d = Dimension;
        fixed (float* pw = w)
        fixed (float* pv = v)
        fixed (float* ph = hv)
        {
            nint aw = (nint)pw, av = (nint)pv, ah = (nint)ph;
            int wl = w.Length, vl = v.Length, hl = hv.Length;
            if (workers == 1)
            {
                body(0, 0, d, w, v, hv);
                return;
            }
            Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = CpuBackend.Shared.Parallelism }, wk =>
            {
                // Tile-aligned contiguous pixel ranges.
                int tiles = (d + HvpCpu.Tile - 1) / HvpCpu.Tile;
                int lo = Math.Min(d, (int)((long)tiles * wk / workers) * HvpCpu.Tile);
                int hi = Math.Min(d, (int)((long)tiles * (wk + 1) / workers) * HvpCpu.Tile);
                if (wk == workers - 1) hi = d;
                body(wk, lo, hi, new ReadOnlySpan<float>((void*)aw, wl), new ReadOnlySpan<float>((void*)av, vl), new Span<float>((void*)ah, hl));
            });
        }
    }

    // Three ILGPU launches: pass 1 (one group per (segment, class, right-hand side), ILGPU.Algorithms group reduction in
    // double), the middle step A·U (one thread per right-hand side) and pass 2 (one work item per pixel).
    // cuBLAS (ILGPU.Algorithms' CuBlas) is not used: without a GPU here its benefit over these kernels is unmeasured.
    private void ApplyIlgpu(IlgpuBackend gpu, DeviceBuffer<float> v, DeviceBuffer<float> hv, int k)
    {
        int cA = _classes.Length, d = Dimension;
        int parts = (int)Math.Clamp((d + 8191L) / 8192, 1, 256);
        if (_deviceCapacityK < k)
        {
            _partialDevice?.Dispose();
            _zDevice?.Dispose();
            _partialDevice = gpu.Allocate<double>(checked(cA * parts * k));
            _zDevice = gpu.Allocate<float>(cA * k);
            _deviceCapacityK = k;
        }
        var project = gpu.GetKernel("HessianVectorProduct.Project", a => a.LoadStreamKernel<
            ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int, ArrayView<double>>(ProjectKernel));
        var middle = gpu.GetKernel("HessianVectorProduct.Middle", a => a.LoadAutoGroupedStreamKernel<
            Index1D, ArrayView<double>, ArrayView<float>, int, int, int, ArrayView<float>>(MiddleKernel));
        var expand = gpu.GetKernel("HessianVectorProduct.Expand", a => a.LoadAutoGroupedStreamKernel<
            Index1D, Spread, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int, ArrayView<float>>(ExpandKernel));
        var (w, classes, p, partial, z) = (gpu.Own(_w).View, gpu.Own(_classesDevice!).View, gpu.Own(_pDevice!).View,
            gpu.Own(_partialDevice!).View, gpu.Own(_zDevice!).View);
        int group = Math.Min(256, gpu.Accelerator.MaxNumThreadsPerGroup);
        // Pairs along x (up to 2³¹ − 1 groups on CUDA), segments along y (≤ 256; CUDA's y limit is 65,535).
        project(new KernelConfig(new Index2D(cA * k, parts), new Index2D(group, 1)), w, classes, gpu.Own(v).View, d, k, parts, partial);
        middle(k, partial, p, cA, parts, k, z);
        var spread = gpu.Spread(d);
        expand(spread.Threads, spread, w, classes, z, cA, d, k, gpu.Own(hv).View);
    }

    /// <summary>
    /// Pass 1 (explicitly grouped ILGPU kernel): group (pair q = jj·k + r, segment b) writes
    /// partial[(jj·parts + b)·k + r] = Σ over segment b of W[class_jj, i]·V[r, i], accumulated in double.
    /// </summary>
    private static void ProjectKernel(ArrayView<float> w, ArrayView<int> classes, ArrayView<float> v, int d, int k, int parts,
        ArrayView<double> partial)
    {
        int q = Grid.IdxX, b = Grid.IdxY;
        int jj = q / k, r = q - jj * k;
        int chunk = (d + parts - 1) / parts;
        int begin = b * chunk, end = XMath.Min(begin + chunk, d);
        long wRow = (long)classes[jj] * d, vRow = (long)r * d;
        double acc = 0;
        int lane = Group.IdxX, lanes = Group.DimX; // read once (a thread-local lookup on the CPU accelerator)
        for (int i = begin + lane; i < end; i += lanes) acc += (double)w[wRow + i] * v[vRow + i];
        acc = GroupExtensions.Reduce<double, AddDouble>(acc);
        if (Group.IsFirstThread) partial[((long)jj * parts + b) * k + r] = acc;
    }

    /// <summary>
    /// Middle step, one thread per right-hand side r: U[jj, r] = Σ_b partial, s = Σ_jj p_jj U[jj, r],
    /// Z[jj·k + r] = p_jj (U[jj, r] − s) (the CPU's formula for A = diag(p) − ppᵀ), U recomputed rather than stored.
    /// </summary>
    private static void MiddleKernel(Index1D r, ArrayView<double> partial, ArrayView<float> p, int cA, int parts, int k, ArrayView<float> z)
    {
        double pu = 0;
        for (int jj = 0; jj < cA; jj++) pu += p[jj] * SumParts(partial, jj, parts, k, r);
        for (int jj = 0; jj < cA; jj++) z[(long)jj * k + r] = (float)(p[jj] * (SumParts(partial, jj, parts, k, r) - pu));
    }

    private static double SumParts(ArrayView<double> partial, int jj, int parts, int k, int r)
    {
        double u = 0;
        for (int b = 0; b < parts; b++) u += partial[((long)jj * parts + b) * k + r];
        return u;
    }

    /// <summary>
    /// Pass 2, one work item per pixel i: HV[r, i] = Σ_jj W[class_jj, i]·Z[jj·k + r] in float for every right-hand side
    /// r. Pixel-major so that W is streamed once (the k sweeps of one item re-read the same cA values, from cache) while
    /// neighbouring items still read and write neighbouring addresses.
    /// </summary>
    private static void ExpandKernel(Index1D thread, Spread spread, ArrayView<float> w, ArrayView<int> classes, ArrayView<float> z, int cA, int d, int k, ArrayView<float> hv)
    {
        for (int i = spread.First(thread); i < spread.End(thread); i += spread.Step) ExpandKernelItem(i, w, classes, z, cA, d, k, hv);
    }

    private static void ExpandKernelItem(int i, ArrayView<float> w, ArrayView<int> classes, ArrayView<float> z, int cA, int d, int k, ArrayView<float> hv)
    {
        for (int r = 0; r < k; r++)
        {
            float acc = 0f;
            for (int jj = 0; jj < cA; jj++) acc += w[(long)classes[jj] * d + i] * z[(long)jj * k + r];
            hv[(long)r * d + i] = acc;
        }
    }

    /// <summary>Frees device workspace (the Jacobian buffer belongs to the caller and stays alive).</summary>
    public void Dispose()
    {
        _classesDevice?.Dispose();
        _pDevice?.Dispose();
        _partialDevice?.Dispose();
        _zDevice?.Dispose();
    }
}
