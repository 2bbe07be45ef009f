using MathNet.Numerics.LinearAlgebra;
using NUnit.Framework;
using Saliency.Linalg.Hessian;

namespace Saliency.Linalg.Tests.Hessian;

[TestFixture]
internal class RankOneDiagnosticsTests
{
    [TestCase(40, 8, 1, 0.9)]
    [TestCase(15, 30, 2, 0.5)]
    [TestCase(200, 50, 3, 0.99)]
    public void MatchesDenseComputation(int d, int c, int seed, double topProbability)
    {
        var w = HessianTestData.RandomJacobian(d, c, seed);
        var p = HessianTestData.TheoremProbabilities(c, 1 - topProbability);
        var h = HessianTestData.DenseHessian(w, p);
        var r = Vector<double>.Build.Dense(c, i => p[i] - (i == 0 ? 1 : 0));
        var g = w * r;
        double kappa = 1 - topProbability;
        double expectedRel = (h - g.OuterProduct(g) / kappa).FrobeniusNorm() / h.FrobeniusNorm();

        var evd = h.Evd(MathNet.Numerics.LinearAlgebra.Symmetricity.Symmetric);
        int top = Enumerable.Range(0, d).MaxBy(i => evd.EigenValues[i].Real);
        var u1 = evd.EigenVectors.Column(top);
        double expectedCos = Math.Abs(u1.DotProduct(g)) / g.L2Norm();
        double l1 = evd.EigenValues[top].Real;
        double expectedBest = (h - l1 * u1.OuterProduct(u1)).FrobeniusNorm() / h.FrobeniusNorm();

        var diag = RankOneDiagnostics.Compute(w, p);
        Assert.That(diag.RelativeError, Is.EqualTo(expectedRel).Within(1e-8));
        Assert.That(diag.TopEigenvectorCosine, Is.EqualTo(expectedCos).Within(1e-8));
        Assert.That(diag.BestRankOneRelativeError, Is.EqualTo(expectedBest).Within(1e-7));
        Assert.That(diag.OffTopMass, Is.EqualTo(kappa).Within(1e-15));
        Assert.That(diag.GradientNormSquared, Is.EqualTo(g.DotProduct(g)).Within(1e-10 * g.DotProduct(g)));
        // The best rank-one approximation is never worse than the theorem's.
        Assert.That(diag.BestRankOneRelativeError, Is.LessThanOrEqualTo(diag.RelativeError + 1e-12));
    }

    [Test]
    public void Theorem4_RankOneErrorFallsAsClassesGrow()
    {
        // Top probability 1 − (c−1)ε with (c−1)ε = 0.01, random Gaussian W (d = 500). Heuristically the relative error
        // behaves like √(1/c + 1/d) (the dropped part ε(I − 11ᵀ/(c−1)) against the rank-one part of size ε(c−1)).
        int d = 500;
        var errors = new List<double>();
        var cosines = new List<double>();
        foreach (int c in new[] { 10, 100, 1000 })
        {
            var w = HessianTestData.RandomJacobian(d, c, 1000 + c);
            var diag = RankOneDiagnostics.Compute(w, HessianTestData.TheoremProbabilities(c, 0.01), includeEigen: c <= 100);
            errors.Add(diag.RelativeError);
            cosines.Add(diag.TopEigenvectorCosine);
            TestContext.Out.WriteLine($"c = {c}: relative error {diag.RelativeError:F4}, top-eigenvector cosine {diag.TopEigenvectorCosine:F5}, heuristic {Math.Sqrt(1.0 / c + 1.0 / d):F4}");
        }
        Assert.That(errors[1], Is.LessThan(errors[0]));
        Assert.That(errors[2], Is.LessThan(errors[1]));
        Assert.That(errors[0], Is.GreaterThan(0.2), "c = 10 is far from rank one");
        Assert.That(errors[2], Is.LessThan(0.1), "c = 1000 is close to rank one");
        Assert.That(cosines[1], Is.GreaterThan(cosines[0]));
        Assert.That(cosines[1], Is.GreaterThan(0.99));
    }

    [Test]
    public void LowConfidenceIsNotRankOne()
    {
        // Same c = 100 but top probability 0.3: the theorem's regime does not hold and the error stays large.
        var w = HessianTestData.RandomJacobian(300, 100, 77);
        var high = RankOneDiagnostics.Compute(w, HessianTestData.TheoremProbabilities(100, 0.01));
        var low = RankOneDiagnostics.Compute(w, HessianTestData.TheoremProbabilities(100, 0.7));
        Assert.That(low.RelativeError, Is.GreaterThan(2 * high.RelativeError));
    }

    [Test]
    public void BadInputGivesTypedExceptions()
    {
        var w = HessianTestData.RandomJacobian(5, 3, 1);
        Assert.Throws<HessianInputException>(() => RankOneDiagnostics.Compute(w, new[] { 0.2, 0.8 }));
        Assert.Throws<HessianInputException>(() => RankOneDiagnostics.Compute(w, new[] { 0.2, 0.3, 0.5 }, target: 3));
        Assert.Throws<HessianInputException>(() => RankOneDiagnostics.Compute(w, new[] { 1.0, 0.0, 0.0 }));
        Assert.Throws<ProbabilityVectorException>(() => RankOneDiagnostics.Compute(w, new[] { 0.2, 0.3, 0.4 }));
    }
}
