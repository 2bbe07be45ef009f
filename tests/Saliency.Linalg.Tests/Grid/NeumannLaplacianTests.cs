using NUnit.Framework;
using MathNet.Numerics.LinearAlgebra;
using Saliency.Linalg.Grid;

namespace Saliency.Linalg.Tests.Grid;

[TestFixture]
internal class NeumannLaplacianTests
{
    public static readonly object[] AllShapes = Dct2DTests.Shapes;

    // Dense pseudo-inverses (MathNet SVD) only on small grids.
    public static readonly object[] SmallShapes =
    [
        new object[] { 1, 1 }, new object[] { 1, 7 }, new object[] { 7, 1 }, new object[] { 3, 5 },
        new object[] { 2, 2 }, new object[] { 6, 9 }, new object[] { 11, 4 },
    ];

    [TestCaseSource(nameof(AllShapes))]
    public void DifferenceOperator_MatchesDenseMatrix_AndIsAdjoint(int rows, int cols)
    {
        var shape = new GridShape(rows, cols);
        var dense = GridDense.DifferenceMatrix(shape);
        var g = GridDense.RandomVector(shape.Count, 21);
        var e = GridDense.RandomVector(shape.DifferenceCount, 22);

        var dg = new double[shape.DifferenceCount];
        var dte = new double[shape.Count];
        GridDifference.Apply(shape, g, dg);
        GridDifference.ApplyTranspose(shape, e, dte);

        Assert.That(GridDense.MaxAbsDifference(dg, (dense * Vector<double>.Build.DenseOfArray(g)).ToArray()), Is.LessThan(1e-14));
        Assert.That(GridDense.MaxAbsDifference(dte, dense.TransposeThisAndMultiply(Vector<double>.Build.DenseOfArray(e)).ToArray()), Is.LessThan(1e-13));
        double lhs = 0, rhs = 0;
        for (int i = 0; i < dg.Length; i++) lhs += dg[i] * e[i];
        for (int i = 0; i < g.Length; i++) rhs += g[i] * dte[i];
        Assert.That(lhs, Is.EqualTo(rhs).Within(1e-12 * (1 + Math.Abs(lhs))));
    }

    [TestCaseSource(nameof(AllShapes))]
    public void Apply_EqualsDenseDtD(int rows, int cols)
    {
        var shape = new GridShape(rows, cols);
        var d = GridDense.SparseDifferenceMatrix(shape);
        var x = GridDense.RandomVector(shape.Count, 23);
        var y = new double[shape.Count];
        NeumannLaplacian.For(shape).Apply(x, y);
        var expected = d.TransposeThisAndMultiply(d * Vector<double>.Build.DenseOfArray(x));
        Assert.That(GridDense.MaxAbsDifference(y, expected.ToArray()), Is.LessThan(1e-12));
    }

    [TestCaseSource(nameof(SmallShapes))]
    public void DctDiagonalisesDtD_WithClosedFormEigenvalues(int rows, int cols)
    {
        // DᵀD = Cᵀ Λ C with Λ = diag(4 sin²(πi/2p1) + 4 sin²(πj/2p2)), checked against the dense matrices.
        var shape = new GridShape(rows, cols);
        var c = GridDense.DctMatrix(shape);
        var lambda = c * GridDense.Laplacian(shape) * c.Transpose();
        var eig = NeumannLaplacian.For(shape).Eigenvalues;
        double offDiagonal = 0, diagonalError = 0;
        for (int i = 0; i < shape.Count; i++)
        for (int j = 0; j < shape.Count; j++)
        {
            if (i == j) diagonalError = Math.Max(diagonalError, Math.Abs(lambda[i, i] - eig[i]));
            else offDiagonal = Math.Max(offDiagonal, Math.Abs(lambda[i, j]));
        }
        Assert.That(diagonalError, Is.LessThan(1e-11));
        Assert.That(offDiagonal, Is.LessThan(1e-11));
        Assert.That(eig[0], Is.EqualTo(0.0));
    }

    [TestCaseSource(nameof(AllShapes))]
    public void DctBasisVectors_AreEigenvectorsOfTheStencil(int rows, int cols)
    {
        // Large-grid version of the diagonalisation check: for every 7th mode k, DᵀD (Cᵀe_k) = λ_k (Cᵀe_k).
        var shape = new GridShape(rows, cols);
        var lap = NeumannLaplacian.For(shape);
        var unit = new double[shape.Count];
        var mode = new double[shape.Count];
        var image = new double[shape.Count];
        for (int k = 0; k < shape.Count; k += 7)
        {
            Array.Clear(unit);
            unit[k] = 1;
            lap.Dct.Inverse(unit, mode);
            lap.Apply(mode, image);
            for (int i = 0; i < mode.Length; i++) mode[i] *= lap.Eigenvalues[k];
            Assert.That(GridDense.MaxAbsDifference(image, mode), Is.LessThan(1e-12), $"mode {k}");
        }
    }

