using System.Numerics.Tensors;
using Saliency.Solvers.Fista;

namespace Saliency.Solvers.Caso;

/// <summary>Settings of the paper's λ1 sweep on the sparsity ratio η (fraction of exact zeros), and of its refinement.</summary>
internal sealed record Lambda1SweepOptions
{
    /// <summary>First λ1 of the grid (paper: 1e-4).</summary>
    public double Start { get; init; } = 1e-4;

    /// <summary>Grid factor (paper: ×10 until the solution is all zero).</summary>
    public double Growth { get; init; } = 10.0;

    /// <summary>Lower end of the accepted η range (exclusive).</summary>
    public double SparsityLow { get; init; } = 0.75;

    /// <summary>Upper end of the accepted η range (exclusive; 1 excludes the all-zero solution).</summary>
    public double SparsityHigh { get; init; } = 1.0;

    /// <summary>Search rounds after the grid while no η is in range (each one batch of halvings or log-spaced points).</summary>
    public int MaxRefinements { get; init; } = 6;

    /// <summary>λ1 values per search batch.</summary>
    public int RefinementBatch { get; init; } = 4;

    /// <summary>
    /// Halvings of the log-λ1 bracket between the last too-dense λ1 (η ≤ low) and the first in-range one, once the
    /// range is hit: the bracket's ratio ends at most <c>(λ_hi/λ_lo)^(1/2^steps)</c> (8: a ×10 bracket ends at
    /// ×1.009). 0 keeps the paper's unrefined choice.
    /// </summary>
    public int BisectionSteps { get; init; } = 8;

    /// <summary>
    /// λ1 values per bisection round, log-spaced inside the bracket and solved as one FISTA batch: k points divide the
    /// bracket's log-width by k + 1 (3 points = two halvings per round).
    /// </summary>
    public int BisectionBatch { get; init; } = 3;

    internal void Validate()
    {
        if (!(Start > 0) || !double.IsFinite(Start)) throw new CasoInputException($"Start = {Start} must be positive.", nameof(Start));
        if (!(Growth > 1) || !double.IsFinite(Growth)) throw new CasoInputException($"Growth = {Growth} must exceed 1.", nameof(Growth));
        if (!(SparsityLow >= 0 && SparsityLow < SparsityHigh && SparsityHigh <= 1))
            throw new CasoInputException($"The η range ({SparsityLow}, {SparsityHigh}) must satisfy 0 ≤ low < high ≤ 1.", nameof(SparsityLow));
        if (MaxRefinements < 0 || RefinementBatch < 1) throw new CasoInputException("Refinement counts must be non-negative (batch ≥ 1).", nameof(MaxRefinements));
        if (BisectionSteps is < 0 or > 40)
            throw new CasoInputException($"BisectionSteps = {BisectionSteps} must lie in 0..40 (2^-40 of a decade is below double resolution).", nameof(BisectionSteps));
        if (BisectionBatch < 1) throw new CasoInputException($"BisectionBatch = {BisectionBatch} must be ≥ 1.", nameof(BisectionBatch));
    }
}

/// <summary>Which stage of the sweep computed a point.</summary>
internal enum Lambda1SweepPhase
{
    /// <summary>The ×Growth grid from Start to the first λ1 ≥ ‖g‖∞ (all zero).</summary>
    Grid,
    /// <summary>The paper's "halve and repeat" search while no η was in range.</summary>
    Search,
    /// <summary>Downward steps ÷Growth when the range was hit with no too-dense λ1 below it (nothing to bisect against).</summary>
    Probe,
    /// <summary>Bisection on log λ1 between the last too-dense and the first in-range λ1.</summary>
    Bisection,
}

