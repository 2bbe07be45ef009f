using MathNet.Numerics.LinearAlgebra;
using Saliency.Kernels.Backends;
using Saliency.Kernels.Cpu;
using Saliency.Linalg.Hessian;
using System.Numerics.Tensors;

namespace Saliency.Solvers.Caso;

/// <summary>How <see cref="CasoProblem.LambdaMax"/> was obtained.</summary>
internal enum LambdaMaxKind
{
    /// <summary>Exact: the largest eigenvalue from the c×c reduced eigenproblem (<see cref="HessianSpectrum"/>, or <see cref="ClassMajorSpectrum"/> for the float32 kernel builders).</summary>
    Exact,
    /// <summary>An upper bound: for Smooth CASO with too many stacked classes, Σⱼ wⱼ λ_max(Hⱼ) ≥ λ_max(Σⱼ wⱼ Hⱼ) (convexity of λ_max). Safe for λ2.</summary>
    UpperBound,
    /// <summary>The authors' estimate: a few power iterations (a lower bound, so strong concavity rests on the margin).</summary>
    PowerIterationEstimate,
}

/// <summary>Settings for building a <see cref="CasoProblem"/>.</summary>
internal sealed record CasoProblemOptions
{
    /// <summary>The label class y of the loss; null = the most probable class (the prediction).</summary>
    public int? Target { get; init; }

    /// <summary>Keep only the k most probable classes (plus the target); null = all classes.</summary>
    public int? TopClasses { get; init; }

    /// <summary>How to obtain L = λ_max(H). Exact by default.</summary>
    public LambdaMaxKind LambdaMaxMethod { get; init; } = LambdaMaxKind.Exact;

    /// <summary>Power iterations when <see cref="LambdaMaxMethod"/> is <see cref="LambdaMaxKind.PowerIterationEstimate"/> (the authors use 10).</summary>
    public int PowerIterations { get; init; } = 10;

    /// <summary>Seed of the power iteration's start vector.</summary>
    public int Seed { get; init; } = 12345;

    /// <summary>Smooth CASO: the largest stacked class count n·c for the exact joint spectrum; beyond it the bound Σ wⱼ λ_max(Hⱼ) is used.</summary>
    public int ExactSpectrumMaxColumns { get; init; } = 2048;

    /// <summary>Checks the settings (every builder calls this first).</summary>
    /// <exception cref="CasoInputException">TopClasses or PowerIterations below 1, or a negative ExactSpectrumMaxColumns.</exception>
    internal void Validate()
    {
        if (TopClasses is int k && k < 1) throw new CasoInputException($"TopClasses = {k} must be ≥ 1.", nameof(TopClasses));
        if (PowerIterations < 1) throw new CasoInputException($"PowerIterations = {PowerIterations}: at least one power iteration.", nameof(PowerIterations));
        if (ExactSpectrumMaxColumns < 0)
            throw new CasoInputException($"ExactSpectrumMaxColumns = {ExactSpectrumMaxColumns} must be ≥ 0.", nameof(ExactSpectrumMaxColumns));
    }
}

/// <summary>
/// The data of one CAFO/CASO explanation: <c>g = W(p − y)</c> and the Hessian <c>H = W A Wᵀ</c>
/// (exact for piecewise-linear networks, the Gauss–Newton part otherwise), or their averages over noisy copies
/// (Smooth CASO), with <c>L = λ_max(H)</c> for the λ2 rule.
/// </summary>
/// <remarks>
/// Two Hessian paths: <see cref="FromJacobian"/> / <see cref="FromNoisyCopies"/> keep W in float64 on the host and
/// multiply with two dense GEMMs (accuracy for small problems and tests); <see cref="FromClassMajor"/> runs the
/// backends' float32 batched HVP kernel (CPU or CUDA) — the fast path for large W. A problem holds reusable work
/// buffers: solve on one thread at a time per instance.
/// </remarks>
internal sealed class CasoProblem : IDisposable
{
    private readonly double[] _gradient;

