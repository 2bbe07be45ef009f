using NUnit.Framework;
using Saliency.Solvers.Caso;
using Saliency.Solvers.Fista;

namespace Saliency.Solvers.Tests.Caso;

/// <summary>
/// The bisection refinement of the λ1 sweep against CAFO's closed-form path: for λ1 &gt; 0,
/// <c>Δ(λ1) = S_{λ1}(g)/(2λ2)</c> (soft-thresholding of g), so η(λ1) = #{i : |gᵢ| ≤ λ1}/d and the modelled loss
/// <c>gᵀΔ = Σ|gᵢ|(|gᵢ| − λ1)₊/(2λ2)</c> are exact functions of λ1.
/// </summary>
[TestFixture]
internal class Lambda1RefinementTests
{
    private static readonly CasoOptions Cafo = new() { Kind = CasoObjectiveKind.Cafo, Tolerance = 1e-9, MaxIterations = 5000 };
    private static readonly CasoOptions Caso = new() { Tolerance = 1e-9, MaxIterations = 5000 };

    private static CasoProblem Problem(int d, int c, int seed) =>
        CasoProblem.FromJacobian(CasoTestData.RandomJacobian(d, c, seed), CasoTestData.RandomProbabilities(c, seed + 1));

    private static double ClosedFormSparsity(double[] absG, double lambda1) => (double)absG.Count(a => a <= lambda1) / absG.Length;

    private static double ClosedFormLoss(double[] absG, double lambda1, double lambda2) =>
        absG.Sum(a => a * Math.Max(a - lambda1, 0)) / (2 * lambda2);

    /// <summary>
    /// The smallest λ1 with η &gt; low: the (⌊low·d⌋ + 1)-th smallest |gᵢ|. The loss falls strictly with λ1, so it is the
    /// closed-form best λ1 of the range.
    /// </summary>
    private static double ClosedFormBest(double[] absG, double low)
    {
        var sorted = absG.OrderBy(a => a).ToArray();
        return sorted[(int)Math.Floor(low * absG.Length)];
    }

    [TestCase(400, 10, 31, 0.75, 1.0, 8)]
    [TestCase(400, 10, 41, 0.75, 1.0, 4)]
    [TestCase(250, 6, 51, 0.5, 0.9, 8)]
    [TestCase(500, 20, 61, 0.9, 1.0, 10)]
    public void Cafo_RefinedChoiceIsTheClosedFormBestWithinTheBisectionResolution(int d, int c, int seed, double low, double high, int steps)
    {
        using var problem = Problem(d, c, seed);
        var absG = problem.Gradient.ToArray().Select(Math.Abs).ToArray();
        var options = new Lambda1SweepOptions { SparsityLow = low, SparsityHigh = high, BisectionSteps = steps };
        var sweep = Lambda1Sweep.Run(problem, Cafo, options);
        TestContext.Out.WriteLine(sweep.Message);
        Assert.That(sweep.FoundInRange, Is.True, sweep.Message);
        var chosen = sweep.Selected!;
        double lambda2 = chosen.Lambda2;
        double best = ClosedFormBest(absG, low);
        Assert.That(ClosedFormSparsity(absG, best), Is.GreaterThan(low).And.LessThan(high), "the oracle's best is in range");

        // The bracket starts at one grid step (×Growth) and ends 2^steps times narrower in log λ1.
        double resolution = Math.Pow(options.Growth, Math.Pow(2, -steps));
        Assert.That(chosen.Lambda1, Is.GreaterThanOrEqualTo(best * (1 - 1e-12)));
        Assert.That(chosen.Lambda1, Is.LessThanOrEqualTo(best * resolution * (1 + 1e-12)));
        Assert.That(chosen.SparsityRatio, Is.GreaterThan(low).And.LessThan(high));
        // The chosen point is the exact solution of its λ1 …
        Assert.That(chosen.SparsityRatio, Is.EqualTo(ClosedFormSparsity(absG, chosen.Lambda1)));
        Assert.That(chosen.Loss, Is.EqualTo(ClosedFormLoss(absG, chosen.Lambda1, lambda2)).Within(1e-10 * chosen.Loss));
        // … and its loss is within the resolution's loss gap of the best possible in-range loss.
        double bestLoss = ClosedFormLoss(absG, best, lambda2);
        Assert.That(chosen.Loss, Is.LessThanOrEqualTo(bestLoss * (1 + 1e-10)));
        Assert.That(chosen.Loss, Is.GreaterThanOrEqualTo(ClosedFormLoss(absG, best * resolution, lambda2) * (1 - 1e-10)));

        // The unrefined (paper's) choice, for the record: never better.
        var unrefined = sweep.Unrefined!;
        TestContext.Out.WriteLine($"closed-form best λ1 = {best:G6} (η = {ClosedFormSparsity(absG, best):F4}); refined λ1 = {chosen.Lambda1:G6} " +
            $"(η = {chosen.SparsityRatio:F4}, loss {chosen.Loss:G6}); unrefined λ1 = {unrefined.Lambda1:G6} (η = {unrefined.SparsityRatio:F4}, loss {unrefined.Loss:G6})");
        Assert.That(chosen.Loss, Is.GreaterThanOrEqualTo(unrefined.Loss));
    }

