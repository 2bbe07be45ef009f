using Saliency.Kernels.Backends;
using MathNet.Numerics.LinearAlgebra;
using NUnit.Framework;
using Saliency.Linalg.Covariance;
using Saliency.Linalg.Grid;
using Saliency.Linalg.Tests.Grid;

namespace Saliency.Linalg.Tests.Covariance;

[TestFixture]
internal class CovarianceOperatorTests
{
    public enum Kind { Isotropic, Tv, Dense }

    private static readonly (int Rows, int Cols)[] ShapeList = [(1, 1), (1, 7), (3, 5), (28, 28), (37, 23)];

    public static IEnumerable<TestCaseData> Cases()
    {
        foreach (var kind in Enum.GetValues<Kind>())
            foreach (var (r, c) in ShapeList)
                yield return new TestCaseData(kind, r, c);
    }

    public static IEnumerable<TestCaseData> SmallCases()
    {
        foreach (var kind in Enum.GetValues<Kind>())
            foreach (var (r, c) in new[] { (1, 1), (1, 7), (3, 5), (6, 4) })
                yield return new TestCaseData(kind, r, c);
    }

    /// <summary>A random well-conditioned SPD matrix I + A Aᵀ with A p×6 (cheap to form for p ≈ 800).</summary>
    internal static Matrix<double> RandomSpd(int p, int seed)
    {
        var rng = new Random(seed);
        var a = Matrix<double>.Build.Dense(p, 6, (_, _) => rng.NextDouble() - 0.5);
        return a * a.Transpose() + Matrix<double>.Build.DenseIdentity(p);
    }

    private static (ICovarianceOperator Op, Matrix<double> Dense) Make(Kind kind, GridShape shape)
    {
        const double variance = 0.1;
        int p = shape.Count;
        switch (kind)
        {
            case Kind.Isotropic:
                return (new IsotropicCovariance(shape, variance), Matrix<double>.Build.DenseIdentity(p) * variance);
            case Kind.Tv:
                var dense = (GridDense.Laplacian(shape) + Matrix<double>.Build.Dense(p, p, 1.0 / p)) * variance;
                return (new TvCovariance(shape, variance), dense);
            default:
                var spd = RandomSpd(p, 31 + p);
                return (new DenseCovariance(shape, spd), spd);
        }
    }

    private static double RelativeError(ReadOnlySpan<double> actual, Vector<double> expected)
    {
        double scale = Math.Max(1e-300, expected.AbsoluteMaximum());
        return GridDense.MaxAbsDifference(actual, expected.ToArray()) / scale;
    }

    [TestCaseSource(nameof(Cases))]
    public void Apply_EqualsDenseMatrix(Kind kind, int rows, int cols)
    {
        var shape = new GridShape(rows, cols);
        var (op, dense) = Make(kind, shape);
        var x = GridDense.RandomVector(shape.Count, 41);
        var y = new double[shape.Count];
        op.Apply(x, y);
        Assert.That(RelativeError(y, dense * Vector<double>.Build.DenseOfArray(x)), Is.LessThan(1e-12));
    }

    [TestCaseSource(nameof(Cases))]
    public void SigmaTimesSolve_IsIdentity(Kind kind, int rows, int cols)
    {
        var shape = new GridShape(rows, cols);
        var (op, _) = Make(kind, shape);
        var x = GridDense.RandomVector(shape.Count, 42);
        var solved = new double[shape.Count];
        var back = new double[shape.Count];
        op.Solve(x, solved);
        op.Apply(solved, back);
        Assert.That(GridDense.MaxAbsDifference(back, x), Is.LessThan(1e-9));
    }

    [TestCaseSource(nameof(SmallCases))]
    public void Solve_EqualsDenseInverse(Kind kind, int rows, int cols)
    {
        var shape = new GridShape(rows, cols);
        var (op, dense) = Make(kind, shape);
        var b = GridDense.RandomVector(shape.Count, 43);
        var x = new double[shape.Count];
        op.Solve(b, x);
        Assert.That(RelativeError(x, dense.Inverse() * Vector<double>.Build.DenseOfArray(b)), Is.LessThan(1e-10));
    }

    [TestCaseSource(nameof(SmallCases))]
    public void Factor_TimesItsTranspose_EqualsSigma(Kind kind, int rows, int cols)
    {
        // Build F column by column from unit vectors and check F Fᵀ = Σ: the covariance of F ε is exactly Σ.
        var shape = new GridShape(rows, cols);
        var (op, dense) = Make(kind, shape);
        int p = shape.Count;
        var f = Matrix<double>.Build.Dense(p, p);
        var unit = new double[p];
        var column = new double[p];
        for (int j = 0; j < p; j++)
        {
            Array.Clear(unit);
            unit[j] = 1;
            op.ApplyFactor(unit, column);
            f.SetColumn(j, column);
        }
        var ffT = f * f.Transpose();
        Assert.That((ffT - dense).FrobeniusNorm() / dense.FrobeniusNorm(), Is.LessThan(1e-12));
    }

