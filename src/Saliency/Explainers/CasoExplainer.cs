using System.Diagnostics;
using Saliency.Kernels.Backends;
using Saliency.Kernels.Cpu;
using Saliency.Models.Classifiers;
using Saliency.Solvers.Caso;

namespace Saliency.Explainers;

/// <summary>Settings of <see cref="CasoExplainer"/>.</summary>
internal sealed record CasoExplainerOptions
{
    /// <summary>A fixed λ1; null (default) runs the paper's λ1 sparsity sweep (<see cref="Lambda1Sweep"/>).</summary>
    public double? Lambda1 { get; init; }

    /// <summary>Solver settings: the objective (CASO by default, or CAFO), λ2 rule margin (<c>λ2 = L/2 + margin</c>) or explicit λ2, tolerances.</summary>
    public CasoOptions Solver { get; init; } = new();

    /// <summary>Settings of the λ1 sweep (used when <see cref="Lambda1"/> is null).</summary>
    public Lambda1SweepOptions Sweep { get; init; } = new();

    /// <summary>Keep only the k most probable classes (plus the target) in W; null = all classes.</summary>
    public int? TopClasses { get; init; }

    /// <summary>
    /// Classes per Jacobian run when all classes are kept (default <see cref="IClassifier.DefaultJacobianChunk"/>, ≥ 1):
    /// ONNX Runtime holds the backward activations of one chunk at a time, and each chunk's rows go straight into the HVP
    /// kernel's W (<see cref="CasoProblem.FromStreamedJacobian"/>). A Jacobian model with a fixed cotangent batch uses its own.
    /// </summary>
    public int JacobianChunk { get; init; } = IClassifier.DefaultJacobianChunk;

    /// <summary>
    /// Where the solve runs, as a live backend (the caller owns it); null = <see cref="BackendKind"/>. On an accelerator
    /// the whole FISTA solve stays there (<see cref="CasoSolverPath.Auto"/>); on the CPU reference FISTA runs on the host
    /// with the CPU HVP kernel.
    /// </summary>
    public IComputeBackend? Backend { get; init; }

    /// <summary>
    /// The backend to create for each explanation when <see cref="Backend"/> is null (default <see cref="BackendKind.Cpu"/>).
    /// A kind that cannot run here throws <see cref="BackendUnavailableException"/> with the reason.
    /// </summary>
    public BackendKind BackendKind { get; init; } = BackendKind.Cpu;
}

/// <summary>A CAFO/CASO explanation with the solver's full report.</summary>
internal sealed class CasoExplanation : Explanation
{
    internal CasoExplanation(string method, SaliencyMap map, int target, ClassScores scores,
        IReadOnlyList<KeyValuePair<string, string>> details, CasoResult result, Lambda1SweepResult? sweep, CasoTimings? timings = null)
        : base(method, map, target, scores, details)
    {
        Result = result;
        Sweep = sweep;
        Timings = timings;
    }

    /// <summary>Where the explanation's time went (null when the producer did not measure it).</summary>
    public CasoTimings? Timings { get; }

    /// <summary>The chosen solution Δ with λ1, λ2, L, FISTA status and iterations.</summary>
    public CasoResult Result { get; }

    /// <summary>The λ1 sweep, when one was run (null for a fixed λ1).</summary>
    public Lambda1SweepResult? Sweep { get; }
}

/// <summary>
/// Wall-clock phases of one CAFO/CASO explanation (Stopwatch; the phases are disjoint, so their sum is at most
/// <see cref="Total"/>, which adds the map and the report).
/// </summary>
/// <param name="Forward">The forward run that picks the top-k classes (zero when all classes are kept).</param>
/// <param name="Jacobian">The Jacobian run (backward passes for the kept classes).</param>
/// <param name="Setup">g = W(p − y) and the upload of W to the HVP kernel.</param>
/// <param name="Spectrum">L = λmax(H): the reduced eigenproblem, or the power iteration.</param>
/// <param name="Solve">FISTA at the given λ1, or the whole λ1 sweep (<see cref="Sweep"/>), HVPs included.</param>
/// <param name="Hvp">The part of <see cref="Solve"/> spent in host-side Hessian-vector products (zero when FISTA runs on a device).</param>
/// <param name="HvpProducts">Vectors multiplied by H during the solve.</param>
/// <param name="Sweep">Whether <see cref="Solve"/> is a λ1 sweep.</param>
/// <param name="Total">From the start of the explanation to its result.</param>
internal sealed record CasoTimings(TimeSpan Forward, TimeSpan Jacobian, TimeSpan Setup, TimeSpan Spectrum, TimeSpan Solve,
    TimeSpan Hvp, long HvpProducts, bool Sweep, TimeSpan Total)
{
    /// <summary>FISTA's own vector work: <see cref="Solve"/> less <see cref="Hvp"/>.</summary>
    public TimeSpan Fista => Solve - Hvp;
}