    private CasoProblem(double[] gradient, IHessianOperator hessian, double lambdaMax, LambdaMaxKind kind,
        HessianSpectrum? spectrum, int target, int classCount, int totalClasses, double droppedMass, int copies)
    {
        _gradient = gradient;
        Hessian = hessian;
        LambdaMax = lambdaMax;
        LambdaMaxKind = kind;
        Spectrum = spectrum;
        Target = target;
        ClassCount = classCount;
        TotalClasses = totalClasses;
        DroppedProbabilityMass = droppedMass;
        Copies = copies;
    }

    /// <summary>Input dimension d.</summary>
    public int Dimension => _gradient.Length;

    /// <summary>The loss gradient g = W(p − y) (averaged over copies for Smooth CASO).</summary>
    public ReadOnlySpan<double> Gradient => _gradient;

    /// <summary>Batched products with H (averaged over copies for Smooth CASO).</summary>
    public IHessianOperator Hessian { get; }

    /// <summary>
    /// The compute backend the Hessian's products run on, device to device (problems built by
    /// <see cref="FromClassMajor"/> / the backend overload of <see cref="FromNoisyCopies(IComputeBackend, IClassMajorJacobianProvider, CasoProblemOptions?)"/>,
    /// or over an <see cref="IDeviceHessianOperator"/>); null for the float64 host paths.
    /// </summary>
    public IComputeBackend? Backend => (Hessian as IDeviceHessianOperator)?.Backend;

    /// <summary>L = λ_max(H), or the bound/estimate named by <see cref="LambdaMaxKind"/>.</summary>
    public double LambdaMax { get; }

    /// <summary>How <see cref="LambdaMax"/> was obtained.</summary>
    public LambdaMaxKind LambdaMaxKind { get; }

    /// <summary>The full spectrum when it was computed exactly; null otherwise.</summary>
    /// <remarks>Null for the float32 kernel builders (<see cref="FromClassMajor"/>, <see cref="FromKeptRows"/>, <see cref="FromStreamedJacobian"/>), whose L comes from the Gram of the float32 rows without the eigenvectors' float64 copy of W.</remarks>
    public HessianSpectrum? Spectrum { get; }

    /// <summary>The label class y (index into all classes).</summary>
    public int Target { get; }

    /// <summary>Classes kept in W (per copy).</summary>
    public int ClassCount { get; }

    /// <summary>Classes of the model.</summary>
    public int TotalClasses { get; }

    /// <summary>Probability mass of the classes left out by top-k selection (the largest over copies); 0 when all are kept.</summary>
    public double DroppedProbabilityMass { get; }

    /// <summary>Noisy copies averaged (1 for plain CASO).</summary>
    public int Copies { get; }

    /// <summary>Builds the problem for one Jacobian W (d×c) and probabilities p.</summary>
    /// <exception cref="HessianInputException">W and p disagree in size, or W is not finite.</exception>
    /// <exception cref="ProbabilityVectorException">p is not a probability vector.</exception>
    /// <exception cref="CasoInputException">Target out of range, or bad options.</exception>
    public static CasoProblem FromJacobian(Matrix<double> jacobian, double[] probabilities, CasoProblemOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(jacobian);
        ArgumentNullException.ThrowIfNull(probabilities);
        return FromSamples([new JacobianSample(jacobian, probabilities)], options ?? new CasoProblemOptions());
    }

    /// <summary>
    /// Smooth CASO/CAFO: the gradient and Hessian averaged over the provider's n noisy copies,
    /// <c>ḡ = (1/n) Σ Wⱼ(pⱼ − y)</c>, <c>H̄ = (1/n) Σ Wⱼ Aⱼ Wⱼᵀ</c>. The target defaults to the most probable class
    /// of the first copy; pass the clean prediction as <see cref="CasoProblemOptions.Target"/>.
    /// </summary>
    /// <exception cref="CasoInputException">No copies, copies of different dimension or class count.</exception>
    public static CasoProblem FromNoisyCopies(INoisyJacobianProvider provider, CasoProblemOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(provider);
        if (provider.Count < 1) throw new CasoInputException("The provider has no noisy copies.", nameof(provider));
        var samples = new JacobianSample[provider.Count];
        for (int j = 0; j < samples.Length; j++) samples[j] = provider.Evaluate(j);
        return FromSamples(samples, options ?? new CasoProblemOptions());
    }

