using NUnit.Framework;
using Saliency.Explainers;
using Saliency.Linalg.Grid;
using Saliency.Models.Classifiers;
using Saliency.Models.Runtime;
using Saliency.Solvers.Leg;
using Saliency.Solvers.Lp;
using Saliency.TestSupport;

namespace Saliency.Tests.Zoo;

/// <summary>
/// <c>explain</c>'s three families on every conformance-zoo model at every opset (tests/Fixtures/zoo): the gradient
/// (one Jacobian column), CASO (W A Wᵀ, λ1 sweep, FISTA) and LEG-TV (forward passes only, then the TV LP), with small
/// settings. Each explains torch's predicted class (the manifest's logits), must converge, and gives a finite, non-zero
/// map at the model's resolution. The W behind the first two is checked against finite differences in
/// Saliency.Models.Tests/Zoo; this fixture proves the explainers run end to end on these graphs.
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.None)]
public sealed class ZooExplainTests
{
    public static IEnumerable<TestCaseData> Models() =>
        ZooFixtures.Models.Select(m => new TestCaseData(m).SetArgDisplayNames(m.ToString()));

    /// <summary>LEG-TV on a coarse 8×8 grid (cells of 4×4 or 8×8 pixels) with 64 antithetic samples: seconds, not minutes.</summary>
    internal static LegExplainerOptions SmallLegTv() => new()
    {
        TotalVariation = true,
        Sampling = new LegOptions { Grid = new GridShape(8, 8), SampleCount = 64, Antithetic = true, Seed = 1 },
    };

    [TestCaseSource(nameof(Models))]
    public void GradientCasoAndLegTvExplainTorchsClass(ZooModel model)
    {
        using var classifier = OnnxClassifier.Create(model.Path, new InferenceSessionOptions { IntraOpThreads = 1 });
        var x = model.Input();
        int torchClass = Array.IndexOf(model.TorchLogits, model.TorchLogits.Max());
        Assert.That(classifier.Predict(x).PredictedClass(), Is.EqualTo(torchClass), "ONNX Runtime predicts torch's class");

        var gradient = new GradientExplainer().Explain(classifier, x);
        AssertMap(gradient, model, torchClass);

        var caso = new CasoExplainer().Explain(classifier, x);
        AssertMap(caso, model, torchClass);
        Assert.That(caso.Result.Converged, Is.True, $"CASO FISTA: {caso.Result.Status}");

        var legTv = new LegExplainer(SmallLegTv()).Explain(classifier, x);
        AssertMap(legTv, model, torchClass, (8, 8)); // LEG's map lives on its sampling grid
        Assert.That(legTv.Result.Solutions, Is.Not.Null);
        Assert.That(legTv.Result.Solutions!.Select(s => s.Status), Has.All.EqualTo(TvLpStatus.Optimal), "LEG-TV LP");
    }

    private static void AssertMap(Explanation e, ZooModel model, int torchClass, (int, int)? size = null)
    {
        Assert.That(e.Target, Is.EqualTo(torchClass), $"{e.Method}: target");
        Assert.That((e.Map.Height, e.Map.Width), Is.EqualTo(size ?? ((int)model.InputShape[2], (int)model.InputShape[3])), $"{e.Method}: map size");
        Assert.That(e.Map.Values, Has.All.Matches<float>(float.IsFinite), $"{e.Method}: finite map");
        Assert.That(e.Map.Values.Any(v => v != 0), Is.True, $"{e.Method}: the map is not all zero");
    }
}
