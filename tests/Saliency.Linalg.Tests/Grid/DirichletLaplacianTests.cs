using MathNet.Numerics.LinearAlgebra;
using NUnit.Framework;
using Saliency.Linalg.Grid;

namespace Saliency.Linalg.Tests.Grid;

[TestFixture]
internal class DirichletLaplacianTests
{
    public static readonly object[] Shapes = Dct2DTests.Shapes;

    public static readonly object[] SmallShapes =
    [
        new object[] { 1, 1 }, new object[] { 1, 7 }, new object[] { 3, 5 }, new object[] { 6, 4 },
    ];

    /// <summary>Dense padded D from its definition: for each grid line, differences against a zero outside both ends.</summary>
    private static Matrix<double> PaddedD(GridShape s)
    {
        int p1 = s.Rows, p2 = s.Cols;
        var d = Matrix<double>.Build.Dense((p1 + 1) * p2 + p1 * (p2 + 1), s.Count);
        int row = 0;
        for (int r = 0; r <= p1; r++)
            for (int c = 0; c < p2; c++, row++)
            {
                if (r < p1) d[row, r * p2 + c] += 1;
                if (r > 0) d[row, (r - 1) * p2 + c] -= 1;
            }
        for (int r = 0; r < p1; r++)
            for (int c = 0; c <= p2; c++, row++)
            {
                if (c < p2) d[row, r * p2 + c] += 1;
                if (c > 0) d[row, r * p2 + c - 1] -= 1;
            }
        return d;
    }

    [TestCaseSource(nameof(Shapes))]
    public void Dst_EqualsDenseSineMatrix_AndIsAnInvolution(int rows, int cols)
    {
        var shape = new GridShape(rows, cols);
        var dense = Matrix<double>.Build.Dense(shape.Count, shape.Count, (a, b) =>
        {
            int k1 = a / cols, k2 = a % cols, n1 = b / cols, n2 = b % cols;
            return Math.Sqrt(2.0 / (rows + 1)) * Math.Sin(Math.PI * (k1 + 1) * (n1 + 1) / (rows + 1))
                 * Math.Sqrt(2.0 / (cols + 1)) * Math.Sin(Math.PI * (k2 + 1) * (n2 + 1) / (cols + 1));
        });
        var x = GridDense.RandomVector(shape.Count, 61);
        var lap = DirichletLaplacian.For(shape);
        var y = new double[shape.Count];
        lap.Dst(x, y);
        Assert.That(GridDense.MaxAbsDifference(y, (dense * Vector<double>.Build.DenseOfArray(x)).ToArray()), Is.LessThan(1e-12));
        lap.Dst(y, y);
        Assert.That(GridDense.MaxAbsDifference(y, x), Is.LessThan(1e-12));
    }

    [TestCaseSource(nameof(Shapes))]
    public void PaddedD_MatchesDefinition_AndIsAdjoint(int rows, int cols)
    {
        var shape = new GridShape(rows, cols);
        var lap = DirichletLaplacian.For(shape);
        var d = PaddedD(shape);
        Assert.That(lap.DifferenceCount, Is.EqualTo(d.RowCount));
        var g = GridDense.RandomVector(shape.Count, 62);
        var e = GridDense.RandomVector(lap.DifferenceCount, 63);
        var dg = new double[lap.DifferenceCount];
        var dte = new double[shape.Count];
        lap.ApplyD(g, dg);
        lap.ApplyDTranspose(e, dte);
        Assert.That(GridDense.MaxAbsDifference(dg, (d * Vector<double>.Build.DenseOfArray(g)).ToArray()), Is.LessThan(1e-14));
        Assert.That(GridDense.MaxAbsDifference(dte, d.TransposeThisAndMultiply(Vector<double>.Build.DenseOfArray(e)).ToArray()), Is.LessThan(1e-13));
    }

    [TestCaseSource(nameof(SmallShapes))]
    public void Solve_AndPseudoInverses_EqualDenseReferences(int rows, int cols)
    {
        var shape = new GridShape(rows, cols);
        var lap = DirichletLaplacian.For(shape);
        var d = PaddedD(shape);
        var dtd = d.TransposeThisAndMultiply(d);
        var rhs = GridDense.RandomVector(shape.Count, 64);
        var x = new double[shape.Count];
        lap.Solve(rhs, x);
        Assert.That(GridDense.MaxAbsDifference(x, dtd.Solve(Vector<double>.Build.DenseOfArray(rhs)).ToArray()), Is.LessThan(1e-10));

        var pinv = d.PseudoInverse();
        var e = GridDense.RandomVector(lap.DifferenceCount, 65);
        var g = new double[shape.Count];
        lap.ApplyDPseudoInverse(e, g);
        Assert.That(GridDense.MaxAbsDifference(g, (pinv * Vector<double>.Build.DenseOfArray(e)).ToArray()), Is.LessThan(1e-10));
        var b = new double[lap.DifferenceCount];
        lap.ApplyDPseudoInverseTranspose(rhs, b);
        Assert.That(GridDense.MaxAbsDifference(b, pinv.TransposeThisAndMultiply(Vector<double>.Build.DenseOfArray(rhs)).ToArray()), Is.LessThan(1e-10));
    }

    [TestCaseSource(nameof(Shapes))]
    public void DPlusD_IsIdentity_SinceDPadHasFullColumnRank(int rows, int cols)
    {
        var shape = new GridShape(rows, cols);
        var lap = DirichletLaplacian.For(shape);
        var g = GridDense.RandomVector(shape.Count, 66);
        var dg = new double[lap.DifferenceCount];
        lap.ApplyD(g, dg);
        var back = new double[shape.Count];
        lap.ApplyDPseudoInverse(dg, back);
        Assert.That(GridDense.MaxAbsDifference(back, g), Is.LessThan(1e-10));
        Assert.That(lap.Eigenvalues.ToArray(), Is.All.GreaterThan(0));
    }
}
