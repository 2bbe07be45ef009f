using Saliency.Kernels.Backends;
using NUnit.Framework;
using Saliency.Linalg.Grid;
using Saliency.Solvers.Lp;

namespace Saliency.Solvers.Tests.Lp;

[TestFixture]
internal class TvLpBadInputTests
{
    private static readonly GridShape Shape = new(4, 3);
    private static double[] B => Enumerable.Range(0, Shape.DifferenceCount).Select(i => 0.1 * i).ToArray();

    [Test]
    public void NegativeOrNaNBound_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => TvLpProblem.ForPaperCovariance(Shape, B, -1e-3, 0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => TvLpProblem.ForPaperCovariance(Shape, B, double.NaN, 0.1));
        var ok = TvLpProblem.ForPaperCovariance(Shape, B, 0.5, 0.1);
        Assert.Throws<ArgumentOutOfRangeException>(() => ok.WithBound(-2));
        Assert.Throws<ArgumentOutOfRangeException>(() => TvLpSolver.SolvePath(ok, [0.5, -0.1]));
    }

    [Test]
    public void NaNOrInfinityInB_Throws()
    {
        var b = B;
        b[3] = double.NaN;
        var ex = Assert.Throws<NonFiniteValueException>(() => TvLpProblem.ForPaperCovariance(Shape, b, 0.1, 0.1));
        Assert.That(ex!.Index, Is.EqualTo(3));
        b[3] = double.PositiveInfinity;
        Assert.Throws<NonFiniteValueException>(() => TvLpProblem.ForOperator(Shape, b, 0.1, new ScaledDifferenceOperator(Shape, 0.1)));
    }

    [Test]
    public void MismatchedSizes_Throw()
    {
        Assert.Throws<ArgumentException>(() => TvLpProblem.ForPaperCovariance(Shape, new double[Shape.DifferenceCount + 1], 0.1, 0.1));
        Assert.Throws<ArgumentException>(() => TvLpProblem.ForPaperCovariance(new GridShape(3, 4), new double[new GridShape(4, 4).DifferenceCount], 0.1, 0.1));
        var otherGrid = new ScaledDifferenceOperator(new GridShape(5, 3), 0.1);
        Assert.Throws<ArgumentException>(() => TvLpProblem.ForOperator(Shape, B, 0.1, otherGrid));
        var problem = TvLpProblem.ForPaperCovariance(Shape, B, 0.1, 0.1);
        var badWarm = new TvLpWarmStart(new double[Shape.Count - 1], new double[Shape.DifferenceCount], new double[Shape.DifferenceCount]);
        Assert.Throws<ArgumentException>(() => TvLpSolver.Solve(problem, warmStart: badWarm));
        Assert.Throws<ArgumentException>(() => TvLpSolver.SolveBatch([problem], warmStarts: []));
        Assert.Throws<ArgumentException>(() => TvLpSolver.SolveBatch([problem], targetMeans: [0.0, 1.0]));
        Assert.Throws<ArgumentOutOfRangeException>(() => TvLpSolver.SolveBatch([problem], targetMeans: [double.NaN]));
    }

    [Test]
    public void BadGridOrVarianceOrOptions_Throw()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => TvLpProblem.ForPaperCovariance(new GridShape(0, 3), [], 0.1, 0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => TvLpProblem.ForPaperCovariance(new GridShape(1, 1), [], 0.1, 0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => TvLpProblem.ForPaperCovariance(Shape, B, 0.1, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => TvLpProblem.ForPaperCovariance(Shape, B, 0.1, double.NaN));
        var problem = TvLpProblem.ForPaperCovariance(Shape, B, 0.1, 0.1);
        Assert.Throws<ArgumentOutOfRangeException>(() => TvLpSolver.Solve(problem, new TvLpOptions { RelativeTolerance = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => TvLpSolver.Solve(problem, new TvLpOptions { MaxIterations = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => TvLpSolver.Solve(problem, new TvLpOptions { TargetMean = double.NaN }));
    }

    [Test]
    public void NonFiniteDenseOperator_Throws()
    {
        var k = new double[Shape.DifferenceCount * Shape.Count];
        k[5] = double.NaN;
        Assert.Throws<NonFiniteValueException>(() => new DenseConstraintOperator(Shape.DifferenceCount, Shape.Count, k));
        Assert.Throws<ArgumentException>(() => new DenseConstraintOperator(Shape.DifferenceCount, Shape.Count, new double[3]));
    }
}