    /// <summary>
    /// A problem over a caller-supplied gradient and Hessian operator (e.g. a GPU-backed HVP), with L given.
    /// </summary>
    /// <exception cref="CasoInputException">Sizes disagree, g not finite, or L negative / not finite.</exception>
    public static CasoProblem FromOperator(double[] gradient, IHessianOperator hessian, double lambdaMax, LambdaMaxKind kind)
    {
        ArgumentNullException.ThrowIfNull(gradient);
        ArgumentNullException.ThrowIfNull(hessian);
        if (gradient.Length != hessian.Dimension)
            throw new CasoInputException($"g has {gradient.Length} entries, the Hessian operator dimension is {hessian.Dimension}.", nameof(gradient));
        if (gradient.Any(v => !double.IsFinite(v))) throw new CasoInputException("g has a non-finite entry.", nameof(gradient));
        if (!(lambdaMax >= 0) || !double.IsFinite(lambdaMax))
            throw new CasoInputException($"λ_max(H) = {lambdaMax} must be finite and ≥ 0 (H is positive semidefinite).", nameof(lambdaMax));
        return new CasoProblem(gradient, hessian, lambdaMax, kind, null, -1, 0, 0, 0, 1);
    }

    /// <summary>
    /// Builds the problem from a float32 class-major Jacobian (as the model layer produces it: class j's gradient at
    /// <c>[j·d, (j+1)·d)</c>) with the Hessian-vector products on <paramref name="backend"/>'s batched HVP kernel
    /// (CPU or CUDA). g is accumulated in float64 on the host. L is exact (from the spectrum of the kept classes, in
    /// float64) unless the options ask for the power-iteration estimate, which runs on the kernel. Dispose the problem
    /// to free the device copy of W.
    /// </summary>
    /// <exception cref="HessianInputException">W's length is not d·c, W is not finite, or p's length is not c.</exception>
    /// <exception cref="ProbabilityVectorException">p is not a probability vector.</exception>
    /// <exception cref="CasoInputException">Target out of range, or bad options.</exception>
    public static CasoProblem FromClassMajor(IComputeBackend backend, ReadOnlySpan<float> jacobian, int dimension, int classCount,
        double[] probabilities, CasoProblemOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(probabilities);
        options ??= new CasoProblemOptions();
        JacobianInput.Validate(jacobian, dimension, classCount, probabilities, paramName: nameof(jacobian));
        options.Validate();
        int target = options.Target ?? TensorPrimitives.IndexOfMax<double>(probabilities);
        if (target < 0 || target >= classCount)
            throw new CasoInputException($"Target class {target} is outside 0..{classCount - 1}.", nameof(options));

        double dropped = 0;
        int[] kept = options.TopClasses is int k && k < classCount
            ? ClassSelection.TopClasses(probabilities, k, target, out dropped)
            : Enumerable.Range(0, classCount).ToArray();
        if (kept.Length == classCount) return FromRows(backend, jacobian, dimension, classCount, kept, probabilities, options, target, dropped);
        var compact = new float[(long)dimension * kept.Length];
        for (int j = 0; j < kept.Length; j++) jacobian.Slice(kept[j] * dimension, dimension).CopyTo(compact.AsSpan(j * dimension, dimension));
        return FromRows(backend, compact, dimension, classCount, kept, probabilities, options, target, dropped);
    }

