using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.LinearAlgebra.Factorization;
using NUnit.Framework;
using Saliency.Linalg.Hessian;

namespace Saliency.Linalg.Tests.Hessian;

/// <summary>
/// <see cref="ClassMajorSpectrum"/>: the float64 Gram of a float32 class-major W against MathNet's dense WᵀW of the same
/// (widened) values, and its eigenvalues against the dense float64 eigenvalues of H = W A Wᵀ itself (d×d), for all
/// classes, a class subset, and d &lt; c. Sizes straddle the 128-row blocks, the 4- and 8-lane vectors and the 2×4 and 4×4 tiles; both kernels run here.
/// </summary>
[TestFixture]
internal sealed class ClassMajorSpectrumTests
{
    private static (float[] Flat, Matrix<double> Widened) FloatJacobian(int d, int c, int seed)
    {
        var w = HessianTestData.RandomJacobian(d, c, seed);
        var flat = new float[d * c];
        for (int j = 0; j < c; j++) for (int i = 0; i < d; i++) flat[j * d + i] = (float)w[i, j];
        return (flat, Matrix<double>.Build.Dense(d, c, (i, j) => flat[j * d + i]));
    }

    [TestCase(1, 1, true)]
    [TestCase(7, 3, true)]
    [TestCase(300, 7, true)]
    [TestCase(1027, 13, true)]
    [TestCase(513, 8, true)]
    [TestCase(1, 1, false)]
    [TestCase(7, 3, false)]
    [TestCase(300, 7, false)]
    [TestCase(1027, 13, false)]
    public void GramEqualsTheDenseFloat64Product(int d, int c, bool wide)
    {
        var (flat, w) = FloatJacobian(d, c, 41 + d + c);
        var gram = ClassMajorSpectrum.Gram(flat, d, c, wide);
        var dense = w.TransposeThisAndMultiply(w);
        for (int a = 0; a < c; a++)
            for (int b = 0; b < c; b++)
            {
                double scale = Math.Sqrt(dense[a, a] * dense[b, b]);
                Assert.That(gram[a * c + b], Is.EqualTo(dense[a, b]).Within(1e-13 * scale), $"G[{a},{b}]");
                Assert.That(gram[a * c + b], Is.EqualTo(gram[b * c + a]), "symmetric");
            }
    }

    /// <summary>Oracle: the eigenvalues of the dense d×d float64 H = W A Wᵀ (A the sub-block for a subset), largest first.</summary>
    private static double[] DenseEigenvalues(Matrix<double> w, double[] p)
    {
        var h = w * SoftmaxCurvature.Curvature(p) * w.Transpose();
        h = (h + h.Transpose()) * 0.5;
        return h.Evd(Symmetricity.Symmetric).EigenValues.Select(v => v.Real).OrderByDescending(v => v).ToArray();
    }

    [TestCase(60, 7, false)]
    [TestCase(300, 9, false)]
    [TestCase(5, 9, false)]
    [TestCase(80, 6, true)]
    public void EigenvaluesMatchTheDenseHessian(int d, int c, bool subset)
    {
        var (flat, w) = FloatJacobian(d, c, 50 + d);
        var p = HessianTestData.RandomProbabilities(c, 51 + c, temperature: 0.7);
        if (subset) p = p.Select(v => 0.8 * v).ToArray(); // the kept classes hold 80 % of the mass
        var values = ClassMajorSpectrum.Eigenvalues(flat, d, p, classSubset: subset);
        var dense = DenseEigenvalues(w, p);
        Assert.That(values[0], Is.EqualTo(dense[0]).Within(1e-6 * dense[0]), "L = λmax(H)");
        for (int k = 0; k < Math.Min(c, d); k++) Assert.That(values[k], Is.EqualTo(Math.Max(0, dense[k])).Within(1e-9 * dense[0]), $"λ{k}");
        for (int k = Math.Min(c, d); k < c; k++) Assert.That(values[k], Is.LessThan(1e-9 * dense[0]), "beyond min(d, c) the spectrum is zero");
        // The route of the float64 builders (HessianSpectrum on the widened W) agrees too.
        Assert.That(values[0], Is.EqualTo(HessianSpectrum.Compute(w, p, subset).LambdaMax).Within(1e-10 * dense[0]));
    }

    [Test]
    public void BadInputIsRefused()
    {
        var (flat, _) = FloatJacobian(10, 3, 1);
        var p = HessianTestData.RandomProbabilities(3, 2);
        Assert.Throws<HessianInputException>(() => ClassMajorSpectrum.Eigenvalues(flat.AsSpan(1), 10, p));
        Assert.Throws<HessianInputException>(() => ClassMajorSpectrum.Gram(flat.AsSpan(1), 10, 3));
        flat[17] = float.PositiveInfinity;
        var e = Assert.Throws<HessianInputException>(() => ClassMajorSpectrum.Eigenvalues(flat, 10, p));
        Assert.That(e!.Message, Does.Contain("row 7 of class column 1"));
        Assert.Throws<ProbabilityVectorException>(() => ClassMajorSpectrum.Eigenvalues(new float[30], 10, [0.5, 0.2, 0.2]));
    }
}