/// <summary>
/// CAFO / CASO saliency (Singla et al., ICML 2019): from the classifier's Jacobian W and probabilities p at the image,
/// <c>g = W(p − y)</c> and <c>H = W A Wᵀ</c> (exact for piecewise-linear networks, the Gauss–Newton part otherwise),
/// maximise <c>gᵀΔ + ½ΔᵀHΔ − λ2‖Δ‖² − λ1‖Δ‖₁</c> (CAFO without H) with λ2 from the rule <c>L/2 + margin</c> and λ1
/// fixed or from the sparsity sweep. The map is Δ.
/// </summary>
internal sealed class CasoExplainer : IExplainer
{
    /// <summary>Creates the explainer.</summary>
    public CasoExplainer(CasoExplainerOptions? options = null) => Options = options ?? new CasoExplainerOptions();

    /// <summary>The settings.</summary>
    public CasoExplainerOptions Options { get; }

    /// <inheritdoc />
    public string Name => Options.Solver.Kind == CasoObjectiveKind.Caso ? "caso" : "cafo";

    /// <inheritdoc />
    /// <exception cref="CasoInputException">Negative or non-finite λ1, or bad solver options.</exception>
    /// <exception cref="NotStronglyConcaveException">An explicit λ2 that is too small.</exception>
    public CasoExplanation Explain(IClassifier classifier, ReadOnlySpan<float> image, int? target = null)
    {
        ExplainerGuard.Validate(classifier, image, target);
        var (channels, height, width) = ExplainerGuard.ImageShape(classifier);
        if (Options.Lambda1 is double l1 && (!(l1 >= 0) || !double.IsFinite(l1)))
            throw new ExplainerInputException($"λ1 = {l1} must be finite and ≥ 0.", nameof(Options.Lambda1));
        if (Options.JacobianChunk < 1)
            throw new ExplainerInputException($"JacobianChunk = {Options.JacobianChunk}: at least one class per Jacobian run.", nameof(Options.JacobianChunk));

        long started = Stopwatch.GetTimestamp();
        // A backend created here is ours to dispose; a given one belongs to the caller.
        var backend = Options.Backend ?? (Options.BackendKind == BackendKind.Cpu ? CpuBackend.Shared : ComputeBackends.Create(Options.BackendKind));
        using var owned = ReferenceEquals(backend, Options.Backend) || backend is CpuBackend ? null : backend;
        int t;
        ClassScores scores;
        TimeSpan forward = TimeSpan.Zero, jacobianTime, inBuild = TimeSpan.Zero;
        CasoProblem problem;
        long phase = Stopwatch.GetTimestamp();
        if (Options.TopClasses is int k && k < classifier.ClassCount)
        {
            // Top-k: one forward run for p, then the Jacobian run for the k kept classes (plus the target) only, so the
            // other c − k gradients are never computed or stored (1,000 classes at 224×224×3: 602 MB of W and c
            // backward passes, against k).
            scores = classifier.Predict(image);
            forward = Stopwatch.GetElapsedTime(phase);
            t = target ?? scores.PredictedClass();
            var p = Softmax.Probabilities(scores.LogitsOf(0));
            var kept = ClassSelection.TopClasses(p, k, t, out _);
            phase = Stopwatch.GetTimestamp();
            var rows = classifier.Jacobian(image, kept);
            jacobianTime = Stopwatch.GetElapsedTime(phase);
            phase = Stopwatch.GetTimestamp();
            problem = CasoProblem.FromKeptRows(backend, rows.Data, classifier.InputSize, rows.Classes, p, new CasoProblemOptions { Target = t });
        }
        else
        {
            // All classes: the Jacobian runs in chunks of JacobianChunk classes, each writing its rows straight into the HVP
            // kernel's W (1,000 classes at once would hold ~20 GB of backward activations on a ResNet at 224²); the runs
            // give the image's logits too (no separate Predict).
            ClassScores? streamed = null;
            var pixels = image.ToArray(); // the fill delegate cannot capture the span
            phase = Stopwatch.GetTimestamp();
            problem = CasoProblem.FromStreamedJacobian(backend, classifier.InputSize, classifier.ClassCount, w =>
            {
                long run = Stopwatch.GetTimestamp();
                streamed = classifier.JacobianInto(pixels, w, Options.JacobianChunk);
                inBuild = Stopwatch.GetElapsedTime(run);
                // p in float64 from the logits, so it sums to 1 to rounding (the solver checks the simplex).
                return Softmax.Probabilities(streamed.LogitsOf(0));
            }, new CasoProblemOptions { Target = target });
            jacobianTime = inBuild;
            scores = streamed!;
            t = problem.Target;
        }
        using var ownedProblem = problem;
        // Setup excludes the Jacobian, which the streamed builder runs inside (summed over its chunks).
        var build = Stopwatch.GetElapsedTime(phase) - inBuild;
        var solver = Options.Solver;
        phase = Stopwatch.GetTimestamp();
        var (result, sweep) = CasoSolveSteps.Solve(problem, Options.Lambda1, solver, Options.Sweep);
        var solve = Stopwatch.GetElapsedTime(phase);
        var hvp = problem.Hessian as KernelHessianOperator;

        List<KeyValuePair<string, string>> details =
        [
            CasoSolveSteps.HessianRow(classifier),
            .. CasoSolveSteps.SolverRows(result, sweep, "L = λmax(H)"),
            new("backend", $"{backend.Kind}, {(CasoSolver.DeviceBackend(problem, solver) is null ? "host" : "device-resident")} FISTA; {backend.DeviceName}"),
            new("modelled loss", ExplainerGuard.Format(result.Loss)),
        ];
        if (sweep is not null)
            details.Add(new("λ1 tried", $"{sweep.Tried.Count} in {sweep.Batches} batches" + (sweep.Unrefined is { } u && !ReferenceEquals(u, result)
                ? $"; before bisection λ1 = {ExplainerGuard.Format(u.Lambda1)}, η = {ExplainerGuard.Format(u.SparsityRatio)}" : "")));
        var map = SaliencyMap.FromDoubles(result.Solution, channels, height, width);
        var timings = new CasoTimings(forward, jacobianTime, build - problem.SpectrumTime, problem.SpectrumTime, solve,
            hvp?.MultiplyTime ?? TimeSpan.Zero, hvp?.Products ?? 0, sweep is not null, Stopwatch.GetElapsedTime(started));
        return new CasoExplanation(Name, map, t, scores, details, result, sweep, timings);
    }

