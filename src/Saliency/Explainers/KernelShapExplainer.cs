using MathNet.Numerics.LinearAlgebra;
using Saliency.Models.Classifiers;

namespace Saliency.Explainers;

/// <summary>Settings of <see cref="KernelShapExplainer"/>.</summary>
internal sealed record KernelShapOptions
{
    /// <summary>Side of the square grid cells that are the players, in pixels.</summary>
    public int Cell { get; init; } = 7;

    /// <summary>Up to this many features every coalition is enumerated (2^F − 2 of them, plus ∅ and the full set).</summary>
    public int MaxEnumeratedFeatures { get; init; } = 14;

    /// <summary>Sampled coalitions when F exceeds <see cref="MaxEnumeratedFeatures"/> (rounded up to an even number: complement pairs).</summary>
    public int SampleCount { get; init; } = 2048;

    /// <summary>Seed of the sampled coalitions.</summary>
    public ulong Seed { get; init; }

    /// <summary>The baseline image that absent features take; null = <see cref="BaselineValue"/> everywhere.</summary>
    public float[]? Baseline { get; init; }

    /// <summary>The value of absent features when <see cref="Baseline"/> is null (default 0).</summary>
    public float BaselineValue { get; init; }

    /// <summary>The explained output: the target logit (default) or its probability.</summary>
    public TargetScore Score { get; init; } = TargetScore.Logit;

    /// <summary>Coalitions per forward run.</summary>
    public int BatchSize { get; init; } = 256;
}

/// <summary>Report of <see cref="KernelShapExplainer"/>.</summary>
internal sealed record KernelShapReport : BaselineReport
{
    /// <summary>The settings used.</summary>
    public required KernelShapOptions Options { get; init; }

    /// <summary>F, the number of grid features (players).</summary>
    public required int Features { get; init; }

    /// <summary>Whether every coalition was evaluated (then the values are the exact Shapley values of the game).</summary>
    public required bool Enumerated { get; init; }

    /// <summary>Coalitions evaluated, ∅ and the full set included.</summary>
    public required int Coalitions { get; init; }

    /// <summary>φ₀ = F(∅), the score of the baseline.</summary>
    public required double BaseValue { get; init; }

    /// <summary>F(x), the score of the image (all features present).</summary>
    public required double InputValue { get; init; }

    /// <summary>φ, one value per feature (row-major cells).</summary>
    public required double[] ShapleyValues { get; init; }

    /// <summary><c>|Σ φ − (F(x) − F(∅))|</c>: zero up to rounding, the constraint is imposed exactly.</summary>
    public required double EfficiencyGap { get; init; }

    /// <summary>
    /// Weighted R² of the additive surrogate <c>φ₀ + Σ φᵢ zᵢ</c> over the coalitions other than ∅ and the full set (which
    /// it fits exactly), with the fit's own weights: π(|S|) when enumerated, 1 when sampled. 1 for an additive game.
    /// </summary>
    public required double WeightedR2 { get; init; }
}

/// <summary>
/// KernelSHAP (Lundberg and Lee, NeurIPS 2017, Theorem 2) with grid features: the game <c>v(S) = F(image with the cells
/// outside S from the baseline)</c>, and the Shapley values as the weighted least-squares fit of v over coalitions with
/// the Shapley kernel <c>π(s) = (F − 1) / (C(F, s) s (F − s))</c> under the efficiency constraint
/// <c>Σ φ = v(full) − v(∅)</c> (π's infinite weights at s = 0, F). The constraint is eliminated as the shap package does:
/// <c>φ_F = Δ − Σ_{c&lt;F} φ_c</c>, leaving an unconstrained fit of <c>v(z) − v(∅) − z_F Δ</c> on <c>z_c − z_F</c>, solved
/// by Householder QR of the √π-weighted design. With every coalition enumerated the result is the exact Shapley value
/// (Theorem 2); otherwise coalition sizes are drawn with probability ∝ C(F, s)π(s) (then each sample has weight 1), a
/// uniform subset of that size, and its complement. The map spreads φ_c evenly over the cell's values.
/// </summary>
internal sealed class KernelShapExplainer : IExplainer
{
    /// <summary>Creates the explainer.</summary>
    public KernelShapExplainer(KernelShapOptions? options = null) => Options = options ?? new KernelShapOptions();

