using System.Numerics.Tensors;

namespace Saliency.Solvers.Caso;

/// <summary>Settings of the paper's λ1 sweep on the sparsity ratio η (fraction of exact zeros).</summary>
public sealed record Lambda1SweepOptions
{
    /// <summary>First λ1 of the grid (paper: 1e-4).</summary>
    public double Start { get; init; } = 1e-4;

    /// <summary>Grid factor (paper: ×10 until the solution is all zero).</summary>
    public double Growth { get; init; } = 10.0;

    /// <summary>Lower end of the accepted η range (exclusive).</summary>
    public double SparsityLow { get; init; } = 0.75;

    /// <summary>Upper end of the accepted η range (exclusive; 1 excludes the all-zero solution).</summary>
    public double SparsityHigh { get; init; } = 1.0;

    /// <summary>Refinement rounds after the grid (each one batch of halvings or log-spaced points).</summary>
    public int MaxRefinements { get; init; } = 6;

    /// <summary>λ1 values per refinement batch.</summary>
    public int RefinementBatch { get; init; } = 4;

    internal void Validate()
    {
        if (!(Start > 0) || !double.IsFinite(Start)) throw new CasoInputException($"Start = {Start} must be positive.", nameof(Start));
        if (!(Growth > 1) || !double.IsFinite(Growth)) throw new CasoInputException($"Growth = {Growth} must exceed 1.", nameof(Growth));
        if (!(SparsityLow >= 0 && SparsityLow < SparsityHigh && SparsityHigh <= 1))
            throw new CasoInputException($"The η range ({SparsityLow}, {SparsityHigh}) must satisfy 0 ≤ low < high ≤ 1.", nameof(SparsityLow));
        if (MaxRefinements < 0 || RefinementBatch < 1) throw new CasoInputException("Refinement counts must be non-negative (batch ≥ 1).", nameof(MaxRefinements));
    }
}

/// <summary>The outcome of a λ1 sweep.</summary>
/// <param name="Selected">The highest-loss solution whose η lies in the range; null when none was found.</param>
/// <param name="FoundInRange">Whether <paramref name="Selected"/> exists.</param>
/// <param name="Tried">Every solution computed, in order of λ1.</param>
/// <param name="Batches">Number of batched solves run.</param>
/// <param name="Message">What happened, in words (why nothing was found, when so).</param>
public sealed record Lambda1SweepResult(CasoResult? Selected, bool FoundInRange, IReadOnlyList<CasoResult> Tried, int Batches, string Message);