    Explanation IExplainer.Explain(IClassifier classifier, ReadOnlySpan<float> image, int? target) => Explain(classifier, image, target);
}

/// <summary>
/// What CASO/CAFO and Smooth CASO/CAFO share once their problem is built: the solve at a given λ1 or the λ1 sweep, and
/// the solver rows of the report.
/// </summary>
internal static class CasoSolveSteps
{
    /// <summary>Solves at <paramref name="lambda1"/>, or runs the sparsity sweep when it is null (its choice, or the sparsest
    /// non-zero solution when no λ1 reached the range: the closest to it).</summary>
    public static (CasoResult Result, Lambda1SweepResult? Sweep) Solve(CasoProblem problem, double? lambda1, CasoOptions solver,
        Lambda1SweepOptions sweepOptions)
    {
        if (lambda1 is double l1) return (CasoSolver.Solve(problem, [l1], solver)[0], null);
        var sweep = Lambda1Sweep.Run(problem, solver, sweepOptions);
        return (sweep.Chosen, sweep);
    }

    /// <summary>
    /// What <c>H = W A Wᵀ</c> is for this classifier: the exact input Hessian of the loss when the logits are piecewise
    /// linear in the image (Singla et al., ICML 2019, §3: the logits' own Hessian vanishes), otherwise only its
    /// Gauss–Newton part (docs/mathematics.md).
    /// </summary>
    public static KeyValuePair<string, string> HessianRow(IClassifier classifier) => new("Hessian", classifier.IsPiecewiseLinear switch
    {
        true => "exact Hessian (piecewise-linear network)",
        false => "Gauss–Newton part of the Hessian",
        null => "W A Wᵀ (exact for piecewise-linear networks, else the Gauss–Newton part; this classifier does not say which)",
    });

    /// <summary>λ1 (and where it came from), λ2, L, FISTA's status and the sparsity η.</summary>
    public static KeyValuePair<string, string>[] SolverRows(CasoResult result, Lambda1SweepResult? sweep, string lambdaMaxLabel) =>
    [
        new("λ1", ExplainerGuard.Format(result.Lambda1) + (sweep is null ? " (given)" : sweep.FoundInRange ? " (sweep)" : " (sweep: none in range)")),
        new("λ2", ExplainerGuard.Format(result.Lambda2)),
        new(lambdaMaxLabel, $"{ExplainerGuard.Format(result.LambdaMax)} ({result.LambdaMaxKind})"),
        new("FISTA", $"{result.Status}, {result.Iterations} iterations, residual {ExplainerGuard.Format(result.Residual)}"),
        new("sparsity η", ExplainerGuard.Format(result.SparsityRatio)),
    ];
}
