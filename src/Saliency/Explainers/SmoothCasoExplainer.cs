using Saliency.Kernels.Backends;
using Saliency.Kernels.Cpu;
using Saliency.Models.Classifiers;
using Saliency.Solvers.Caso;

namespace Saliency.Explainers;

/// <summary>Settings of <see cref="SmoothCasoExplainer"/>.</summary>
public sealed record SmoothCasoExplainerOptions
{
    /// <summary>Noise: n copies (default 16) and σ as a fraction of the input range (default 0.15), as in the CASO paper.</summary>
    public SmoothingOptions Smoothing { get; init; } = new();

    /// <summary>Seed of the noise (the same stream as <see cref="SmoothGradExplainer.NoisyCopy"/>).</summary>
    public ulong Seed { get; init; }

    /// <summary>A fixed λ1; null (default) runs the λ1 sparsity sweep.</summary>
    public double? Lambda1 { get; init; }

    /// <summary>Solver settings: CASO (default) or CAFO, the λ2 rule, tolerances.</summary>
    public CasoOptions Solver { get; init; } = new();

    /// <summary>Settings of the λ1 sweep.</summary>
    public Lambda1SweepOptions Sweep { get; init; } = new();

    /// <summary>Keep only the k most probable classes (plus the target) of each copy; null = all classes.</summary>
    public int? TopClasses { get; init; }

    /// <summary>Where the Hessian-vector products run; null = the CPU backend.</summary>
    public IComputeBackend? Backend { get; init; }
}

/// <summary>
/// Smooth CASO / Smooth CAFO (Singla et al., ICML 2019, §5): CASO/CAFO on the gradient and Hessian averaged over n noisy
/// copies <c>x + σξⱼ</c>, <c>ḡ = (1/n) Σ Wⱼ(pⱼ − y)</c>, <c>H̄ = (1/n) Σ Wⱼ Aⱼ Wⱼᵀ</c>
/// (<see cref="CasoProblem.FromNoisyCopies(IComputeBackend, IClassMajorJacobianProvider, CasoProblemOptions?)"/>),
/// with the target from the clean image. Runs: one forward run of the clean image and one Jacobian run (all classes)
/// per copy.
/// </summary>
public sealed class SmoothCasoExplainer : IExplainer
{
    /// <summary>Creates the explainer.</summary>
    public SmoothCasoExplainer(SmoothCasoExplainerOptions? options = null) => Options = options ?? new SmoothCasoExplainerOptions();

    /// <summary>The settings.</summary>
    public SmoothCasoExplainerOptions Options { get; }

    /// <inheritdoc />
    public string Name => Options.Solver.Kind == CasoObjectiveKind.Caso ? "smooth-caso" : "smooth-cafo";

    /// <inheritdoc />
    /// <exception cref="CasoInputException">Bad solver or smoothing options.</exception>
    public CasoExplanation Explain(IClassifier classifier, ReadOnlySpan<float> image, int? target = null)
    {
        ExplainerGuard.Validate(classifier, image, target);
        var (channels, height, width) = ExplainerGuard.ImageShape(classifier);
        if (Options.Lambda1 is double l1 && (!(l1 >= 0) || !double.IsFinite(l1)))
            throw new ExplainerInputException($"λ1 = {l1} must be finite and ≥ 0.", nameof(Options.Lambda1));
        int n = Options.Smoothing.Copies;
        BaselineRunner.CheckCount(n, 1, nameof(SmoothingOptions.Copies), "The number of noisy copies n");
        BaselineRunner.CheckFinite(Options.Smoothing.NoiseFraction, nameof(SmoothingOptions.NoiseFraction), "The noise fraction");
        double sigma = Options.Smoothing.NoiseStandardDeviation(image);

        var scores = classifier.Predict(image);
        int t = target ?? scores.PredictedClass();
        var provider = new NoisyCopies(classifier, image.ToArray(), sigma, Options.Seed, n);
        using var problem = CasoProblem.FromNoisyCopies(Options.Backend ?? CpuBackend.Shared, provider,
            new CasoProblemOptions { Target = t, TopClasses = Options.TopClasses });
        var solver = Options.Solver;
        var (result, sweep) = CasoSolveSteps.Solve(problem, Options.Lambda1, solver, Options.Sweep);

        var runs = new ModelRuns(1, n, 1 + n);
        List<KeyValuePair<string, string>> details =
        [
            new("noisy copies n", $"{n}, seed {Options.Seed}"),
            new("σ", $"{ExplainerGuard.Format(sigma)} ({ExplainerGuard.Format(Options.Smoothing.NoiseFraction)} × input range)"),
            CasoSolveSteps.HessianRow(classifier),
            .. CasoSolveSteps.SolverRows(result, sweep, "L = λmax(H̄)"),
            new("model runs", runs.ToString()),
        ];
        var map = SaliencyMap.FromDoubles(result.Solution, channels, height, width);
        return new CasoExplanation(Name, map, t, scores, details, result, sweep);
    }

    Explanation IExplainer.Explain(IClassifier classifier, ReadOnlySpan<float> image, int? target) => Explain(classifier, image, target);

    /// <summary>The Jacobian (all classes) and p at copy j, <c>x + σξⱼ</c>, one Jacobian run each.</summary>
    private sealed class NoisyCopies(IClassifier classifier, float[] image, double sigma, ulong seed, int count) : IClassMajorJacobianProvider
    {
        public int Count => count;

        public ClassMajorJacobianSample Evaluate(int index)
        {
            var noisy = new float[image.Length];
            SmoothGradExplainer.NoisyCopy(image, sigma, seed, index, noisy);
            var w = classifier.Jacobian(noisy);
            return new ClassMajorJacobianSample(w.Data, w.InputSize, w.ColumnCount, Softmax.Probabilities(w.Scores.LogitsOf(0)));
        }
    }
}