    /// <summary>The settings.</summary>
    public KernelShapOptions Options { get; }

    /// <inheritdoc />
    public string Name => "kernelshap";

    /// <summary>The Shapley kernel weight of a coalition of size s among F players (0 &lt; s &lt; F).</summary>
    public static double ShapleyKernel(int features, int size) =>
        (features - 1) / (Binomial(features, size) * size * (features - size));

    /// <inheritdoc />
    public BaselineExplanation<KernelShapReport> Explain(IClassifier classifier, ReadOnlySpan<float> image, int? target = null)
    {
        ExplainerGuard.Validate(classifier, image, target);
        var (channels, height, width) = ExplainerGuard.ImageShape(classifier);
        if (Options.MaxEnumeratedFeatures is < 1 or > 24)
            throw new ExplainerInputException($"MaxEnumeratedFeatures must lie in 1..24 (2^F model evaluations), got {Options.MaxEnumeratedFeatures}.", nameof(Options.MaxEnumeratedFeatures));
        var grid = new GridFeatures(channels, height, width, Options.Cell);
        int features = grid.Count;
        bool enumerate = features <= Options.MaxEnumeratedFeatures;
        if (!enumerate) BaselineRunner.CheckCount(Options.SampleCount, 2, nameof(Options.SampleCount), "The number of sampled coalitions");
        var baseline = BaselineRunner.ResolveBaseline(classifier, Options.Baseline, Options.BaselineValue);
        var x = image.ToArray();

        // Coalition 0 is the full set (x itself: its scores resolve the target), coalition 1 the empty set.
        var masks = enumerate ? Enumerate(features) : Sample(features, Options.SampleCount + Options.SampleCount % 2, Options.Seed);
        int count = masks.Length / features;
        var runner = new BaselineRunner(classifier, Options.Score, Options.BatchSize);
        var v = runner.Scores(count, target, (i, dst) => grid.Compose(x, baseline, masks.AsSpan(i * features, features), dst));
        double full = v[0], empty = v[1], delta = full - empty;

        var phi = new double[features];
        // One player: the two coalitions are fitted exactly (R² = 1, nothing else to fit).
        double r2 = 1;
        if (features == 1)
        {
            phi[0] = delta;
        }
        else
        {
            int last = features - 1, rows = count - 2;
            var a = Matrix<double>.Build.Dense(rows, last);
            var b = Vector<double>.Build.Dense(rows);
            var weights = new double[rows];
            for (int r = 0; r < rows; r++)
            {
                var z = masks.AsSpan((r + 2) * features, features);
                int size = 0;
                foreach (bool on in z) size += on ? 1 : 0;
                // Enumeration weighs each coalition by π(|S|); sampled sizes already follow π, so every sample weighs 1.
                weights[r] = enumerate ? ShapleyKernel(features, size) : 1.0;
                double s = enumerate ? Math.Sqrt(weights[r]) : 1.0;
                double zLast = z[last] ? 1 : 0;
                for (int c = 0; c < last; c++) a[r, c] = s * ((z[c] ? 1 : 0) - zLast);
                b[r] = s * (v[r + 2] - empty - zLast * delta);
            }
            var solution = a.QR(MathNet.Numerics.LinearAlgebra.Factorization.QRMethod.Thin).Solve(b);
            if (solution.Any(value => !double.IsFinite(value)))
                throw new ExplainerInputException(
                    $"The KernelSHAP regression is singular ({rows} coalitions for {features} features); use more samples.", nameof(Options.SampleCount));
            double rest = 0;
            for (int c = 0; c < last; c++) rest += phi[c] = solution[c];
            phi[last] = delta - rest;
            r2 = WeightedR2(a, b, solution, weights, v);
        }
        double gap = Math.Abs(phi.Sum() - delta);

        var report = new KernelShapReport
        {
            Options = Options, Features = features, Enumerated = enumerate, Coalitions = count, BaseValue = empty, InputValue = full,
            ShapleyValues = phi, EfficiencyGap = gap, WeightedR2 = r2, Runs = runner.Runs,
        };
        return new BaselineExplanation<KernelShapReport>(Name, grid.Spread(phi), runner.Target, runner.CleanScores!,
        [
            new("score", Options.Score == TargetScore.Logit ? "logit" : "probability"),
            new("features", $"{grid.Rows}×{grid.Cols} cells of {Options.Cell}×{Options.Cell} pixels"),
            new("coalitions", enumerate ? $"{count} (all)" : $"{count} sampled (complement pairs), seed {Options.Seed}"),
            new("F(x) − F(∅)", $"{ExplainerGuard.Format(full)} − {ExplainerGuard.Format(empty)}"),
            new("efficiency gap", ExplainerGuard.Format(gap)),
            new("weighted R²", ExplainerGuard.Format(r2)),
            new("model runs", report.Runs.ToString()),
        ], report);
    }