    [TestCaseSource(nameof(SmallShapes))]
    public void SolvePseudoInverse_EqualsDensePseudoInverse(int rows, int cols)
    {
        var shape = new GridShape(rows, cols);
        var d = GridDense.DifferenceMatrix(shape);
        var pinv = GridDense.PseudoInverse(GridDense.Laplacian(shape));
        var rhs = GridDense.RandomVector(shape.Count, 24);
        var x = new double[shape.Count];
        NeumannLaplacian.For(shape).SolvePseudoInverse(rhs, x);
        Assert.That(GridDense.MaxAbsDifference(x, (pinv * Vector<double>.Build.DenseOfArray(rhs)).ToArray()), Is.LessThan(1e-10));
    }

    [TestCaseSource(nameof(SmallShapes))]
    public void DPseudoInverse_AndTranspose_EqualDensePseudoInverseOfD(int rows, int cols)
    {
        var shape = new GridShape(rows, cols);
        var dPinv = GridDense.PseudoInverse(GridDense.DifferenceMatrix(shape));
        var lap = NeumannLaplacian.For(shape);

        var e = GridDense.RandomVector(shape.DifferenceCount, 25);
        var g = new double[shape.Count];
        lap.ApplyDPseudoInverse(e, g);
        var expectedG = (dPinv * Vector<double>.Build.DenseOfArray(e)).ToArray();
        Assert.That(GridDense.MaxAbsDifference(g, expectedG), Is.LessThan(1e-10));

        var y = GridDense.RandomVector(shape.Count, 26);
        var b = new double[shape.DifferenceCount];
        lap.ApplyDPseudoInverseTranspose(y, b);
        var expectedB = dPinv.TransposeThisAndMultiply(Vector<double>.Build.DenseOfArray(y)).ToArray();
        Assert.That(GridDense.MaxAbsDifference(b, expectedB), Is.LessThan(1e-10));
    }

    [TestCaseSource(nameof(AllShapes))]
    public void D_DPlus_D_EqualsD(int rows, int cols)
    {
        // Penrose condition D D⁺ D = D, applied to random grid vectors; also D⁺ D D⁺ = D⁺ on random edge vectors.
        var shape = new GridShape(rows, cols);
        var lap = NeumannLaplacian.For(shape);
        var g = GridDense.RandomVector(shape.Count, 27);
        var dg = new double[shape.DifferenceCount];
        GridDifference.Apply(shape, g, dg);
        var back = new double[shape.Count];
        lap.ApplyDPseudoInverse(dg, back);
        var ddg = new double[shape.DifferenceCount];
        GridDifference.Apply(shape, back, ddg);
        Assert.That(GridDense.MaxAbsDifference(ddg, dg), Is.LessThan(1e-10));

        var e = GridDense.RandomVector(shape.DifferenceCount, 28);
        var pe = new double[shape.Count];
        lap.ApplyDPseudoInverse(e, pe);
        var dpe = new double[shape.DifferenceCount];
        GridDifference.Apply(shape, pe, dpe);
        var pdpe = new double[shape.Count];
        lap.ApplyDPseudoInverse(dpe, pdpe);
        Assert.That(GridDense.MaxAbsDifference(pdpe, pe), Is.LessThan(1e-10));
    }

    [TestCaseSource(nameof(SmallShapes))]
    public void DPseudoInverseL1Norm_EqualsDenseMaxColumnAbsSum(int rows, int cols)
    {
        var shape = new GridShape(rows, cols);
        double expected = GridDense.PseudoInverse(GridDense.DifferenceMatrix(shape)).L1Norm();
        double actual = NeumannLaplacian.For(shape).DPseudoInverseL1Norm(out bool exact);
        Assert.That(exact, Is.True);
        Assert.That(actual, Is.EqualTo(expected).Within(1e-10 * (1 + expected)));
    }

    [Test]
    public void DPseudoInverseL1Norm_BoundAboveExactRange_IsAtLeastAnyColumnSum()
    {
        // 70×70 > ExactL1NormMaxCount: a bound is returned; it must dominate the exact column sums we can afford.
        var shape = new GridShape(70, 70);
        var lap = NeumannLaplacian.For(shape);
        double bound = lap.DPseudoInverseL1Norm(out bool exact);
        Assert.That(exact, Is.False);
        var column = new double[shape.Count];
        foreach (int edge in new[] { 0, shape.VerticalDifferenceCount / 2, shape.DifferenceCount - 1 })
        {
            var unit = new double[shape.DifferenceCount];
            unit[edge] = 1;
            lap.ApplyDPseudoInverse(unit, column);
            Assert.That(column.Sum(Math.Abs), Is.LessThanOrEqualTo(bound));
        }
    }

    [Test]
    public void MismatchedLengths_Throw()
    {
        var shape = new GridShape(3, 5);
        var lap = NeumannLaplacian.For(shape);
        Assert.Throws<ArgumentException>(() => lap.SolvePseudoInverse(new double[14], new double[15]));
        Assert.Throws<ArgumentException>(() => lap.ApplyDPseudoInverse(new double[15], new double[15]));
        Assert.Throws<ArgumentException>(() => lap.ApplyDPseudoInverseTranspose(new double[15], new double[15]));
        Assert.Throws<ArgumentException>(() => GridDifference.Apply(shape, new double[15], new double[21]));
    }
}