/// <summary>One solved point of the λ1 sweep (the whole solution stays in <see cref="Lambda1SweepResult.Tried"/>).</summary>
/// <param name="Lambda1">L1 weight.</param>
/// <param name="SparsityRatio">η: fraction of exact zeros in Δ.</param>
/// <param name="NonZeros">Non-zero entries of Δ (d·(1 − η)).</param>
/// <param name="Loss">Modelled loss increase <c>gᵀΔ + ½ΔᵀHΔ</c> (CAFO: <c>gᵀΔ</c>).</param>
/// <param name="Iterations">FISTA iterations.</param>
/// <param name="Status">FISTA status.</param>
/// <param name="Phase">Which stage solved it.</param>
/// <param name="Round">Batch number within the whole sweep (0 = the grid), i.e. the order of evaluation.</param>
/// <param name="InRange">η lies in the open range (low, high).</param>
/// <param name="Selected">This is the sweep's choice.</param>
internal sealed record Lambda1SweepPoint(
    double Lambda1, double SparsityRatio, int NonZeros, double Loss, int Iterations, FistaStatus Status,
    Lambda1SweepPhase Phase, int Round, bool InRange, bool Selected);

/// <summary>The outcome of a λ1 sweep.</summary>
/// <param name="Selected">The highest-loss solution whose η lies in the range; null when none was found.</param>
/// <param name="FoundInRange">Whether <paramref name="Selected"/> exists.</param>
/// <param name="Tried">Every solution computed, in order of λ1.</param>
/// <param name="Batches">Number of batched solves run.</param>
/// <param name="Message">What happened, in words (why nothing was found, when so).</param>
/// <param name="Path">Every point, in order of λ1: (λ1, η, modelled loss, iterations, status, phase).</param>
/// <param name="Unrefined">The choice before bisection (the paper's: highest loss in range among grid and search points); null when none.</param>
internal sealed record Lambda1SweepResult(CasoResult? Selected, bool FoundInRange, IReadOnlyList<CasoResult> Tried, int Batches, string Message,
    IReadOnlyList<Lambda1SweepPoint> Path, CasoResult? Unrefined)
{
    /// <summary>
    /// The solution to show: <see cref="Selected"/>, or when no η reached the range the sparsest solution that is not
    /// all zero (the closest to the range), or the smallest λ1 tried when every one is all zero.
    /// </summary>
    public CasoResult Chosen => Selected
        ?? Tried.Where(r => r.SparsityRatio < 1).OrderByDescending(r => r.SparsityRatio).FirstOrDefault()
        ?? Tried[0];
}

