using NUnit.Framework;
using Saliency.Kernels.Ops.PrimalDual;
using Saliency.Linalg.Grid;
using Saliency.Solvers.Lp;

namespace Saliency.Solvers.Tests.Lp;

/// <summary>Row-block parallel steps of a single large solve (<see cref="TvLpOptions.StepThreads"/>).</summary>
[TestFixture]
public class TvLpRowBlockTests
{
    private static TvLpProblem Problem(int rows, int cols)
    {
        var shape = new GridShape(rows, cols);
        var rng = new Random(11);
        var h = new double[shape.Count];
        for (int j = 0; j < h.Length; j++) h[j] = 0.1 * ((j % cols) > cols / 2 ? 1 : 0) + 0.03 * (rng.NextDouble() - 0.5);
        var b = new double[shape.DifferenceCount];
        PrimalDualTvStep.ApplyD(rows, cols, h, b);
        var atZero = TvLpProblem.ForPaperCovariance(shape, b, 0, 0.1);
        return atZero.WithBound(0.1 * TvLpSolver.MaxBound(atZero));
    }

    [TestCase(2)]
    [TestCase(3)]
    public void StepThreads_GiveTheSameIteratesAsOneThread(int threads)
    {
        // Oracle: the one-thread solve. A 130×129 grid is above the row-parallel threshold; the iteration cap keeps the
        // test short and the comparison covers the fused Halpern steps, the plain steps before each check, the checks
        // and restarts. The blocked sweep computes every entry with the same arithmetic, so the results agree exactly.
        var problem = Problem(130, 129);
        var one = TvLpSolver.Solve(problem, new TvLpOptions { MaxIterations = 400, StepThreads = 1, SinglePrecisionIterations = false });
        var many = TvLpSolver.Solve(problem, new TvLpOptions { MaxIterations = 400, StepThreads = threads, SinglePrecisionIterations = false });
        Assert.That(many.Iterations, Is.EqualTo(one.Iterations));
        Assert.That(many.Restarts, Is.EqualTo(one.Restarts));
        Assert.That(many.G, Is.EqualTo(one.G).AsCollection);
        Assert.That(many.U, Is.EqualTo(one.U).AsCollection);
        Assert.That(many.V, Is.EqualTo(one.V).AsCollection);
    }

    [Test]
    public void StepThreads_BelowOne_IsRejected()
    {
        var problem = Problem(4, 4);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => TvLpSolver.Solve(problem, new TvLpOptions { StepThreads = 0 }));
        Assert.That(ex!.ParamName, Is.EqualTo(nameof(TvLpOptions.StepThreads)));
    }
}