    /// <summary>
    /// LIME's fit diagnostic for the Shapley-kernel regression: <c>1 − Σ wᵣ eᵣ² / Σ wᵣ (vᵣ − v̄_w)²</c> over the fitted rows
    /// r. Eliminating φ_F leaves the residual unchanged (<c>v − φ₀ − Σ φᵢ zᵢ = bᵣ − (Aφ)ᵣ</c> before the √w scaling), so
    /// the weighted residuals are those of the solved system <paramref name="a"/>φ = <paramref name="b"/>;
    /// <paramref name="weights"/> are the fit's own row weights wᵣ (the squares of its √w scaling).
    /// </summary>
    private static double WeightedR2(Matrix<double> a, Vector<double> b, Vector<double> solution, double[] weights, double[] v)
    {
        var residual = b - a * solution;
        int rows = b.Count;
        double wSum = weights.Sum(), mean = 0;
        for (int r = 0; r < rows; r++) mean += weights[r] * v[r + 2] / wSum;
        double total = 0;
        for (int r = 0; r < rows; r++) total += weights[r] * (v[r + 2] - mean) * (v[r + 2] - mean);
        double unexplained = residual.DotProduct(residual);
        // A constant game on these rows: scikit-learn's r2_score(force_finite=True) convention, 1 if fitted exactly, else 0
        // (never ±∞ or NaN, which JSON cannot carry).
        if (total == 0) return unexplained == 0 ? 1 : 0;
        return 1 - unexplained / total;
    }

    /// <summary>All 2^F coalitions: the full set, ∅, then the others in binary order.</summary>
    private static bool[] Enumerate(int features)
    {
        int count = 1 << features;
        var masks = new bool[count * features];
        int row = 0;
        void Add(int bits)
        {
            for (int f = 0; f < features; f++) masks[row * features + f] = (bits >> f & 1) == 1;
            row++;
        }
        Add(count - 1);
        Add(0);
        for (int bits = 1; bits < count - 1; bits++) Add(bits);
        return masks;
    }

    /// <summary>The full set, ∅, then <paramref name="samples"/> coalitions in complement pairs, sizes ∝ C(F, s)π(s) = (F − 1)/(s(F − s)).</summary>
    private static bool[] Sample(int features, int samples, ulong seed)
    {
        var masks = new bool[(samples + 2) * features];
        masks.AsSpan(0, features).Fill(true);
        var cumulative = new double[features];
        for (int s = 1; s < features; s++) cumulative[s] = cumulative[s - 1] + 1.0 / (s * (features - s));
        var order = new int[features];
        ulong word = 0;
        for (int pair = 0; pair < samples / 2; pair++)
        {
            double u = BaselineRunner.Uniform(seed, word++) * cumulative[features - 1];
            int size = 1;
            while (size < features - 1 && cumulative[size] <= u) size++;
            // A uniform subset of that size: the first `size` entries of a partial Fisher–Yates shuffle.
            for (int f = 0; f < features; f++) order[f] = f;
            for (int k = 0; k < size; k++)
            {
                int j = k + (int)(BaselineRunner.Uniform(seed, word++) * (features - k));
                (order[k], order[j]) = (order[j], order[k]);
            }
            var z = masks.AsSpan((2 + 2 * pair) * features, features);
            var complement = masks.AsSpan((3 + 2 * pair) * features, features);
            complement.Fill(true);
            for (int k = 0; k < size; k++)
            {
                z[order[k]] = true;
                complement[order[k]] = false;
            }
        }
        return masks;
    }

    private static double Binomial(int n, int k)
    {
        double result = 1;
        for (int i = 1; i <= k; i++) result = result * (n - k + i) / i;
        return result;
    }

    Explanation IExplainer.Explain(IClassifier classifier, ReadOnlySpan<float> image, int? target) => Explain(classifier, image, target);
}
