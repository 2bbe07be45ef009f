using NUnit.Framework;
using Saliency.Solvers.Caso;

namespace Saliency.Solvers.Tests.Caso;

[TestFixture]
internal class Lambda1SweepTests
{
    private static readonly CasoOptions Options = new() { Tolerance = 1e-9, MaxIterations = 5000 };

    [TestCase(CasoObjectiveKind.Caso, 0.75, 1.0)]
    [TestCase(CasoObjectiveKind.Cafo, 0.75, 1.0)]
    [TestCase(CasoObjectiveKind.Caso, 0.4, 0.5)]
    [TestCase(CasoObjectiveKind.Caso, 0.9, 0.95)]
    public void ReturnsTheHighestLossSolutionWithSparsityInRange(CasoObjectiveKind kind, double low, double high)
    {
        var w = CasoTestData.RandomJacobian(200, 10, 21);
        var problem = CasoProblem.FromJacobian(w, CasoTestData.RandomProbabilities(10, 22));
        var sweep = Lambda1Sweep.Run(problem, Options with { Kind = kind }, new Lambda1SweepOptions { SparsityLow = low, SparsityHigh = high });
        TestContext.Out.WriteLine(sweep.Message);
        Assert.That(sweep.FoundInRange, Is.True, sweep.Message);
        var s = sweep.Selected!;
        Assert.That(s.SparsityRatio, Is.GreaterThan(low).And.LessThan(high));
        Assert.That(s.Converged, Is.True);
        Assert.That(s.Kind, Is.EqualTo(kind));
        // Highest loss among every in-range solution tried.
        foreach (var r in sweep.Tried.Where(r => r.SparsityRatio > low && r.SparsityRatio < high))
            Assert.That(s.Loss, Is.GreaterThanOrEqualTo(r.Loss));
        // The grid starts at 1e-4 and reaches the all-zero solution (λ1 ≥ ‖g‖∞).
        Assert.That(sweep.Tried[0].Lambda1, Is.EqualTo(1e-4).Within(1e-18));
        Assert.That(sweep.Tried.Any(r => r.SparsityRatio == 1.0), Is.True);
        double gInf = problem.Gradient.ToArray().Max(Math.Abs);
        foreach (var r in sweep.Tried) Assert.That(r.SparsityRatio == 1.0, Is.EqualTo(r.Lambda1 >= gInf), $"λ1 = {r.Lambda1}");
    }

    [Test]
    public void NarrowRangeIsFoundByHalvingTheFirstAllZeroLambda()
    {
        // The ×10 grid alone jumps across (0.9, 0.95); refinement rounds must find it.
        var w = CasoTestData.RandomJacobian(200, 10, 21);
        var problem = CasoProblem.FromJacobian(w, CasoTestData.RandomProbabilities(10, 22));
        var sweep = Lambda1Sweep.Run(problem, Options, new Lambda1SweepOptions { SparsityLow = 0.9, SparsityHigh = 0.95 });
        Assert.That(sweep.FoundInRange, Is.True);
        int gridLength = sweep.Tried.Count(r => Math.Abs(Math.Log10(r.Lambda1 / 1e-4) - Math.Round(Math.Log10(r.Lambda1 / 1e-4))) < 1e-9);
        Assert.That(sweep.Tried.Count, Is.GreaterThan(gridLength), "refinement ran");
        Assert.That(sweep.Batches, Is.GreaterThan(1));
    }

    [Test]
    public void ReportsWhenNoSparsityInRangeExists()
    {
        // d = 10: η is a multiple of 0.1, so no solution can have η strictly inside (0.51, 0.59).
        var w = CasoTestData.RandomJacobian(10, 4, 23);
        var problem = CasoProblem.FromJacobian(w, CasoTestData.RandomProbabilities(4, 24));
        var sweep = Lambda1Sweep.Run(problem, Options, new Lambda1SweepOptions { SparsityLow = 0.51, SparsityHigh = 0.59, MaxRefinements = 3 });
        Assert.That(sweep.FoundInRange, Is.False);
        Assert.That(sweep.Selected, Is.Null);
        Assert.That(sweep.Message, Does.Contain("No λ1"));
        Assert.That(sweep.Tried.Count, Is.GreaterThan(0));
    }

    [Test]
    public void BadSweepOptionsGiveTypedExceptions()
    {
        var problem = CasoProblem.FromJacobian(CasoTestData.RandomJacobian(10, 4, 25), CasoTestData.RandomProbabilities(4, 26));
        Assert.Throws<CasoInputException>(() => Lambda1Sweep.Run(problem, Options, new Lambda1SweepOptions { SparsityLow = 0.9, SparsityHigh = 0.8 }));
        Assert.Throws<CasoInputException>(() => Lambda1Sweep.Run(problem, Options, new Lambda1SweepOptions { Start = 0 }));
        Assert.Throws<CasoInputException>(() => Lambda1Sweep.Run(problem, Options, new Lambda1SweepOptions { Growth = 1 }));
    }
}