    [TestCaseSource(nameof(SmallCases))]
    public void DPlusTransposeSigma_EqualsDense_AndIsAdjointOfSigmaDPlus(Kind kind, int rows, int cols)
    {
        var shape = new GridShape(rows, cols);
        var (op, dense) = Make(kind, shape);
        var k = GridDense.PseudoInverse(GridDense.DifferenceMatrix(shape)).Transpose() * dense; // m×p
        var g = GridDense.RandomVector(shape.Count, 44);
        var v = GridDense.RandomVector(shape.DifferenceCount, 45);
        var kg = new double[shape.DifferenceCount];
        var ktv = new double[shape.Count];
        op.ApplyDPseudoInverseTransposeSigma(g, kg);
        op.ApplySigmaDPseudoInverse(v, ktv);
        Assert.That(GridDense.MaxAbsDifference(kg, (k * Vector<double>.Build.DenseOfArray(g)).ToArray()), Is.LessThan(1e-10));
        Assert.That(GridDense.MaxAbsDifference(ktv, k.TransposeThisAndMultiply(Vector<double>.Build.DenseOfArray(v)).ToArray()), Is.LessThan(1e-10));
    }

    [Test]
    public void TvCovariance_ConstantModeEigenvalueIsSigmaSquared()
    {
        // 11ᵀ/p = u₀u₀ᵀ with u₀ = 1/√p: Σ·1 = σ²·1 (DᵀD·1 = 0).
        var shape = new GridShape(4, 6);
        var op = new TvCovariance(shape, 0.3);
        var ones = Enumerable.Repeat(1.0, shape.Count).ToArray();
        var y = new double[shape.Count];
        op.Apply(ones, y);
        Assert.That(y, Is.All.EqualTo(0.3).Within(1e-14));
        Assert.That(op.Eigenvalues[0], Is.EqualTo(0.3));
    }

    [Test]
    public void BadInput_ThrowsTypedExceptions()
    {
        var shape = new GridShape(3, 3);
        Assert.Throws<ArgumentOutOfRangeException>(() => new TvCovariance(shape, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new IsotropicCovariance(shape, double.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TvCovariance(new GridShape(0, 2), 0.1));

        var op = new TvCovariance(shape, 0.1);
        Assert.Throws<ArgumentException>(() => op.Apply(new double[8], new double[9]));
        Assert.Throws<ArgumentException>(() => op.Solve(new double[9], new double[10]));
        Assert.Throws<ArgumentException>(() => op.ApplyFactor(new double[9], new double[8]));
        Assert.Throws<ArgumentException>(() => op.ApplyDPseudoInverseTransposeSigma(new double[9], new double[9]));
    }

    [Test]
    public void DenseCovariance_RejectsNonSpd_NonFinite_AndWrongSize()
    {
        var shape = new GridShape(2, 2);
        var spd = RandomSpd(4, 5);

        var nonSymmetric = spd.Clone();
        nonSymmetric[0, 1] += 0.5;
        Assert.Throws<CovarianceNotPositiveDefiniteException>(() => new DenseCovariance(shape, nonSymmetric));

        var indefinite = Matrix<double>.Build.DenseOfDiagonalArray([1.0, 2.0, -1.0, 3.0]);
        Assert.Throws<CovarianceNotPositiveDefiniteException>(() => new DenseCovariance(shape, indefinite));

        var v = Vector<double>.Build.DenseOfArray([1.0, 2.0, 3.0, 4.0]);
        var singular = v.OuterProduct(v); // rank one: PSD but singular
        Assert.Throws<CovarianceNotPositiveDefiniteException>(() => new DenseCovariance(shape, singular));

        var withNaN = spd.Clone();
        withNaN[2, 2] = double.NaN;
        Assert.Throws<NonFiniteValueException>(() => new DenseCovariance(shape, withNaN));

        Assert.Throws<ArgumentException>(() => new DenseCovariance(shape, RandomSpd(5, 6)));
        Assert.Throws<ArgumentException>(() => DenseCovariance.FromRowMajor(shape, new double[15]));
    }

    [Test]
    public void DenseCovariance_FromRowMajor_EqualsMatrixForm()
    {
        var shape = new GridShape(2, 3);
        var spd = RandomSpd(6, 7);
        var fromArray = DenseCovariance.FromRowMajor(shape, spd.ToRowMajorArray());
        Assert.That((fromArray.Matrix - spd).FrobeniusNorm(), Is.LessThan(1e-14));
    }
}
