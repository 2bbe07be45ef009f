using System.Numerics.Tensors;
using Saliency.Kernels.Backends;
using Saliency.Kernels.Cpu;
using Saliency.Kernels.Cuda;

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
/// renormalised. On the CPU (and CUDA without cuBLAS) restriction costs nothing: the passes stream just those
/// classes' rows; CUDA with cuBLAS gathers them once into a compact c'×d copy on first use.</para>
/// <para><b>Validation.</b> W and p are checked once at construction (W finite, p finite in [0, 1] with sum ≤ 1 + 1e-3,
/// subset indices distinct and in range). Each <see cref="Apply"/> checks sizes, and on the CPU backend that V is
/// finite; device-resident V on CUDA is not rescanned per call (use <see cref="Reductions.CountNonFinite{T}"/>).</para>
/// <para>Not safe for concurrent <see cref="Apply"/> calls on one instance (they are serialised by a lock).</para>
/// </remarks>
public sealed class HessianVectorProduct : IDisposable
{
    private static readonly Lazy<CudaKernelSource> Source = new(() => CudaKernelSource.Embedded("HessianVectorProduct.cu"));
    private static readonly int[] CudaBlockSizes = [16, 8, 4, 2, 1];

    private readonly object _gate = new();
    private readonly DeviceBuffer<float> _w;
    private readonly int[] _classes;
    private readonly float[] _pActive;

    // CPU workspace (grown to the largest k seen, then reused: no per-call buffers).
    private double[][] _partials = [];
    private float[] _z = [];
    private double[] _u = [];

