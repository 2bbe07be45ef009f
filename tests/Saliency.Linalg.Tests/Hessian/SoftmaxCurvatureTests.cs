using NUnit.Framework;
using Saliency.Linalg.Hessian;

namespace Saliency.Linalg.Tests.Hessian;

[TestFixture]
internal class SoftmaxCurvatureTests
{
    [TestCase(1, 1)]
    [TestCase(2, 2)]
    [TestCase(7, 3)]
    [TestCase(50, 4)]
    public void FactorReproducesCurvature_FullSimplex(int c, int seed)
    {
        var p = HessianTestData.RandomProbabilities(c, seed);
        var l = SoftmaxCurvature.Factor(p);
        var a = SoftmaxCurvature.Curvature(p);
        double err = (l * l.Transpose() - a).FrobeniusNorm();
        Assert.That(err, Is.LessThan(1e-14 * Math.Max(1, a.FrobeniusNorm()) + 1e-15));
    }

    [Test]
    public void FactorOfFullSimplexIsDiagSqrtPTimesProjector()
    {
        // The form diag(√p)(I − √p√pᵀ) of docs/mathematics.md exactly (α = 1 when Σp = 1).
        var p = HessianTestData.RandomProbabilities(9, 11);
        var s = p.Select(Math.Sqrt).ToArray();
        var expected = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(9, 9, (i, j) => s[i] * ((i == j ? 1 : 0) - s[i] * s[j]));
        Assert.That((SoftmaxCurvature.Factor(p) - expected).FrobeniusNorm(), Is.LessThan(1e-15));
    }

    [TestCase(10, 3, 5)]
    [TestCase(100, 64, 6)]
    [TestCase(5, 1, 7)]
    public void FactorReproducesCurvatureSubBlock_ClassSubset(int c, int kept, int seed)
    {
        // Top classes of a full softmax: Σp < 1; the factor must still give the exact sub-block of diag(p) − ppᵀ.
        var full = HessianTestData.RandomProbabilities(c, seed, temperature: 0.7);
        var p = full.OrderByDescending(v => v).Take(kept).ToArray();
        Assert.That(p.Sum(), Is.LessThan(1.0));
        var l = SoftmaxCurvature.Factor(p);
        double err = (l * l.Transpose() - SoftmaxCurvature.Curvature(p)).FrobeniusNorm();
        Assert.That(err, Is.LessThan(1e-14));
        Assert.DoesNotThrow(() => SoftmaxCurvature.ValidateProbabilities(p, classSubset: true));
        Assert.Throws<ProbabilityVectorException>(() => SoftmaxCurvature.ValidateProbabilities(p, classSubset: false));
    }

    [Test]
    public void RejectsVectorsThatAreNotProbabilities()
    {
        Assert.Throws<ProbabilityVectorException>(() => SoftmaxCurvature.ValidateProbabilities(new[] { 0.5, 0.6 }));
        Assert.Throws<ProbabilityVectorException>(() => SoftmaxCurvature.ValidateProbabilities(new[] { 1.2, -0.2 }));
        Assert.Throws<ProbabilityVectorException>(() => SoftmaxCurvature.ValidateProbabilities(new[] { double.NaN, 1.0 }));
        Assert.Throws<ProbabilityVectorException>(() => SoftmaxCurvature.ValidateProbabilities(Array.Empty<double>()));
        Assert.Throws<ProbabilityVectorException>(() => SoftmaxCurvature.ValidateProbabilities(new[] { 0.7, 0.6 }, classSubset: true));
        Assert.DoesNotThrow(() => SoftmaxCurvature.ValidateProbabilities(new[] { 0.25, 0.75 }));
    }
}
