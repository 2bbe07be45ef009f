using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.Statistics;
using Saliency.Explainers;
using Saliency.Kernels.Backends;
using Saliency.Kernels.Cpu;
using Saliency.Linalg.Hessian;
using Saliency.Models.Classifiers;
using Saliency.Solvers.Caso;
using System.Numerics.Tensors;

namespace Saliency.Evaluation;

/// <summary>Settings of <see cref="CasoDiagnostics"/>.</summary>
internal sealed record CasoDiagnosticsOptions
{
    /// <summary>
    /// λ1 of both solves in <see cref="CasoDiagnostics.CasoVersusCafo"/> (default 0, the setting of Theorem 5, where
    /// <c>Δ_CAFO = g/(2λ2)</c> and <c>Δ_CASO = (2λ2 I − H)⁻¹ g</c>).
    /// </summary>
    public double Lambda1 { get; init; }

    /// <summary>Solver settings shared by CASO and CAFO (the objective kind is set per solve; both get the same λ2 rule).</summary>
    public CasoOptions Solver { get; init; } = new() { Tolerance = 1e-8, MaxIterations = 5000 };

    /// <summary>Settings of the λ1 sweeps of <see cref="CasoDiagnostics.SweepPaths"/>.</summary>
    public Lambda1SweepOptions Sweep { get; init; } = new();

    /// <summary>Keep only the k most probable classes (plus the target) in W; null = all classes.</summary>
    public int? TopClasses { get; init; }

    /// <summary>Where the Hessian-vector products run; null = the CPU backend.</summary>
    public IComputeBackend? Backend { get; init; }

    /// <summary>Keep both maps in every <see cref="CasoCafoAgreement"/> (d values each; off for large data sets).</summary>
    public bool KeepMaps { get; init; }
}

/// <summary>CASO against CAFO on one image (Theorem 5 of Singla et al. 2019).</summary>
/// <param name="Index">Position of the image in the list.</param>
/// <param name="Target">The explained class y (the prediction unless given).</param>
/// <param name="PredictedClass">The classifier's prediction.</param>
/// <param name="Confidence">p_y, in float64 from the logits.</param>
/// <param name="Cosine">cos(Δ_CASO, Δ_CAFO); NaN when either map is all zero (g = 0).</param>
/// <param name="RelativeDifference">‖Δ_CASO − Δ_CAFO‖₂ / ‖Δ_CAFO‖₂ (relative to the first-order map); NaN when Δ_CAFO = 0.</param>
/// <param name="Lambda1">λ1 of both solves.</param>
/// <param name="Lambda2">λ2 of both solves (the CASO rule <c>L/2 + margin</c>, so the two objectives differ only by ½ΔᵀHΔ).</param>
/// <param name="LambdaMax">L = λ_max(H).</param>
/// <param name="Converged">Both FISTA solves reached their tolerance.</param>
/// <param name="CasoMap">Δ_CASO when <see cref="CasoDiagnosticsOptions.KeepMaps"/>; else null.</param>
/// <param name="CafoMap">Δ_CAFO when kept; else null.</param>
internal sealed record CasoCafoAgreement(int Index, int Target, int PredictedClass, double Confidence, double Cosine, double RelativeDifference,
    double Lambda1, double Lambda2, double LambdaMax, bool Converged, double[]? CasoMap, double[]? CafoMap);

/// <summary>CASO against CAFO over a data set.</summary>
/// <param name="Images">One row per image, in input order.</param>
/// <param name="ConfidenceCosineSpearman">
/// Spearman's ρ between p_y and the cosine over the images where the cosine is defined (Theorem 5 predicts ρ &gt; 0: the
/// maps align as confidence grows); NaN with fewer than two such images.
/// </param>
internal sealed record CasoCafoAgreementReport(IReadOnlyList<CasoCafoAgreement> Images, double ConfidenceCosineSpearman);

/// <summary>The Hessian's rank-one approximation on one image (Theorem 4), from <see cref="RankOneDiagnostics"/>.</summary>
/// <param name="Index">Position of the image in the list.</param>
/// <param name="Target">The class y of g = W(p − y).</param>
/// <param name="Confidence">p_y.</param>
/// <param name="OffTopMass">κ = 1 − p_top = ε(c−1).</param>
/// <param name="RelativeError">‖H − ggᵀ/κ‖_F / ‖H‖_F; NaN when κ = 0 in float64 (H = 0 to rounding: the ratio is undefined).</param>
/// <param name="BestRankOneRelativeError">√(1 − λ₁²/Σλᵢ²), the best any rank-one matrix does; NaN as above.</param>
/// <param name="TopEigenvectorCosine">|cos| between g and H's top eigenvector; NaN as above.</param>
internal sealed record RankOnePoint(int Index, int Target, double Confidence, double OffTopMass, double RelativeError,
    double BestRankOneRelativeError, double TopEigenvectorCosine);