    // CUDA workspace.
    private CudaBuffer<int>? _classesDevice;
    private CudaBuffer<float>? _pDevice;
    private CudaBuffer<double>? _partialDevice;
    private CudaBuffer<double>? _uDevice;
    private CudaBuffer<float>? _zDevice;
    private int _cudaCapacityK;
    private CudaBuffer<float>? _uColumnMajor;
    private CudaBuffer<float>? _compactRows;
    private readonly bool _allClasses;

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
        _allClasses = _classes.Length == classCount && _classes.Select((j, i) => j == i).All(b => b);
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
            case CudaBackend cuda:
                Span<long> bad = stackalloc long[1];
                Reductions.CountNonFinite(jacobian, jacobian.Length, bad);
                if (bad[0] != 0) throw new NonFiniteValueException($"The Jacobian W has {bad[0]} non-finite entries.", nameof(jacobian));
                _classesDevice = cuda.Own(cuda.Allocate<int>(_classes.Length));
                cuda.Upload<int>(_classes, _classesDevice);
                _pDevice = cuda.Own(cuda.Allocate<float>(_pActive.Length));
                cuda.Upload<float>(_pActive, _pDevice);
                break;
            default:
                throw new NotSupportedException($"Backend {jacobian.Backend.Kind} has no HVP kernel.");
        }
    }

    /// <summary>Input dimension d.</summary>
    public int Dimension { get; }

    /// <summary>Number of classes c of W.</summary>
    public int ClassCount { get; }

    /// <summary>
    /// On CUDA, run both passes as cuBLAS SGEMMs when cuBLAS is installed (default true; a class subset is then
    /// gathered once into a compact c'×d device copy); false forces the project's own kernels (used to test both paths).
    /// </summary>
    public bool PreferCublas { get; set; } = true;

    /// <summary>The classes H uses (all, or the subset), in order.</summary>
    public IReadOnlyList<int> ActiveClasses => _classes;

    /// <summary>Bytes of W streamed by one <see cref="Apply"/> with k ≤ 16 (two passes over the active rows).</summary>
    public long BytesStreamedPerApply => 2L * _classes.Length * Dimension * sizeof(float);

    /// <summary>
    /// <paramref name="result"/> ← H <paramref name="vectors"/> for the <c>k = vectors.Length / d</c> right-hand sides
    /// (k×d row-major in and out). <paramref name="result"/> must not be <paramref name="vectors"/>.
    /// </summary>
    /// <exception cref="BufferSizeMismatchException">Lengths are not k·d with k ≥ 1, or differ.</exception>
    /// <exception cref="NonFiniteValueException">V contains NaN/∞ (checked on the CPU backend).</exception>
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
                ApplyCuda((CudaBackend)_w.Backend, ((CudaBackend)_w.Backend).Own(vectors), ((CudaBackend)_w.Backend).Own(result), k);
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

    private void ApplyCuda(CudaBackend cuda, CudaBuffer<float> v, CudaBuffer<float> hv, int k)
    {
        int cA = _classes.Length;
        long d = Dimension;
        int parts = (int)Math.Clamp((d + 8191) / 8192, 1, 256);
        if (_cudaCapacityK < k)
        {
            _partialDevice?.Dispose();
            _uDevice?.Dispose();
            _zDevice?.Dispose();
            _partialDevice = cuda.Own(cuda.Allocate<double>(checked(cA * parts * k)));
            _uDevice = cuda.Own(cuda.Allocate<double>(cA * k));
            _zDevice = cuda.Own(cuda.Allocate<float>(cA * k));
            _uColumnMajor?.Dispose();
            _uColumnMajor = cuda.Own(cuda.Allocate<float>(cA * k));
            _cudaCapacityK = k;
        }
        var w = cuda.Own(_w);
        // Both passes are plain GEMMs on the column-major view of W (d×c, lda = d): cuBLAS is the honest tool there.
        // A class subset is gathered once into a compact c'×d copy so that it is a GEMM too. Without cuBLAS (or with
        // PreferCublas = false) the project's own kernels below stream the subset's rows in place.
        if (PreferCublas && cuda.Blas is { } blas)
        {
            var a = _allClasses ? w : _compactRows ??= GatherRows(cuda, w);
            // U = Wᵀ V (c×k, column-major), Z = A U (same layout), HV = W Z (d×k column-major = k×d row-major).
            blas.Sgemm(transposeA: true, transposeB: false, cA, k, (int)d, 1f, a.DevicePointer, (int)d, v.DevicePointer, (int)d,
                0f, _uColumnMajor!.DevicePointer, cA);
            cuda.Launch(cuda.GetKernel(Source.Value, "hvp_middle_colmajor"), ((uint)k, 1, 1), (256, 1, 1), 0,
                CudaLaunchArgs.Rent().Add(_uColumnMajor!).Add(_pDevice!).Add(cA).Add(_zDevice!));
            blas.Sgemm(transposeA: false, transposeB: false, (int)d, k, cA, 1f, a.DevicePointer, (int)d, _zDevice!.DevicePointer, cA,
                0f, hv.DevicePointer, (int)d);
            return;
        }
        // Pass 1 per block of ≤16 right-hand sides (16, then 8, 4, 2, 1 for the remainder).
        for (int r0 = 0; r0 < k;)
        {
            int kb = CudaBlockSizes.First(b => b <= k - r0);
            var kernel = cuda.GetKernel(Source.Value, $"hvp_project_{kb}");
            var args = CudaLaunchArgs.Rent().Add(w).Add(_classesDevice!).Add(cA).Add(d).Add(v).Add(k).Add(r0).Add(parts).Add(_partialDevice!);
            cuda.Launch(kernel, ((uint)parts, (uint)((cA + 3) / 4), 1), (256, 1, 1), 0, args);
            r0 += kb;
        }
        var middle = cuda.GetKernel(Source.Value, "hvp_middle");
        cuda.Launch(middle, ((uint)k, 1, 1), (256, 1, 1), 0,
            CudaLaunchArgs.Rent().Add(_partialDevice!).Add(_pDevice!).Add(cA).Add(parts).Add(k).Add(_uDevice!).Add(_zDevice!));
        for (int r0 = 0; r0 < k;)
        {
            int kb = CudaBlockSizes.First(b => b <= k - r0);
            var kernel = cuda.GetKernel(Source.Value, $"hvp_expand_{kb}");
            var args = CudaLaunchArgs.Rent().Add(w).Add(_classesDevice!).Add(cA).Add(d).Add(_zDevice!).Add(k).Add(r0).Add(hv);
            cuda.Launch(kernel, ((uint)((d + 127) / 128), 1, 1), (128, 1, 1), 0, args);
            r0 += kb;
        }
    }

    private CudaBuffer<float> GatherRows(CudaBackend cuda, CudaBuffer<float> w)
    {
        var compact = cuda.Own(cuda.Allocate<float>(checked(_classes.Length * Dimension)));
        for (int jj = 0; jj < _classes.Length; jj++)
            cuda.CopyElements(w, (long)_classes[jj] * Dimension, compact, (long)jj * Dimension, Dimension);
        return compact;
    }

    /// <summary>Frees device workspace (the Jacobian buffer belongs to the caller and stays alive).</summary>
    public void Dispose()
    {
        _classesDevice?.Dispose();
        _pDevice?.Dispose();
        _partialDevice?.Dispose();
        _uDevice?.Dispose();
        _zDevice?.Dispose();
        _uColumnMajor?.Dispose();
        _compactRows?.Dispose();
    }
}