/// <summary>
/// The paper's λ1 selection: start at λ1 = 1e-4 and multiply by 10 until Δ is all zero; among solutions with η in
/// (0.75, 1) keep the one with the highest (modelled) loss; if none, halve the first all-zero λ1 and repeat.
/// </summary>
/// <remarks>
/// <para>Batches. Δ = 0 is optimal exactly when <c>λ1 ≥ ‖g‖∞</c> (0 ∈ −g + λ1∂‖0‖₁), so the length of the ×10 grid is
/// known before solving and the whole grid runs as one batch (one HVP pass per iteration for all of it).</para>
/// <para>Refinement ("halve and repeat"). With λ_z the smallest λ1 tried that is too sparse (η ≥ high, e.g. all zero)
/// and λ_lo the largest tried that is too dense (η ≤ low), the next batch is λ_z/2, λ_z/4, … while above λ_lo; once
/// halving would step past λ_lo, the batch is log-spaced inside (λ_lo, λ_z) instead, which is the same search at a
/// finer ratio. After <see cref="Lambda1SweepOptions.MaxRefinements"/> rounds without a hit the sweep reports failure.</para>
/// </remarks>
public static class Lambda1Sweep
{
    /// <summary>Runs the sweep.</summary>
    /// <exception cref="CasoInputException">Bad sweep options.</exception>
    /// <exception cref="NotStronglyConcaveException">λ2 too small (from the solver options).</exception>
    public static Lambda1SweepResult Run(CasoProblem problem, CasoOptions? solverOptions = null, Lambda1SweepOptions? sweepOptions = null)
    {
        ArgumentNullException.ThrowIfNull(problem);
        solverOptions ??= new CasoOptions();
        sweepOptions ??= new Lambda1SweepOptions();
        sweepOptions.Validate();
        CasoSolver.Lambda2(problem, solverOptions); // fail fast on λ2 before any solve

        double gInf = Math.Abs(TensorPrimitives.MaxMagnitude<double>(problem.Gradient)); // MaxMagnitude keeps the sign
        var grid = new List<double>();
        for (double l = sweepOptions.Start; ; l *= sweepOptions.Growth)
        {
            grid.Add(l);
            if (l >= gInf || grid.Count >= 400) break;
        }
        var tried = new SortedList<double, CasoResult>();
        int batches = 0;
        void RunBatch(IReadOnlyList<double> values)
        {
            var fresh = values.Where(v => !tried.ContainsKey(v)).Distinct().ToArray();
            if (fresh.Length == 0) return;
            foreach (var r in CasoSolver.Solve(problem, fresh, solverOptions)) tried[r.Lambda1] = r;
            batches += (fresh.Length + solverOptions.MaxBatch - 1) / solverOptions.MaxBatch;
        }
        bool InRange(CasoResult r) => r.SparsityRatio > sweepOptions.SparsityLow && r.SparsityRatio < sweepOptions.SparsityHigh;

        RunBatch(grid);
        for (int round = 0; ; round++)
        {
            var hits = tried.Values.Where(InRange).ToList();
            if (hits.Count > 0)
            {
                var best = hits.MaxBy(r => r.Loss)!;
                return new Lambda1SweepResult(best, true, tried.Values.ToList(), batches,
                    $"λ1 = {best.Lambda1:G4} gives η = {best.SparsityRatio:F4} in ({sweepOptions.SparsityLow}, {sweepOptions.SparsityHigh}) with the highest loss of {hits.Count} in range.");
            }
            if (round >= sweepOptions.MaxRefinements) break;
            double lambdaZ = tried.Values.Where(r => r.SparsityRatio >= sweepOptions.SparsityHigh).Select(r => r.Lambda1).DefaultIfEmpty(double.NaN).Min();
            if (double.IsNaN(lambdaZ)) break; // nothing too sparse: cannot bracket (cannot happen: the grid ends at all-zero)
            double lambdaLo = tried.Values.Where(r => r.Lambda1 < lambdaZ && r.SparsityRatio <= sweepOptions.SparsityLow)
                .Select(r => r.Lambda1).DefaultIfEmpty(0.0).Max();
            var next = new List<double>();
            for (int m = 1; m <= sweepOptions.RefinementBatch; m++)
            {
                double v = lambdaZ / Math.Pow(2, m);
                if (v <= lambdaLo) break;
                if (!tried.ContainsKey(v)) next.Add(v);
            }
            if (next.Count == 0 && lambdaLo > 0)
            {
                double ratio = lambdaZ / lambdaLo;
                for (int i = 1; i <= sweepOptions.RefinementBatch; i++)
                    next.Add(lambdaLo * Math.Pow(ratio, (double)i / (sweepOptions.RefinementBatch + 1)));
            }
            if (next.Count == 0) break;
            RunBatch(next);
        }
        return new Lambda1SweepResult(null, false, tried.Values.ToList(), batches,
            $"No λ1 tried ({tried.Count} values from {tried.Keys[0]:G4} to {tried.Keys[^1]:G4}) gives η in ({sweepOptions.SparsityLow}, {sweepOptions.SparsityHigh}); " +
            $"η jumps across the range (e.g. {string.Join(", ", tried.Values.Select(r => $"{r.Lambda1:G3}→{r.SparsityRatio:F3}").Take(12))}).");
    }
}
