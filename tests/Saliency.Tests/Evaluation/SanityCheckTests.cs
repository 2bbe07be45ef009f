using NUnit.Framework;
using Saliency.Evaluation;
using Saliency.Explainers;
using Saliency.Models.Onnx;
using Saliency.TestSupport;

namespace Saliency.Tests.Evaluation;

/// <summary>
/// The cascading-randomization sanity check on a model with a known function: a linear model's logit gradient is its
/// weight row, so after its only layer is re-drawn the map is the new row and every correlation is computable from the
/// two weight rows.
/// </summary>
[TestFixture]
internal sealed class SanityCheckTests
{
    [Test]
    public void ALinearModelsGradientMapBecomesTheNewWeightRow()
    {
        var linear = KnownFunctionModel.Create(1, 8, 8, classes: 4, seed: 31);
        var model = OnnxModel.FromProto(linear.Proto);
        var image = EvaluationOracles.Uniform(64, 32);
        const int target = 2;
        var options = new SanityCheckOptions { Seed = 9 };
        var result = SanityChecks.CascadingRandomization(model, [new GradientExplainer()], [image], [target], options);

        Assert.That(result.Layers, Has.Count.EqualTo(1));
        Assert.That(result.Comparisons, Has.Count.EqualTo(2));
        var original = result.Comparisons[0];
        Assert.That((original.Depth, original.Ssim), Is.EqualTo((0, 1.0)));
        Assert.That(original.SpearmanSigned, Is.EqualTo(1).Within(1e-12));
        Assert.That(original.SpearmanAbsolute, Is.EqualTo(1).Within(1e-12));

        // The new weights, read back from the randomized model bytes.
        var step = ModelRandomization.Cascade(model, 1, options.Seed);
        var (w, _) = OnnxModel.Parse(step.ModelBytes).GetFloatInitializer("W");
        var oldRow = Enumerable.Range(0, 64).Select(i => linear.Weight(target, i)).ToArray();
        var newRow = w.AsSpan(target * 64, 64).ToArray();
        var randomized = result.Comparisons[1];
        Assert.That(randomized.Depth, Is.EqualTo(1));
        Assert.That(randomized.Layer, Is.EqualTo("W"));
        Assert.That(randomized.SpearmanSigned, Is.EqualTo(EvaluationOracles.Spearman(oldRow, newRow.Select(v => (double)v).ToArray())).Within(1e-12));
        Assert.That(randomized.SpearmanAbsolute,
            Is.EqualTo(EvaluationOracles.Spearman(oldRow.Select(Math.Abs).ToArray(), newRow.Select(v => (double)Math.Abs(v)).ToArray())).Within(1e-12));
        var oldMap = new SaliencyMap(linear.Weights.AsSpan(target * 64, 64).ToArray(), 1, 8, 8);
        var newMap = new SaliencyMap(newRow, 1, 8, 8);
        Assert.That(randomized.Ssim, Is.EqualTo(Ssim.Compute(oldMap.Normalized, newMap.Normalized, 8, 8)).Within(1e-12));
        Assert.That(randomized.MaxAbs, Is.EqualTo(newRow.Max(Math.Abs)).Within(1e-6));
        Assert.That(randomized.SpearmanSigned, Is.LessThan(0.9));

        // The probability under the randomized model, from its logits in closed form.
        var (bias, _) = OnnxModel.Parse(step.ModelBytes).GetFloatInitializer("b");
        var z = Enumerable.Range(0, 4).Select(k => bias[k] + Enumerable.Range(0, 64).Sum(i => (double)w[k * 64 + i] * image[i])).ToArray();
        Assert.That(randomized.TargetProbability, Is.EqualTo(Math.Exp(z[target]) / z.Sum(Math.Exp)).Within(1e-5));
    }

    [Test]
    public void TheSummaryAveragesOverImagesAndCountsUndefinedCorrelations()
    {
        var linear = KnownFunctionModel.Create(1, 8, 8, classes: 3, seed: 33);
        var images = new[] { EvaluationOracles.Uniform(64, 34), EvaluationOracles.Uniform(64, 35) };
        var result = SanityChecks.CascadingRandomization(OnnxModel.FromProto(linear.Proto), [new GradientExplainer(), new ZeroExplainer()], images);
        // The class the original model predicts, per image.
        for (int i = 0; i < 2; i++)
        {
            var z = linear.Logits(images[i]);
            Assert.That(result.Targets[i], Is.EqualTo(Array.IndexOf(z, z.Max())));
        }
        var summary = result.Summary();
        Assert.That(summary, Has.Count.EqualTo(4));
        var gradient = summary.Single(s => s.MethodIndex == 0 && s.Depth == 1);
        var rows = result.Comparisons.Where(c => c.MethodIndex == 0 && c.Depth == 1).ToArray();
        Assert.That(gradient.SpearmanSigned, Is.EqualTo(rows.Average(r => r.SpearmanSigned)).Within(1e-15));
        Assert.That(gradient.Ssim, Is.EqualTo(rows.Average(r => r.Ssim)).Within(1e-15));
        var zero = summary.Single(s => s.MethodIndex == 1 && s.Depth == 1);
        Assert.That((zero.UndefinedCorrelations, zero.ZeroMaps, zero.MaxAbs), Is.EqualTo((2, 2, 0.0)));
        Assert.That(zero.SpearmanSigned, Is.NaN);
        Assert.That(zero.Ssim, Is.EqualTo(1.0));
    }

    [Test]
    public void BadInputIsRefusedBeforeAnyModelRun()
    {
        var model = OnnxModel.FromProto(KnownFunctionModel.Create(1, 4, 4, classes: 2, seed: 1).Proto);
        var image = new float[16];
        Assert.Throws<EvaluationInputException>(() => SanityChecks.CascadingRandomization(model, [], [image]));
        Assert.Throws<EvaluationInputException>(() => SanityChecks.CascadingRandomization(model, [new GradientExplainer()], []));
        Assert.Throws<EvaluationInputException>(() => SanityChecks.CascadingRandomization(model, [new GradientExplainer()], [image], [0, 1]));
        Assert.Throws<EvaluationInputException>(() =>
            SanityChecks.CascadingRandomization(model, [new GradientExplainer()], [image], options: new SanityCheckOptions { MaxDepth = 2 }));
        Assert.Throws<ExplainerInputException>(() => SanityChecks.CascadingRandomization(model, [new GradientExplainer()], [new float[15]]));
        Assert.Throws<ExplainerInputException>(() => SanityChecks.CascadingRandomization(model, [new GradientExplainer()], [image], [2]));
    }

    /// <summary>A method that always returns the zero map (a collapsed map).</summary>
    private sealed class ZeroExplainer : IExplainer
    {
        public string Name => "zero";

        public Explanation Explain(Saliency.Models.Classifiers.IClassifier classifier, ReadOnlySpan<float> image, int? target = null)
        {
            var scores = classifier.Predict(image);
            return new Explanation(Name, new SaliencyMap(new float[classifier.InputSize], 1, 8, 8), target ?? scores.PredictedClass(), scores, []);
        }
    }
}