    /// <summary>
    /// As <see cref="FromClassMajor"/>, from the rows of W for the kept classes only (row j = class
    /// <paramref name="keptClasses"/>[j]), as a classifier returns them for a class selection: top-k CASO then never
    /// runs, stores or copies the other c − k gradients (602 MB in float32 for 1,000 classes at 224×224×3).
    /// <paramref name="probabilities"/> stays over all classes: H uses the sub-block of <c>A = diag(p) − ppᵀ</c> on the
    /// kept classes, exactly as <see cref="FromClassMajor"/> with <see cref="CasoProblemOptions.TopClasses"/>.
    /// </summary>
    /// <exception cref="HessianInputException">W's length is not d·k, or W is not finite.</exception>
    /// <exception cref="ProbabilityVectorException">p is not a probability vector.</exception>
    /// <exception cref="CasoInputException">Duplicate or out-of-range classes, the target not kept, or bad options.</exception>
    public static CasoProblem FromKeptRows(IComputeBackend backend, ReadOnlySpan<float> keptRows, int dimension, IReadOnlyList<int> keptClasses,
        double[] probabilities, CasoProblemOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(keptClasses);
        ArgumentNullException.ThrowIfNull(probabilities);
        options ??= new CasoProblemOptions();
        options.Validate();
        int classCount = probabilities.Length;
        var kept = keptClasses.ToArray();
        if (kept.Length == 0) throw new CasoInputException("Keep at least one class.", nameof(keptClasses));
        if (kept.Any(j => j < 0 || j >= classCount) || kept.Distinct().Count() != kept.Length)
            throw new CasoInputException($"Kept classes must be distinct and lie in 0..{classCount - 1}.", nameof(keptClasses));
        // Validates sizes and finiteness of the k rows; p is checked as a probability vector over all classes.
        SoftmaxCurvature.ValidateProbabilities(probabilities, paramName: nameof(probabilities));
        JacobianInput.Validate(keptRows, dimension, kept.Length, kept.Select(j => probabilities[j]).ToArray(), classSubset: true, paramName: nameof(keptRows));
        int target = options.Target ?? TensorPrimitives.IndexOfMax<double>(probabilities);
        if (Array.IndexOf(kept, target) < 0)
            throw new CasoInputException($"Target class {target} is not among the kept classes.", nameof(options));
        var keptSet = new HashSet<int>(kept);
        double dropped = 0;
        for (int j = 0; j < classCount; j++) if (!keptSet.Contains(j)) dropped += probabilities[j];
        return FromRows(backend, keptRows, dimension, classCount, kept, probabilities, options, target, dropped);
    }

    /// <summary>
    /// All-class CAFO/CASO with W streamed into the HVP kernel's own buffer: <paramref name="fill"/> writes the class-major
    /// d×c W into the memory it is given (the classifier's chunked Jacobian, <c>IClassifier.JacobianInto</c>) and returns
    /// p over the c classes. On the CPU backend that memory is the kernel's buffer itself, so W exists once (602 MB at
    /// c = 1,000, d = 150,528) and L comes from its float32 rows (<see cref="ClassMajorSpectrum"/>); on a device backend
    /// it is a host array that is uploaded once and dropped. Otherwise as <see cref="FromClassMajor"/>.
    /// </summary>
    /// <param name="backend">Where the products run.</param>
    /// <param name="dimension">d.</param>
    /// <param name="classCount">c.</param>
    /// <param name="fill">Writes W (d·c values) and returns p (length c).</param>
    /// <param name="options">Target and the L rule; <see cref="CasoProblemOptions.TopClasses"/> must be unset (top-k: <see cref="FromKeptRows"/>).</param>
    /// <exception cref="CasoInputException">d or c below 1, d·c beyond one buffer, top-k options, a target out of range, or bad options.</exception>
    /// <exception cref="HessianInputException">W is not finite, or p's length is not c.</exception>
    /// <exception cref="ProbabilityVectorException">p is not a probability vector.</exception>
    public static CasoProblem FromStreamedJacobian(IComputeBackend backend, int dimension, int classCount, Func<Memory<float>, double[]> fill,
        CasoProblemOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(fill);
        options ??= new CasoProblemOptions();
        options.Validate();
        if (dimension < 1 || classCount < 1)
            throw new CasoInputException($"W is {dimension}×{classCount}; d ≥ 1 and c ≥ 1 are required.", nameof(dimension));
        long length = (long)dimension * classCount;
        if (length > Array.MaxLength)
            throw new CasoInputException($"W of d·c = {dimension}·{classCount} = {length} values exceeds one buffer ({Array.MaxLength}); keep fewer classes (top-k).", nameof(classCount));
        if (options.TopClasses is int k && k < classCount)
            throw new CasoInputException($"TopClasses = {k}: the streamed builder keeps all {classCount} classes; top-k goes through FromKeptRows.", nameof(options));
        DeviceBuffer<float>? owned = null;
        try
        {
            Memory<float> host;
            if (backend is CpuBackend cpu)
            {
                owned = cpu.Allocate<float>((int)length);
                host = cpu.Own(owned).Segment;
            }
            else
            {
                host = new float[length];
            }
            var probabilities = fill(host) ?? throw new CasoInputException("The Jacobian source returned no probabilities.", nameof(fill));
            JacobianInput.Validate<float>(host.Span, dimension, classCount, probabilities, paramName: "jacobian");
            int target = options.Target ?? TensorPrimitives.IndexOfMax<double>(probabilities);
            if (target < 0 || target >= classCount)
                throw new CasoInputException($"Target class {target} is outside 0..{classCount - 1}.", nameof(options));
            if (owned is null)
            {
                owned = backend.Allocate<float>((int)length);
                backend.Upload<float>(host.Span, owned);
            }
            var buffer = owned;
            owned = null; // FromRows' operator owns it from here, also when it fails
            return FromRows(backend, host.Span, dimension, classCount, Enumerable.Range(0, classCount).ToArray(), probabilities, options,
                target, 0, buffer);
        }
        finally
        {
            owned?.Dispose();
        }
    }

