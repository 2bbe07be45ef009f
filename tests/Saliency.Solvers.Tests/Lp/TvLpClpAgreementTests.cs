using NUnit.Framework;
using Saliency.Linalg.Grid;
using Saliency.Solvers.Lp;

namespace Saliency.Solvers.Tests.Lp;

/// <summary>Agreement with an independent LP solver: Debian's CLP (coinor-clp, installed by tools/setup.sh).</summary>
[TestFixture]
internal class TvLpClpAgreementTests
{
    private static string Clp() =>
        LpReference.ClpPath() ?? throw new IgnoreException("Debian's clp (package coinor-clp) is not installed; run tools/setup.sh");

    private static void AssertAgrees(TvLpProblem problem, IReadOnlyList<(int Col, double Val)>[] kRows)
    {
        string clp = Clp();
        var ours = TvLpSolver.Solve(problem);
        Assert.That(ours.Status, Is.EqualTo(TvLpStatus.Optimal));
        string dir = Directory.CreateTempSubdirectory("tvlp-clp-").FullName;
        try
        {
            string mps = Path.Combine(dir, "tvlp.mps");
            LpReference.WriteMps(mps, problem.Shape, problem.B, problem.Bound, kRows);
            double theirs = LpReference.SolveWithClp(clp, mps, problem.Shape.DifferenceCount);
            Assert.That(ours.Certificate.PrimalObjective, Is.EqualTo(theirs).Within(1e-5 * Math.Abs(theirs)),
                $"ours {ours.Certificate.PrimalObjective:R}, clp {theirs:R}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static IReadOnlyList<(int, double)>[] ScaledDRows(GridShape s, double s2) =>
        LpReference.Edges(s).Select(e => (IReadOnlyList<(int, double)>)[(e.To, s2), (e.From, -s2)]).ToArray();

    [TestCase(28, 28, true, 0.1)]
    [TestCase(37, 23, false, 0.2)]
    [TestCase(28, 28, true, 0.0)]
    public void PaperCovariance_ObjectiveMatchesClp(int rows, int cols, bool structured, double fraction)
    {
        var shape = new GridShape(rows, cols);
        var (b, _) = LpReference.Instance(shape, rows + cols, structured, 0.1);
        var problem = TvLpProblem.ForPaperCovariance(shape, b, fraction * b.Max(Math.Abs), 0.1);
        AssertAgrees(problem, ScaledDRows(shape, 0.1));
    }

    [Test]
    public void DenseCovariance_ObjectiveMatchesClp()
    {
        var shape = new GridShape(6, 5);
        var k = TvLpOperatorFormTests.DenseK(shape, 7, out _);
        int p = shape.Count, m = shape.DifferenceCount;
        var op = new DenseConstraintOperator(m, p, k);
        var h = Enumerable.Range(0, p).Select(i => Math.Cos(1.3 * i) + (i % 6 > 3 ? 2.0 : 0.0)).ToArray();
        var b = new double[m];
        op.Apply(h, b);
        var problem = TvLpProblem.ForOperator(shape, b, 0.1 * TvLpSolver.MaxBound(TvLpProblem.ForOperator(shape, b, 0, op)), op);
        var rows = Enumerable.Range(0, m)
            .Select(e => (IReadOnlyList<(int, double)>)Enumerable.Range(0, p).Select(j => (j, k[e * p + j])).ToArray()).ToArray();
        AssertAgrees(problem, rows);
    }
}