/// <summary>The λ1 sweep paths of CASO and CAFO on one image (sparsity η against modelled loss, and the choices).</summary>
/// <param name="Target">The explained class.</param>
/// <param name="Confidence">p_y.</param>
/// <param name="Caso">The CASO sweep; its <see cref="Lambda1SweepResult.Path"/> is the curve.</param>
/// <param name="Cafo">The CAFO sweep on the same g and λ2.</param>
internal sealed record SweepPathPair(int Target, double Confidence, Lambda1SweepResult Caso, Lambda1SweepResult Cafo);

/// <summary>
/// The CASO paper's diagnostics on a classifier and a list of images (Singla et al., ICML 2019): CASO against CAFO as
/// confidence grows (Theorem 5), the rank-one structure of the Hessian (Theorem 4), and the λ1 sweep path. Each image
/// costs one run of the Jacobian model; nothing is printed.
/// </summary>
internal static class CasoDiagnostics
{
    /// <summary>
    /// Per image: p_y, the cosine and the relative difference between the CASO and CAFO maps at the same λ1 and λ2, and
    /// Spearman's ρ between confidence and cosine over the set. With H ≈ ggᵀ/κ (confident predictions, Theorem 4) g is
    /// nearly an eigenvector of H, so <c>(2λ2 I − H)⁻¹ g</c> is nearly parallel to g: the cosine tends to 1 (Theorem 5).
    /// </summary>
    /// <param name="classifier">The model.</param>
    /// <param name="images">Images of the classifier's input size.</param>
    /// <param name="targets">Classes to explain, one per image; null = the predictions.</param>
    /// <param name="options">λ1, solver and backend settings.</param>
    /// <exception cref="ExplainerInputException">An empty list, an image of the wrong size or with NaN/∞, a bad target, or a negative λ1.</exception>
    public static CasoCafoAgreementReport CasoVersusCafo(IClassifier classifier, IReadOnlyList<float[]> images,
        IReadOnlyList<int>? targets = null, CasoDiagnosticsOptions? options = null)
    {
        options ??= new CasoDiagnosticsOptions();
        Validate(classifier, images, targets);
        if (!(options.Lambda1 >= 0) || !double.IsFinite(options.Lambda1))
            throw new ExplainerInputException($"λ1 = {options.Lambda1} must be finite and ≥ 0.", nameof(options));
        var rows = new CasoCafoAgreement[images.Count];
        for (int n = 0; n < images.Count; n++)
        {
            var (problem, predicted, confidence) = Problem(classifier, images[n], targets?[n], options);
            using (problem)
            {
                var caso = CasoSolver.Solve(problem, [options.Lambda1], options.Solver with { Kind = CasoObjectiveKind.Caso })[0];
                var cafo = CasoSolver.Solve(problem, [options.Lambda1], options.Solver with { Kind = CasoObjectiveKind.Cafo })[0];
                double cafoNorm = TensorPrimitives.Norm<double>(cafo.Solution), casoNorm = TensorPrimitives.Norm<double>(caso.Solution);
                double cosine = cafoNorm > 0 && casoNorm > 0
                    ? TensorPrimitives.Dot<double>(caso.Solution, cafo.Solution) / (cafoNorm * casoNorm) : double.NaN;
                var diff = new double[caso.Solution.Length];
                TensorPrimitives.Subtract<double>(caso.Solution, cafo.Solution, diff);
                double relative = cafoNorm > 0 ? TensorPrimitives.Norm<double>(diff) / cafoNorm : double.NaN;
                rows[n] = new CasoCafoAgreement(n, problem.Target, predicted, confidence, cosine, relative, options.Lambda1, caso.Lambda2,
                    caso.LambdaMax, caso.Converged && cafo.Converged,
                    options.KeepMaps ? caso.Solution : null, options.KeepMaps ? cafo.Solution : null);
            }
        }
        var defined = rows.Where(r => !double.IsNaN(r.Cosine)).ToArray();
        double rho = defined.Length >= 2
            ? Correlation.Spearman(defined.Select(r => r.Confidence), defined.Select(r => r.Cosine))
            : double.NaN;
        return new CasoCafoAgreementReport(rows, rho);
    }