    [Test]
    public void Cafo_PathIsTheExactSoftThresholdingPath_EtaRisesAndLossFalls()
    {
        using var problem = Problem(300, 8, 71);
        var absG = problem.Gradient.ToArray().Select(Math.Abs).ToArray();
        var sweep = Lambda1Sweep.Run(problem, Cafo);
        var path = sweep.Path;
        Assert.That(path.Count, Is.EqualTo(sweep.Tried.Count));
        Assert.That(path.Select(p => p.Phase), Does.Contain(Lambda1SweepPhase.Bisection));
        double lambda2 = sweep.Tried[0].Lambda2;
        for (int i = 0; i < path.Count; i++)
        {
            var p = path[i];
            Assert.That(p.SparsityRatio, Is.EqualTo(ClosedFormSparsity(absG, p.Lambda1)), $"η at λ1 = {p.Lambda1}");
            Assert.That(p.Loss, Is.EqualTo(ClosedFormLoss(absG, p.Lambda1, lambda2)).Within(1e-10 * (1e-30 + ClosedFormLoss(absG, 0, lambda2))));
            Assert.That(p.NonZeros, Is.EqualTo(absG.Count(a => a > p.Lambda1)));
            if (i == 0) continue;
            // Monotone in λ1 (theory: CAFO's support shrinks as the threshold grows).
            Assert.That(p.Lambda1, Is.GreaterThan(path[i - 1].Lambda1));
            Assert.That(p.SparsityRatio, Is.GreaterThanOrEqualTo(path[i - 1].SparsityRatio));
            Assert.That(p.Loss, Is.LessThanOrEqualTo(path[i - 1].Loss));
        }
    }

    [Test]
    public void Caso_L1NormAndPenalisedQuadraticFallAlongThePath()
    {
        // For exact solutions Δa, Δb of λa < λb, adding the two optimality inequalities gives ‖Δa‖₁ ≥ ‖Δb‖₁ and
        // S(Δa) ≥ S(Δb) with S(Δ) = gᵀΔ + ½ΔᵀHΔ − λ2‖Δ‖² (η itself need not be monotone for CASO). FISTA stops at a
        // relative residual of 1e-9, so the comparison allows that much.
        using var problem = Problem(200, 10, 81);
        var sweep = Lambda1Sweep.Run(problem, Caso);
        var tried = sweep.Tried;
        for (int i = 1; i < tried.Count; i++)
        {
            double l1Prev = tried[i - 1].Solution.Sum(Math.Abs), l1 = tried[i].Solution.Sum(Math.Abs);
            double sPrev = Smooth(tried[i - 1]), s = Smooth(tried[i]);
            Assert.That(l1, Is.LessThanOrEqualTo(l1Prev * (1 + 1e-6) + 1e-12), $"‖Δ‖₁ at λ1 = {tried[i].Lambda1}");
            Assert.That(s, Is.LessThanOrEqualTo(sPrev + 1e-6 * Math.Abs(sPrev) + 1e-15), $"S(Δ) at λ1 = {tried[i].Lambda1}");
        }

        static double Smooth(CasoResult r) => r.Loss - r.Lambda2 * r.Solution.Sum(v => v * v);
    }

    [TestCase(CasoObjectiveKind.Caso, 0.75, 1.0, 201)]
    [TestCase(CasoObjectiveKind.Cafo, 0.75, 1.0, 203)]
    [TestCase(CasoObjectiveKind.Caso, 0.6, 0.8, 205)]
    [TestCase(CasoObjectiveKind.Caso, 0.9, 0.95, 207)]
    [TestCase(CasoObjectiveKind.Cafo, 0.5, 0.99, 209)]
    public void RefinedChoiceNeverHasLessLossThanTheUnrefinedOne(CasoObjectiveKind kind, double low, double high, int seed)
    {
        using var problem = Problem(150, 10, seed);
        var solver = (kind == CasoObjectiveKind.Caso ? Caso : Cafo);
        var plain = Lambda1Sweep.Run(problem, solver, new Lambda1SweepOptions { SparsityLow = low, SparsityHigh = high, BisectionSteps = 0 });
        var refined = Lambda1Sweep.Run(problem, solver, new Lambda1SweepOptions { SparsityLow = low, SparsityHigh = high });
        Assert.That(plain.FoundInRange, Is.True, plain.Message);
        Assert.That(plain.Path.Any(p => p.Phase == Lambda1SweepPhase.Bisection), Is.False, "0 steps: no bisection");
        Assert.That(plain.Unrefined!.Lambda1, Is.EqualTo(plain.Selected!.Lambda1));
        // The refined sweep starts from the same grid and search, so its unrefined choice is the plain sweep's.
        Assert.That(refined.Unrefined!.Lambda1, Is.EqualTo(plain.Selected.Lambda1));
        Assert.That(refined.Selected!.Loss, Is.GreaterThanOrEqualTo(plain.Selected.Loss));
        Assert.That(refined.Selected.SparsityRatio, Is.GreaterThan(low).And.LessThan(high));
        // The choice is the highest-loss in-range point of the whole path, and the path marks it.
        var inRange = refined.Path.Where(p => p.InRange).ToList();
        Assert.That(inRange.All(p => p.SparsityRatio > low && p.SparsityRatio < high));
        Assert.That(refined.Path.Count(p => p.Selected), Is.EqualTo(1));
        var marked = refined.Path.Single(p => p.Selected);
        Assert.That(marked.Lambda1, Is.EqualTo(refined.Selected.Lambda1));
        Assert.That(marked.Loss, Is.EqualTo(inRange.Max(p => p.Loss)));
        TestContext.Out.WriteLine($"{kind} ({low}, {high}): unrefined η = {plain.Selected.SparsityRatio:F4} loss {plain.Selected.Loss:G6}; " +
            $"refined η = {refined.Selected.SparsityRatio:F4} loss {refined.Selected.Loss:G6} ({refined.Tried.Count} solves, {refined.Batches} batches)");
    }

