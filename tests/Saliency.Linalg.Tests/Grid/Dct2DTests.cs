using NUnit.Framework;
using MathNet.Numerics.LinearAlgebra;
using Saliency.Linalg.Grid;

namespace Saliency.Linalg.Tests.Grid;

[TestFixture]
internal class Dct2DTests
{
    public static readonly object[] Shapes =
    [
        new object[] { 1, 1 }, new object[] { 1, 7 }, new object[] { 7, 1 }, new object[] { 3, 5 },
        new object[] { 28, 28 }, new object[] { 37, 23 }, new object[] { 2, 2 }, new object[] { 4, 9 },
    ];

    [TestCaseSource(nameof(Shapes))]
    public void Forward_EqualsNaiveDenseDctMatrix(int rows, int cols)
    {
        var shape = new GridShape(rows, cols);
        var x = GridDense.RandomVector(shape.Count, 11);
        var expected = GridDense.DctMatrix(shape) * Vector<double>.Build.DenseOfArray(x);

        var y = new double[shape.Count];
        Dct2D.For(shape).Forward(x, y);

        Assert.That(GridDense.MaxAbsDifference(y, expected.ToArray()), Is.LessThan(1e-12));
    }

    [TestCaseSource(nameof(Shapes))]
    public void Inverse_EqualsTransposeOfDenseDctMatrix(int rows, int cols)
    {
        var shape = new GridShape(rows, cols);
        var y = GridDense.RandomVector(shape.Count, 12);
        var expected = GridDense.DctMatrix(shape).TransposeThisAndMultiply(Vector<double>.Build.DenseOfArray(y));

        var x = new double[shape.Count];
        Dct2D.For(shape).Inverse(y, x);

        Assert.That(GridDense.MaxAbsDifference(x, expected.ToArray()), Is.LessThan(1e-12));
    }

    [TestCaseSource(nameof(Shapes))]
    public void InverseAfterForward_IsIdentity_InPlace(int rows, int cols)
    {
        var shape = new GridShape(rows, cols);
        var x = GridDense.RandomVector(shape.Count, 13);
        var work = (double[])x.Clone();
        var dct = Dct2D.For(shape);

        dct.Forward(work, work);
        dct.Inverse(work, work);

        Assert.That(GridDense.MaxAbsDifference(work, x), Is.LessThan(1e-12));
    }

    [Test]
    public void ConstantMode_IsSqrtPTimesMean()
    {
        var shape = new GridShape(5, 8);
        var x = GridDense.RandomVector(shape.Count, 14);
        var y = new double[shape.Count];
        Dct2D.For(shape).Forward(x, y);
        Assert.That(y[0], Is.EqualTo(Math.Sqrt(shape.Count) * x.Average()).Within(1e-12));
    }

    [Test]
    public void MismatchedLengths_Throw()
    {
        var dct = Dct2D.For(new GridShape(3, 5));
        Assert.Throws<ArgumentException>(() => dct.Forward(new double[14], new double[15]));
        Assert.Throws<ArgumentException>(() => dct.Inverse(new double[15], new double[16]));
    }

    [TestCase(0, 3)]
    [TestCase(3, -1)]
    public void InvalidShape_Throws(int rows, int cols)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Dct2D.For(new GridShape(rows, cols)));
    }
}