    /// <summary>Wall time <see cref="FromClassMajor"/>/<see cref="FromKeptRows"/>/<see cref="FromStreamedJacobian"/> spent on L (zero for the other builders).</summary>
    public TimeSpan SpectrumTime { get; private init; }

    /// <summary>Shared tail: g and H from the kept rows (row j = class kept[j]), then L.</summary>
    private static CasoProblem FromRows(IComputeBackend backend, ReadOnlySpan<float> rows, int dimension, int classCount, int[] kept,
        double[] probabilities, CasoProblemOptions options, int target, double dropped, DeviceBuffer<float>? ownedRows = null)
    {
        // g = Σ_{j kept} W_j (p_j − y_j), accumulated in float64.
        var gradient = new double[dimension];
        for (int j = 0; j < kept.Length; j++)
        {
            double r = probabilities[kept[j]] - (kept[j] == target ? 1.0 : 0.0);
            var wj = rows.Slice(j * dimension, dimension);
            for (int i = 0; i < dimension; i++) gradient[i] += r * wj[i];
        }
        var pKept = kept.Select(j => probabilities[j]).ToArray(); // p of row j (the kept classes in row order)
        // ownedRows: W already sits in the kernel's buffer (streamed all-class Jacobian), so the operator takes it over.
        var hessian = ownedRows is not null ? new KernelHessianOperator(backend, ownedRows, dimension, classCount, probabilities)
            : new KernelHessianOperator(backend, rows, dimension, kept.Length, pKept);
        try
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            double lambdaMax;
            LambdaMaxKind kind;
            if (options.LambdaMaxMethod == LambdaMaxKind.PowerIterationEstimate)
            {
                lambdaMax = PowerIteration(hessian, options.PowerIterations, options.Seed);
                kind = LambdaMaxKind.PowerIterationEstimate;
            }
            else
            {
                // From the float32 rows themselves: the k×k Gram in float64, no d×k float64 copy of W (1.2 GB at k = 1,000).
                lambdaMax = ClassMajorSpectrum.Eigenvalues(rows, dimension, pKept, classSubset: kept.Length < classCount)[0];
                kind = LambdaMaxKind.Exact;
            }
            var spectrumTime = System.Diagnostics.Stopwatch.GetElapsedTime(start);
            hessian.ResetCounters(); // the power iteration's products belong to L, not to the solve
            return new CasoProblem(gradient, hessian, lambdaMax, kind, null, target, kept.Length, classCount, dropped, 1) { SpectrumTime = spectrumTime };
        }
        catch
        {
            hessian.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Smooth CASO/CAFO on the backends' HVP kernel: the float32 class-major samples of <paramref name="provider"/>
    /// (n noisy copies) are averaged, <c>ḡ = (1/n) Σ Wⱼ(pⱼ − y)</c>, <c>H̄ V = (1/n) Σ Wⱼ Aⱼ Wⱼᵀ V</c> (one kernel pass pair
    /// per copy per product). With top-k selection each copy keeps its own k most probable classes plus the target,
    /// and only those columns are uploaded. L: the power-iteration estimate on the kernel when asked; otherwise exact
    /// from the joint spectrum when n·(kept classes) ≤ <see cref="CasoProblemOptions.ExactSpectrumMaxColumns"/>, else
    /// the upper bound (1/n) Σ λ_max(Hⱼ). The target defaults to the top class of the first copy; pass the clean
    /// prediction as <see cref="CasoProblemOptions.Target"/>.
    /// </summary>
    /// <exception cref="CasoInputException">No copies, or copies of different sizes; bad options or target.</exception>
    /// <exception cref="HessianInputException">A copy's W has the wrong length or a non-finite entry.</exception>
    /// <exception cref="ProbabilityVectorException">A copy's p is not a probability vector.</exception>
    public static CasoProblem FromNoisyCopies(IComputeBackend backend, IClassMajorJacobianProvider provider, CasoProblemOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(provider);
        options ??= new CasoProblemOptions();
        options.Validate();
        int n = provider.Count;
        if (n < 1) throw new CasoInputException("The provider has no noisy copies.", nameof(provider));
        var samples = new ClassMajorJacobianSample[n];
        for (int j = 0; j < n; j++)
        {
            var sj = provider.Evaluate(j) ?? throw new CasoInputException($"Copy {j} is null.", nameof(provider));
            if (j > 0 && (sj.Dimension != samples[0].Dimension || sj.ClassCount != samples[0].ClassCount))
                throw new CasoInputException(
                    $"Copy {j} is {sj.Dimension}×{sj.ClassCount}, copy 0 is {samples[0].Dimension}×{samples[0].ClassCount}.", nameof(provider));
            sj.Validate($"copies[{j}]");
            samples[j] = sj;
        }
        int d = samples[0].Dimension, c = samples[0].ClassCount;
        int target = options.Target ?? TensorPrimitives.IndexOfMax<double>(samples[0].Probabilities);
        if (target < 0 || target >= c) throw new CasoInputException($"Target class {target} is outside 0..{c - 1}.", nameof(options));

        double weight = 1.0 / n, dropped = 0;
        var gradient = new double[d];
        var parts = new IHessianOperator[n];
        var keptPerCopy = new int[n][];
        try
        {
            for (int j = 0; j < n; j++)
            {
                var sj = samples[j];
                double droppedJ = 0;
                int[] kept = options.TopClasses is int k && k < c
                    ? ClassSelection.TopClasses(sj.Probabilities, k, target, out droppedJ)
                    : Enumerable.Range(0, c).ToArray();
                dropped = Math.Max(dropped, droppedJ);
                keptPerCopy[j] = kept;
                foreach (int cls in kept)
                {
                    double r = weight * (sj.Probabilities[cls] - (cls == target ? 1.0 : 0.0));
                    var col = sj.Jacobian.AsSpan(cls * d, d);
                    for (int i = 0; i < d; i++) gradient[i] += r * col[i];
                }
                parts[j] = new ScaledHessian(UploadKept(backend, sj.Jacobian, d, c, sj.Probabilities, kept), weight);
            }
        }
        catch
        {
            foreach (var part in parts) (part as IDisposable)?.Dispose();
            throw;
        }
        IHessianOperator hessian = n == 1 ? parts[0] : new SumHessian(parts);
        try
        {
            int maxKept = keptPerCopy.Max(kk => kk.Length);
            var (lambdaMax, kind, spectrum) = LambdaMaxOf(hessian, () =>
            {
                var terms = new HessianTerm[n];
                for (int j = 0; j < n; j++) terms[j] = KeptTerm(samples[j], keptPerCopy[j], weight);
                return terms;
            }, n, maxKept, options);
            return new CasoProblem(gradient, hessian, lambdaMax, kind, spectrum, target, maxKept, c, dropped, n);
        }
        catch
        {
            (hessian as IDisposable)?.Dispose();
            throw;
        }
    }

    /// <summary>The kept columns of a float32 class-major sample as a float64 Hessian term (for the exact spectrum).</summary>
    private static HessianTerm KeptTerm(ClassMajorJacobianSample sample, int[] kept, double weight)
    {
        int d = sample.Dimension;
        var w = Matrix<double>.Build.Dense(d, kept.Length);
        for (int c = 0; c < kept.Length; c++)
        {
            var col = sample.Jacobian.AsSpan(kept[c] * d, d);
            for (int i = 0; i < d; i++) w[i, c] = col[i];
        }
        return new HessianTerm(w, kept.Select(j => sample.Probabilities[j]).ToArray(), weight, kept.Length < sample.ClassCount);
    }

    /// <summary>
    /// A kernel HVP operator over the kept classes only: with a subset, just those columns of W are uploaded (top-64 of
    /// 1,000 ImageNet classes: 38 MB instead of 602 MB), and p keeps their unnormalised probabilities (the sub-block of A).
    /// </summary>
    private static KernelHessianOperator UploadKept(IComputeBackend backend, ReadOnlySpan<float> w, int d, int c, double[] p, int[] kept)
    {
        if (kept.Length == c) return new KernelHessianOperator(backend, w, d, c, p);
        var compact = new float[(long)d * kept.Length];
        for (int j = 0; j < kept.Length; j++) w.Slice(kept[j] * d, d).CopyTo(compact.AsSpan(j * d, d));
        return new KernelHessianOperator(backend, compact, d, kept.Length, kept.Select(j => p[j]).ToArray());
    }

    /// <summary>Frees device resources of a kernel-backed Hessian operator, if any.</summary>
    public void Dispose() => (Hessian as IDisposable)?.Dispose();

    private static CasoProblem FromSamples(JacobianSample[] samples, CasoProblemOptions options)
    {
        options.Validate();
        int d = samples[0].Jacobian.RowCount, cTotal = samples[0].Jacobian.ColumnCount;
        for (int j = 0; j < samples.Length; j++)
        {
            var s = samples[j] ?? throw new CasoInputException($"Copy {j} is null.", nameof(samples));
            // Full validation (sizes, finiteness, simplex) before any arithmetic.
            new HessianTerm(s.Jacobian, s.Probabilities).Validate($"copies[{j}]");
            if (s.Jacobian.RowCount != d || s.Jacobian.ColumnCount != cTotal)
                throw new CasoInputException(
                    $"Copy {j} has W of {s.Jacobian.RowCount}×{s.Jacobian.ColumnCount}, copy 0 has {d}×{cTotal}.", nameof(samples));
        }
        int target = options.Target ?? TensorPrimitives.IndexOfMax<double>(samples[0].Probabilities);
        if (target < 0 || target >= cTotal)
            throw new CasoInputException($"Target class {target} is outside 0..{cTotal - 1}.", nameof(options));

        double weight = 1.0 / samples.Length, dropped = 0;
        var gradient = new double[d];
        var terms = new HessianTerm[samples.Length];
        var parts = new IHessianOperator[samples.Length];
        int kept = cTotal;
        for (int j = 0; j < samples.Length; j++)
        {
            var w = samples[j].Jacobian;
            var p = samples[j].Probabilities;
            bool subset = false;
            if (options.TopClasses is int topK && topK < cTotal)
            {
                var cols = ClassSelection.TopClasses(p, topK, target, out double droppedJ);
                dropped = Math.Max(dropped, droppedJ);
                var wSub = Matrix<double>.Build.Dense(d, cols.Length);
                var pSub = new double[cols.Length];
                for (int i = 0; i < cols.Length; i++)
                {
                    wSub.SetColumn(i, w.Column(cols[i]));
                    pSub[i] = p[cols[i]];
                }
                // y restricted to the kept classes: the target is always kept.
                var r = new double[cols.Length];
                for (int i = 0; i < cols.Length; i++) r[i] = pSub[i] - (cols[i] == target ? 1.0 : 0.0);
                AddScaled(gradient, wSub, r, weight);
                w = wSub;
                p = pSub;
                subset = true;
                kept = cols.Length;
            }
            else
            {
                var r = new double[cTotal];
                for (int i = 0; i < cTotal; i++) r[i] = p[i] - (i == target ? 1.0 : 0.0);
                AddScaled(gradient, w, r, weight);
            }
            terms[j] = new HessianTerm(w, p, weight, subset);
            parts[j] = new DenseJacobianHessian(w, p, weight);
        }
        IHessianOperator hessian = parts.Length == 1 ? parts[0] : new SumHessian(parts);

        var (lambdaMax, kind, spectrum) = LambdaMaxOf(hessian, () => terms, samples.Length, kept, options);
        return new CasoProblem(gradient, hessian, lambdaMax, kind, spectrum, target, kept, cTotal, dropped, samples.Length);
    }

    /// <summary>
    /// L = λ_max(H) by the requested rule: the authors' power-iteration estimate; exact from the spectrum while the
    /// stacked factor (copies × kept classes columns) is small enough; otherwise the upper bound Σⱼ wⱼ λ_max(Hⱼ),
    /// which still keeps the objective strongly concave. The terms are built only when a spectrum is needed.
    /// </summary>
    private static (double LambdaMax, LambdaMaxKind Kind, HessianSpectrum? Spectrum) LambdaMaxOf(
        IHessianOperator hessian, Func<HessianTerm[]> terms, int copies, int keptColumns, CasoProblemOptions options)
    {
        if (options.LambdaMaxMethod == LambdaMaxKind.PowerIterationEstimate)
            return (PowerIteration(hessian, options.PowerIterations, options.Seed), LambdaMaxKind.PowerIterationEstimate, null);
        var all = terms();
        if (copies == 1 || copies * keptColumns <= options.ExactSpectrumMaxColumns)
        {
            var spectrum = HessianSpectrum.Compute(all);
            return (spectrum.LambdaMax, LambdaMaxKind.Exact, spectrum);
        }
        double bound = 0;
        foreach (var term in all) bound += term.Weight * HessianSpectrum.Compute([term with { Weight = 1.0 }]).LambdaMax;
        return (bound, LambdaMaxKind.UpperBound, null);
    }

    /// <summary>The authors' estimate of L: Rayleigh quotient after a few power iterations from a seeded random start.</summary>
    internal static double PowerIteration(IHessianOperator hessian, int iterations, int seed)
    {
        int d = hessian.Dimension;
        var rng = new Random(seed);
        var v = new double[d];
        var hv = new double[d];
        for (int i = 0; i < d; i++) v[i] = rng.NextDouble() - 0.5;
        double estimate = 0;
        for (int it = 0; it < iterations; it++)
        {
            double norm = TensorPrimitives.Norm<double>(v);
            if (norm == 0) return 0;
            TensorPrimitives.Divide<double>(v, norm, v);
            hessian.Multiply(v, hv, 1);
            estimate = TensorPrimitives.Dot<double>(v, hv); // Rayleigh quotient ≤ λ_max
            hv.CopyTo(v, 0);
        }
        return Math.Max(0, estimate);
    }

    private static void AddScaled(double[] gradient, Matrix<double> w, double[] r, double weight)
    {
        var g = w * Vector<double>.Build.Dense(r);
        for (int i = 0; i < gradient.Length; i++) gradient[i] += weight * g[i];
    }
}