/// <summary>
/// The paper's λ1 selection (Singla et al. 2019): start at λ1 = 1e-4 and multiply by 10 until Δ is all zero; among
/// solutions with η in (0.75, 1) keep the one with the highest (modelled) loss; if none, halve the first all-zero λ1 and
/// repeat — followed by a bisection on log λ1 towards the dense end of the range, where the loss is highest.
/// </summary>
/// <remarks>
/// <para>Batches. Δ = 0 is optimal exactly when <c>λ1 ≥ ‖g‖∞</c> (0 ∈ −g + λ1∂‖0‖₁), so the length of the ×10 grid is
/// known before solving and the whole grid runs as one batch (one HVP pass per iteration for all of it).</para>
/// <para>Search ("halve and repeat"). While nothing is in range: with λ_z the smallest λ1 tried that is too sparse
/// (η ≥ high, e.g. all zero) and λ_lo the largest tried that is too dense (η ≤ low), the next batch is λ_z/2, λ_z/4, …
/// while above λ_lo; once halving would step past λ_lo, the batch is log-spaced inside (λ_lo, λ_z) instead.</para>
/// <para>Bisection. A ×10 grid jumps over most of the range: on confident digits the first in-range grid value can
/// have η = 0.997 (two or three pixels). The modelled loss falls as λ1 grows — for exact solutions
/// S(Δ) = gᵀΔ + ½ΔᵀHΔ − λ2‖Δ‖² is non-increasing in λ1 (add the optimality inequalities of two λ1 values), and for
/// CAFO the loss <c>Σ|gᵢ|(|gᵢ| − λ1)₊/(2λ2)</c> is exactly decreasing — so the best in-range solution sits next to
/// the dense end of the range. The sweep brackets it between the last too-dense λ1 and the first in-range one and
/// shrinks the bracket on log λ1, <see cref="Lambda1SweepOptions.BisectionBatch"/> log-spaced points per batched solve,
/// until its log-width is 2^−<see cref="Lambda1SweepOptions.BisectionSteps"/> of the start. If the first in-range λ1
/// has no too-dense λ1 below it (the grid started inside the range), ÷Growth probes look for one first. The choice is
/// the highest-loss in-range point of everything solved, so it never has less loss than the unrefined choice.</para>
/// </remarks>
internal static class Lambda1Sweep
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
        double low = sweepOptions.SparsityLow, high = sweepOptions.SparsityHigh;

        double gInf = Math.Abs(TensorPrimitives.MaxMagnitude<double>(problem.Gradient)); // MaxMagnitude keeps the sign
        var grid = new List<double>();
        for (double l = sweepOptions.Start; ; l *= sweepOptions.Growth)
        {
            grid.Add(l);
            if (l >= gInf || grid.Count >= 400) break;
        }
        var tried = new SortedList<double, CasoResult>();
        var origin = new Dictionary<double, (Lambda1SweepPhase Phase, int Round)>();
        int batches = 0, round = 0;
        void RunBatch(IEnumerable<double> values, Lambda1SweepPhase phase)
        {
            var fresh = values.Where(v => v > 0 && double.IsFinite(v) && !tried.ContainsKey(v)).Distinct().ToArray();
            if (fresh.Length == 0) return;
            foreach (var r in CasoSolver.Solve(problem, fresh, solverOptions))
            {
                tried[r.Lambda1] = r;
                origin[r.Lambda1] = (phase, round);
            }
            batches += (fresh.Length + solverOptions.MaxBatch - 1) / solverOptions.MaxBatch;
            round++;
        }
        bool InRange(CasoResult r) => r.SparsityRatio > low && r.SparsityRatio < high;
        CasoResult? Best() => tried.Values.Where(InRange).MaxBy(r => r.Loss);

        // 1. The paper's grid, then its "halve and repeat" search while nothing is in range.
        RunBatch(grid, Lambda1SweepPhase.Grid);
        for (int search = 0; Best() is null && search < sweepOptions.MaxRefinements; search++)
        {
            double lambdaZ = tried.Values.Where(r => r.SparsityRatio >= high).Select(r => r.Lambda1).DefaultIfEmpty(double.NaN).Min();
            if (double.IsNaN(lambdaZ)) break; // nothing too sparse: cannot bracket (cannot happen: the grid ends at all-zero)
            double lambdaLo = tried.Values.Where(r => r.Lambda1 < lambdaZ && r.SparsityRatio <= low)
                .Select(r => r.Lambda1).DefaultIfEmpty(0.0).Max();
            var next = new List<double>();
            for (int m = 1; m <= sweepOptions.RefinementBatch; m++)
            {
                double v = lambdaZ / Math.Pow(2, m);
                if (v <= lambdaLo) break;
                if (!tried.ContainsKey(v)) next.Add(v);
            }
            if (next.Count == 0 && lambdaLo > 0) next.AddRange(LogSpaced(lambdaLo, lambdaZ, sweepOptions.RefinementBatch));
            if (next.Count == 0) break;
            RunBatch(next, Lambda1SweepPhase.Search);
        }
        var unrefined = Best();

        // 2. Bisection on log λ1 between the last too-dense λ1 and the first in-range one.
        string refinement = "";
        if (unrefined is not null && sweepOptions.BisectionSteps > 0)
        {
            double FirstInRange() => tried.Values.First(InRange).Lambda1;
            double LastDenseBelow(double hi) => tried.Values.Where(r => r.Lambda1 < hi && r.SparsityRatio <= low)
                .Select(r => r.Lambda1).DefaultIfEmpty(0.0).Max();
            // No too-dense λ1 below the range yet (the grid started inside it): step down by the grid factor.
            for (int probe = 0; LastDenseBelow(FirstInRange()) == 0 && probe < sweepOptions.MaxRefinements; probe++)
            {
                double hi0 = FirstInRange();
                RunBatch(Enumerable.Range(1, sweepOptions.BisectionBatch).Select(j => hi0 / Math.Pow(sweepOptions.Growth, j)), Lambda1SweepPhase.Probe);
            }
            double hi = FirstInRange(), lo = LastDenseBelow(hi);
            if (lo > 0)
            {
                double startWidth = Math.Log(hi / lo), target = startWidth / Math.Pow(2, sweepOptions.BisectionSteps);
                int bisectionRounds = 0;
                // The bracket is (too dense, not too dense): the first non-dense point of a round is the new upper end.
                while (Math.Log(hi / lo) > target * (1 + 1e-9))
                {
                    int needed = (int)Math.Min(sweepOptions.BisectionBatch, Math.Ceiling(Math.Log(hi / lo) / target * (1 - 1e-9)) - 1);
                    var points = LogSpaced(lo, hi, Math.Max(1, needed)).Where(v => v > lo && v < hi && !tried.ContainsKey(v)).ToArray();
                    if (points.Length == 0) break; // the bracket is at double resolution
                    RunBatch(points, Lambda1SweepPhase.Bisection);
                    bisectionRounds++;
                    double newHi = tried.Values.Where(r => r.Lambda1 > lo && r.Lambda1 < hi && r.SparsityRatio > low)
                        .Select(r => r.Lambda1).DefaultIfEmpty(hi).Min();
                    lo = tried.Values.Where(r => r.Lambda1 >= lo && r.Lambda1 < newHi && r.SparsityRatio <= low).Max(r => r.Lambda1);
                    hi = newHi;
                }
                refinement = $" Bisection on log λ1 in {bisectionRounds} batch(es) left the bracket ({lo:G4}, {hi:G4}) between too dense and in range " +
                    $"(ratio {hi / lo:G4}); the unrefined choice was λ1 = {unrefined.Lambda1:G4} (η = {unrefined.SparsityRatio:F4}, loss {unrefined.Loss:G4}).";
            }
            else
            {
                refinement = $" No too-dense λ1 was found below λ1 = {hi:G4}, so there was nothing to bisect against.";
            }
        }

        var best = Best();
        var path = tried.Values.Select(r =>
        {
            int nonZeros = 0;
            foreach (double v in r.Solution) if (v != 0.0) nonZeros++;
            var (phase, batch) = origin[r.Lambda1];
            return new Lambda1SweepPoint(r.Lambda1, r.SparsityRatio, nonZeros, r.Loss, r.Iterations, r.Status, phase, batch, InRange(r), ReferenceEquals(r, best));
        }).ToList().AsReadOnly();
        if (best is not null)
        {
            int hits = tried.Values.Count(InRange);
            return new Lambda1SweepResult(best, true, tried.Values.ToList().AsReadOnly(), batches,
                $"λ1 = {best.Lambda1:G4} gives η = {best.SparsityRatio:F4} in ({low}, {high}) with the highest loss of {hits} in range." + refinement,
                path, unrefined);
        }
        return new Lambda1SweepResult(null, false, tried.Values.ToList().AsReadOnly(), batches,
            $"No λ1 tried ({tried.Count} values from {tried.Keys[0]:G4} to {tried.Keys[^1]:G4}) gives η in ({low}, {high}); " +
            $"η jumps across the range (e.g. {string.Join(", ", tried.Values.Select(r => $"{r.Lambda1:G3}→{r.SparsityRatio:F3}").Take(12))}).",
            path, null);
    }

    /// <summary>k points strictly inside (lo, hi), equally spaced in log λ1.</summary>
    private static IEnumerable<double> LogSpaced(double lo, double hi, int k)
    {
        double ratio = hi / lo;
        for (int i = 1; i <= k; i++) yield return lo * Math.Pow(ratio, (double)i / (k + 1));
    }
}