    /// <summary>
    /// Per image: the relative error of Theorem 4's rank-one approximation <c>‖H − ggᵀ/κ‖_F / ‖H‖_F</c> (κ = 1 − p_top),
    /// the best rank-one error and the cosine between g and H's top eigenvector — from the c×c Gram, H never formed
    /// (<see cref="RankOneDiagnostics"/>). W and p come from one Jacobian run, p in float64 from the logits.
    /// </summary>
    /// <exception cref="ExplainerInputException">An empty list, an image of the wrong size or with NaN/∞, or a bad target.</exception>
    public static IReadOnlyList<RankOnePoint> RankOne(IClassifier classifier, IReadOnlyList<float[]> images, IReadOnlyList<int>? targets = null)
    {
        Validate(classifier, images, targets);
        var rows = new RankOnePoint[images.Count];
        int d = classifier.InputSize, c = classifier.ClassCount;
        for (int n = 0; n < images.Count; n++)
        {
            var jacobian = classifier.Jacobian(images[n]);
            var p = Softmax.Probabilities(jacobian.Scores.LogitsOf(0));
            int y = targets?[n] ?? jacobian.Scores.PredictedClass();
            double kappa = 1.0 - p[TensorPrimitives.IndexOfMax<double>(p)];
            if (!(kappa > 0))
            {
                // All mass on the top class in float64: H and g vanish to rounding and the ratio has no value.
                rows[n] = new RankOnePoint(n, y, p[y], 0, double.NaN, double.NaN, double.NaN);
                continue;
            }
            // Class-major float32 [c·d] is the column-major storage of the d×c matrix W.
            var w = Matrix<double>.Build.Dense(d, c, Array.ConvertAll(jacobian.Data, v => (double)v));
            var r = RankOneDiagnostics.Compute(w, p, y);
            rows[n] = new RankOnePoint(n, y, p[y], r.OffTopMass, r.RelativeError, r.BestRankOneRelativeError, r.TopEigenvectorCosine);
        }
        return rows;
    }

    /// <summary>
    /// The λ1 sweeps of CASO and CAFO on one image, on the same g, H and λ2: each result's
    /// <see cref="Lambda1SweepResult.Path"/> is the curve of sparsity η against modelled loss, with the grid, search and
    /// bisection points and the choice marked.
    /// </summary>
    /// <exception cref="ExplainerInputException">An image of the wrong size or with NaN/∞, or a bad target.</exception>
    public static SweepPathPair SweepPaths(IClassifier classifier, float[] image, int? target = null, CasoDiagnosticsOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(image);
        options ??= new CasoDiagnosticsOptions();
        ExplainerGuard.Validate(classifier, image, target);
        var (problem, _, confidence) = Problem(classifier, image, target, options);
        using (problem)
        {
            var caso = Lambda1Sweep.Run(problem, options.Solver with { Kind = CasoObjectiveKind.Caso }, options.Sweep);
            var cafo = Lambda1Sweep.Run(problem, options.Solver with { Kind = CasoObjectiveKind.Cafo }, options.Sweep);
            return new SweepPathPair(problem.Target, confidence, caso, cafo);
        }
    }

    /// <summary>g, H and L for one image from one Jacobian run (as <see cref="CasoExplainer"/> builds them).</summary>
    private static (CasoProblem Problem, int Predicted, double Confidence) Problem(IClassifier classifier, float[] image, int? target, CasoDiagnosticsOptions options)
    {
        var jacobian = classifier.Jacobian(image);
        int predicted = jacobian.Scores.PredictedClass();
        int t = target ?? predicted;
        var p = Softmax.Probabilities(jacobian.Scores.LogitsOf(0));
        var problem = CasoProblem.FromClassMajor(options.Backend ?? CpuBackend.Shared, jacobian.Data, classifier.InputSize, classifier.ClassCount, p,
            new CasoProblemOptions { Target = t, TopClasses = options.TopClasses });
        return (problem, predicted, p[t]);
    }

    /// <summary>Every image and target checked before the first model run.</summary>
    private static void Validate(IClassifier classifier, IReadOnlyList<float[]> images, IReadOnlyList<int>? targets)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        ArgumentNullException.ThrowIfNull(images);
        if (images.Count == 0) throw new ExplainerInputException("The list of images is empty.", nameof(images));
        if (targets is not null && targets.Count != images.Count)
            throw new ExplainerInputException($"{targets.Count} targets for {images.Count} images.", nameof(targets));
        for (int n = 0; n < images.Count; n++)
        {
            var image = images[n] ?? throw new ExplainerInputException($"Image {n} is null.", nameof(images));
            if (image.Length != classifier.InputSize)
                throw new ExplainerInputException(
                    $"Image {n} has {image.Length} values; the classifier takes [{string.Join(", ", classifier.InputShape)}] = {classifier.InputSize}.", nameof(images));
            foreach (float v in image)
                if (!float.IsFinite(v)) throw new ExplainerInputException($"Image {n} has a NaN or infinite value.", nameof(images));
            if (targets?[n] is int t && (t < 0 || t >= classifier.ClassCount))
                throw new ExplainerInputException($"Target {t} of image {n} is outside 0..{classifier.ClassCount - 1}.", nameof(targets));
        }
    }
}
