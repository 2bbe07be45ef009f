using MathNet.Numerics.LinearAlgebra;
using NUnit.Framework;
using Saliency.Linalg.Hessian;

namespace Saliency.Linalg.Tests.Hessian;

[TestFixture]
internal class HessianSpectrumTests
{
    // (d, c): tall, square-ish, wide (d < c: H has rank ≤ d), single class, single pixel, and d = 500.
    [TestCase(20, 5, 1)]
    [TestCase(37, 23, 2)]
    [TestCase(12, 40, 3)]
    [TestCase(1, 6, 4)]
    [TestCase(8, 1, 5)]
    [TestCase(500, 30, 6)]
    public void EigenvaluesMatchDenseEigendecomposition(int d, int c, int seed)
    {
        var w = HessianTestData.RandomJacobian(d, c, seed);
        var p = HessianTestData.RandomProbabilities(c, seed + 100);
        var dense = HessianTestData.DescendingEigenvalues(HessianTestData.DenseHessian(w, p));
        var spectrum = HessianSpectrum.Compute(w, p);

        double scale = Math.Max(dense[0], 1e-300);
        int shared = Math.Min(d, c);
        for (int i = 0; i < shared; i++)
            Assert.That(spectrum.Eigenvalues[i], Is.EqualTo(dense[i]).Within(1e-10 * scale), $"eigenvalue {i}");
        // Eigenvalues the reduced problem lists beyond d, and dense ones beyond c, are zero.
        for (int i = shared; i < c; i++) Assert.That(spectrum.Eigenvalues[i], Is.LessThan(1e-10 * scale));
        for (int i = shared; i < d; i++) Assert.That(Math.Abs(dense[i]), Is.LessThan(1e-10 * scale));
        Assert.That(spectrum.LambdaMax, Is.EqualTo(dense[0]).Within(1e-12 * scale));
        // A = diag(p) − ppᵀ has rank c − 1 (1 ⊥ ...), so H has rank ≤ min(d, c − 1).
        Assert.That(spectrum.Rank, Is.LessThanOrEqualTo(Math.Min(d, c - 1)));
    }

    [TestCase(40, 9, 7)]
    [TestCase(500, 12, 8)]
    public void EigenvectorsAreOrthonormalEigenpairsOfDenseH(int d, int c, int seed)
    {
        var w = HessianTestData.RandomJacobian(d, c, seed);
        var p = HessianTestData.RandomProbabilities(c, seed + 1);
        var h = HessianTestData.DenseHessian(w, p);
        var spectrum = HessianSpectrum.Compute(w, p);
        int k = spectrum.Rank;
        Assert.That(k, Is.EqualTo(Math.Min(d, c - 1)));
        var u = spectrum.TopEigenvectors(k);
        var gram = u.TransposeThisAndMultiply(u);
        Assert.That((gram - Matrix<double>.Build.DenseIdentity(k)).FrobeniusNorm(), Is.LessThan(1e-9));
        for (int j = 0; j < k; j++)
        {
            var residual = h * u.Column(j) - spectrum.Eigenvalues[j] * u.Column(j);
            Assert.That(residual.L2Norm(), Is.LessThan(1e-9 * spectrum.LambdaMax), $"eigenpair {j}");
        }
    }

    [Test]
    public void FrobeniusNormMatchesDense()
    {
        var w = HessianTestData.RandomJacobian(60, 15, 9);
        var p = HessianTestData.RandomProbabilities(15, 10);
        var h = HessianTestData.DenseHessian(w, p);
        double dense = h.FrobeniusNorm();
        Assert.That(HessianSpectrum.Compute(w, p).FrobeniusNormSquared, Is.EqualTo(dense * dense).Within(1e-10 * dense * dense));
    }

    [Test]
    public void AveragedSpectrumOfNoisyCopiesMatchesDenseAverage()
    {
        // Smooth CASO: H̄ = (1/n) Σ Wⱼ Aⱼ Wⱼᵀ, via the stacked factor.
        int d = 30, c = 6, n = 4;
        var terms = Enumerable.Range(0, n).Select(j =>
            new HessianTerm(HessianTestData.RandomJacobian(d, c, 20 + j), HessianTestData.RandomProbabilities(c, 40 + j), 1.0 / n)).ToArray();
        var dense = Matrix<double>.Build.Dense(d, d);
        foreach (var t in terms) dense += HessianTestData.DenseHessian(t.Jacobian, t.Probabilities, t.Weight);
        var expected = HessianTestData.DescendingEigenvalues(dense);
        var spectrum = HessianSpectrum.Compute(terms);
        for (int i = 0; i < Math.Min(d, n * c); i++)
            Assert.That(spectrum.Eigenvalues[i], Is.EqualTo(expected[i]).Within(1e-10 * expected[0]));
        var u = spectrum.TopEigenvectors(3);
        for (int j = 0; j < 3; j++)
            Assert.That((dense * u.Column(j) - spectrum.Eigenvalues[j] * u.Column(j)).L2Norm(), Is.LessThan(1e-9 * expected[0]));
    }

    [Test]
    public void ClassSubsetSpectrumMatchesDenseSubBlockHessian()
    {
        var w = HessianTestData.RandomJacobian(25, 10, 12);
        var full = HessianTestData.RandomProbabilities(10, 13, 0.5);
        var keep = Enumerable.Range(0, 10).OrderByDescending(i => full[i]).Take(4).ToArray();
        var wSub = Matrix<double>.Build.DenseOfColumns(keep.Select(i => w.Column(i)));
        var pSub = keep.Select(i => full[i]).ToArray();
        var expected = HessianTestData.DescendingEigenvalues(HessianTestData.DenseHessian(wSub, pSub));
        var spectrum = HessianSpectrum.Compute(wSub, pSub, classSubset: true);
        for (int i = 0; i < 4; i++) Assert.That(spectrum.Eigenvalues[i], Is.EqualTo(expected[i]).Within(1e-10 * expected[0]));
    }

    [Test]
    public void BadInputGivesTypedExceptions()
    {
        var w = HessianTestData.RandomJacobian(5, 3, 1);
        Assert.Throws<HessianInputException>(() => HessianSpectrum.Compute(w, new[] { 0.5, 0.5 }));
        Assert.Throws<ProbabilityVectorException>(() => HessianSpectrum.Compute(w, new[] { 0.5, 0.6, 0.1 }));
        Assert.Throws<ProbabilityVectorException>(() => HessianSpectrum.Compute(w, new[] { 0.5, 0.6, -0.1 }));
        var bad = w.Clone();
        bad[2, 1] = double.PositiveInfinity;
        Assert.Throws<HessianInputException>(() => HessianSpectrum.Compute(bad, new[] { 0.2, 0.3, 0.5 }));
        Assert.Throws<HessianInputException>(() => HessianSpectrum.Compute(Array.Empty<HessianTerm>()));
        var other = new HessianTerm(HessianTestData.RandomJacobian(6, 3, 2), new[] { 0.2, 0.3, 0.5 });
        Assert.Throws<HessianInputException>(() => HessianSpectrum.Compute([new HessianTerm(w, new[] { 0.2, 0.3, 0.5 }), other]));
        Assert.Throws<HessianInputException>(() => HessianSpectrum.Compute([new HessianTerm(w, new[] { 0.2, 0.3, 0.5 }, Weight: -1)]));
        var spectrum = HessianSpectrum.Compute(w, new[] { 0.2, 0.3, 0.5 });
        Assert.Throws<ArgumentOutOfRangeException>(() => spectrum.TopEigenvectors(spectrum.Rank + 1));
    }
}