    [Test]
    public void PathRecordsMatchTheSolutionsAndTheBatches()
    {
        using var problem = Problem(200, 10, 91);
        var sweep = Lambda1Sweep.Run(problem, Caso, new Lambda1SweepOptions { BisectionSteps = 6, BisectionBatch = 7 });
        Assert.That(sweep.Path.Select(p => p.Lambda1), Is.EqualTo(sweep.Tried.Select(r => r.Lambda1)));
        for (int i = 0; i < sweep.Path.Count; i++)
        {
            var (p, r) = (sweep.Path[i], sweep.Tried[i]);
            Assert.That(p.SparsityRatio, Is.EqualTo(r.SparsityRatio));
            Assert.That(p.Loss, Is.EqualTo(r.Loss));
            Assert.That(p.Iterations, Is.EqualTo(r.Iterations));
            Assert.That(p.Status, Is.EqualTo(r.Status));
            Assert.That(p.NonZeros, Is.EqualTo(r.Solution.Count(v => v != 0)));
            Assert.That(p.Status, Is.EqualTo(FistaStatus.Converged));
        }
        // 7 points per batch = three halvings per round: 6 halvings take two bisection rounds.
        var bisection = sweep.Path.Where(p => p.Phase == Lambda1SweepPhase.Bisection).ToList();
        Assert.That(bisection.Select(p => p.Round).Distinct().Count(), Is.EqualTo(2));
        Assert.That(bisection.GroupBy(p => p.Round).All(g => g.Count() == 7));
        Assert.That(sweep.Path.Where(p => p.Phase == Lambda1SweepPhase.Grid).All(p => p.Round == 0));
        Assert.That(sweep.Path.Max(p => p.Round) + 1, Is.EqualTo(sweep.Batches));
        Assert.That(sweep.Chosen, Is.SameAs(sweep.Selected));
    }

    [Test]
    public void GridStartingInsideTheRange_ProbesDownwardThenBisects()
    {
        using var problem = Problem(400, 10, 101);
        var absG = problem.Gradient.ToArray().Select(Math.Abs).ToArray();
        double best = ClosedFormBest(absG, 0.75);
        // A start just above the best λ1 is already in range; the grid has no too-dense point to bisect against.
        var options = new Lambda1SweepOptions { Start = best * 1.5 };
        Assume.That(ClosedFormSparsity(absG, options.Start), Is.GreaterThan(0.75).And.LessThan(1.0));
        var sweep = Lambda1Sweep.Run(problem, Cafo, options);
        Assert.That(sweep.Path.Any(p => p.Phase == Lambda1SweepPhase.Probe), Is.True);
        Assert.That(sweep.Unrefined!.Lambda1, Is.EqualTo(options.Start), "the grid's only in-range point");
        double resolution = Math.Pow(options.Growth, Math.Pow(2, -options.BisectionSteps));
        Assert.That(sweep.Selected!.Lambda1, Is.InRange(best * (1 - 1e-12), best * resolution * (1 + 1e-12)));
    }

    [Test]
    public void BadBisectionOptionsGiveTypedExceptions()
    {
        using var problem = Problem(10, 4, 111);
        Assert.Throws<CasoInputException>(() => Lambda1Sweep.Run(problem, Caso, new Lambda1SweepOptions { BisectionSteps = -1 }));
        Assert.Throws<CasoInputException>(() => Lambda1Sweep.Run(problem, Caso, new Lambda1SweepOptions { BisectionSteps = 41 }));
        Assert.Throws<CasoInputException>(() => Lambda1Sweep.Run(problem, Caso, new Lambda1SweepOptions { BisectionBatch = 0 }));
    }
}
