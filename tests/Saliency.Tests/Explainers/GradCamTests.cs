using NUnit.Framework;
using Saliency.Explainers;
using Saliency.Models.Classifiers;
using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;
using Saliency.TestSupport;

namespace Saliency.Tests.Explainers;

/// <summary>
/// Grad-CAM against a hand computation on Conv(stride 2) → ReLU → GlobalAveragePool → Gemm, where
/// <c>y_t = Σ_k V[t,k]·mean(A_k) + b_t</c>, so <c>∂y_t/∂A_kij = V[t,k]/(hw)</c> and <c>α_k = V[t,k]/(hw)</c> in closed form;
/// the tapped gradient on the bundled LeNet's last conv against float64 central differences of the reference
/// evaluator; the default layer rule; and the typed errors. Through <see cref="SingleScoreClassifier"/> (one score alone,
/// the CLI's <c>--channel</c>) the view's class 1 is score i, so the same closed form holds with t = i, and its constant
/// class 0 has α = 0.
/// </summary>
[TestFixture]
internal sealed class GradCamTests
{
    // 1×8×8 image → conv 3×3, stride 2, pad 1, K = 3 → A [3, 4, 4] → ReLU → GAP → Gemm to 4 classes.
    private const int Size = 8, K = 3, H = 4, Classes = 4;
    private float[] _kernel = [], _bias = [], _v = [], _c = [];
    private ModelProto _model = null!;
    private OnnxClassifier _conv = null!;
    private OnnxClassifier _lenet = null!;

    [OneTimeSetUp]
    public void Open()
    {
        var rng = new Random(5);
        float U(double scale) => (float)(scale * (2 * rng.NextDouble() - 1));
        _kernel = Enumerable.Range(0, K * 9).Select(_ => U(1)).ToArray();
        _bias = Enumerable.Range(0, K).Select(_ => U(0.3)).ToArray();
        _v = Enumerable.Range(0, Classes * K).Select(_ => U(2)).ToArray();
        _c = Enumerable.Range(0, Classes).Select(_ => U(0.5)).ToArray();
        var b = new OnnxGraphBuilder("gradcam_oracle");
        string x = b.Input("input", OnnxElementType.Float, "N", 1, Size, Size);
        string a = b.Conv(x, b.Initializer("w", _kernel, K, 1, 3, 3), b.Initializer("b", _bias, K), [2, 2], [1, 1, 1, 1], name: "conv");
        string h = b.Flatten(b.GlobalAveragePool(b.Relu(a, name: "relu"), name: "gap"));
        h = b.Gemm(h, b.Initializer("v", _v, Classes, K), b.Initializer("c", _c, Classes), transB: true, name: "logits");
        b.Output(h, OnnxElementType.Float, "N", Classes);
        _model = b.Build();
        _conv = OnnxClassifier.Create(_model);
        _lenet = OnnxClassifier.Create(RepoFiles.LeNetModel);
    }

    [OneTimeTearDown]
    public void Close()
    {
        _conv.Dispose();
        _lenet.Dispose();
    }

    /// <summary>A = conv(x) by the definition (cross-correlation, zero padding), in float64.</summary>
    private double[] Activation(float[] x, bool relu)
    {
        var a = new double[K * H * H];
        for (int k = 0; k < K; k++)
            for (int i = 0; i < H; i++)
                for (int j = 0; j < H; j++)
                {
                    double s = _bias[k];
                    for (int u = 0; u < 3; u++)
                        for (int v = 0; v < 3; v++)
                        {
                            int y = 2 * i - 1 + u, xx = 2 * j - 1 + v;
                            if (y >= 0 && y < Size && xx >= 0 && xx < Size) s += _kernel[k * 9 + u * 3 + v] * x[y * Size + xx];
                        }
                    a[(k * H + i) * H + j] = relu ? Math.Max(0, s) : s;
                }
        return a;
    }

    /// <summary>Bilinear resize with half-pixel centres (align_corners=False), written out independently of Upsampling.</summary>
    private static double[] Bilinear(double[] grid, int h, int w, int outH, int outW)
    {
        var result = new double[outH * outW];
        for (int y = 0; y < outH; y++)
            for (int x = 0; x < outW; x++)
            {
                double sy = Math.Max(0, (y + 0.5) * h / outH - 0.5), sx = Math.Max(0, (x + 0.5) * w / outW - 0.5);
                int y0 = (int)sy, x0 = (int)sx, y1 = Math.Min(y0 + 1, h - 1), x1 = Math.Min(x0 + 1, w - 1);
                double fy = sy - y0, fx = sx - x0;
                result[y * outW + x] = (1 - fy) * ((1 - fx) * grid[y0 * w + x0] + fx * grid[y0 * w + x1])
                                       + fy * ((1 - fx) * grid[y1 * w + x0] + fx * grid[y1 * w + x1]);
            }
        return result;
    }

    private static float[] RandomImage(int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, Size * Size).Select(_ => (float)rng.NextDouble()).ToArray();
    }

    /// <summary>
    /// α and the coarse map of score <paramref name="score"/> in closed form: ∂y/∂(ReLU output) = V[score,k]/16 everywhere;
    /// through the ReLU (layer "conv") it is V[score,k]/16 where A &gt; 0, else 0.
    /// </summary>
    private (double[] Alpha, double[] Cam) ClosedForm(float[] x, int score, bool tappedRelu)
    {
        var a = Activation(x, relu: true);
        var pre = Activation(x, relu: false);
        var alpha = new double[K];
        for (int k = 0; k < K; k++)
        {
            int active = Enumerable.Range(0, H * H).Count(i => pre[k * H * H + i] > 0);
            alpha[k] = _v[score * K + k] / 16.0 * (tappedRelu ? 1 : active / 16.0);
        }
        var tapped = tappedRelu ? a : pre;
        var cam = Enumerable.Range(0, H * H).Select(i => Math.Max(0, Enumerable.Range(0, K).Sum(k => alpha[k] * tapped[k * H * H + i]))).ToArray();
        return (alpha, cam);
    }

    [TestCase(null, 11)]
    [TestCase("conv", 11)]
    [TestCase("relu", 12)]
    public void MatchesTheHandComputationOnConvGapGemm(string? layer, int seed)
    {
        var x = RandomImage(seed);
        const int target = 2;
        var explanation = new GradCamExplainer(new GradCamOptions { Layer = layer }).Explain(_conv, x, target);
        var report = explanation.Report;
        // Default rule: the last Conv/activation output with h, w ≥ 2 → the ReLU.
        Assert.That(report.Layer, Is.EqualTo(layer ?? "relu"));
        Assert.That(report.ActivationShape, Is.EqualTo((K, H, H)));

        var (alpha, cam) = ClosedForm(x, target, tappedRelu: layer != "conv");
        Assert.That(report.Weights, Is.EqualTo(alpha).Within(1e-6));
        Assert.That(report.CoarseMap, Is.EqualTo(cam).Within(1e-5 * cam.Max() + 1e-7));
        Assert.That(cam.Count(v => v > 0), Is.GreaterThan(0), "the oracle case must not be all zero");
        // The public report: the layer, its shape, how many α_k are positive and how many cells eq. 2's ReLU zeroed.
        Assert.That(BaselineReports.From(report),
            Is.EqualTo(new Saliency.GradCamReport(layer ?? "relu", K, H, H, alpha.Count(v => v > 0), cam.Count(v => v == 0))));

        var map = explanation.Map;
        Assert.That((map.Channels, map.Height, map.Width), Is.EqualTo((1, Size, Size)));
        var expected = Bilinear(cam, H, H, Size, Size);
        Assert.That(map.Values.Select(v => (double)v), Is.EqualTo(expected).Within(1e-5 * cam.Max() + 1e-7));
        Assert.That(report.Runs, Is.EqualTo(new ModelRuns(0, 1, 1)));
        Assert.That(explanation.Scores.LogitsOf(0).ToArray(), Is.EqualTo(_conv.Predict(x).Logits).Within(1e-5));
    }

    [TestCase(2, "relu", 13)]
    [TestCase(1, "conv", 14)]
    [TestCase(3, null, 15)]
    public void GradCamOfOneScoreAloneIsGradCamOfThatScore(int score, string? layer, int seed)
    {
        var x = RandomImage(seed);
        using var view = new SingleScoreClassifier(_conv, score, offset: 0.7f);
        var explanation = new GradCamExplainer(new GradCamOptions { Layer = layer }).Explain(view, x, target: 1);
        var (alpha, cam) = ClosedForm(x, score, tappedRelu: layer != "conv");
        Assert.That(explanation.Report.Weights, Is.EqualTo(alpha).Within(1e-6));
        Assert.That(explanation.Report.CoarseMap, Is.EqualTo(cam).Within(1e-5 * cam.Max() + 1e-7));
        Assert.That(cam.Max(), Is.GreaterThan(0), "the oracle case must not be all zero");
        Assert.That(explanation.Map.Values.Select(v => (double)v), Is.EqualTo(Bilinear(cam, H, H, Size, Size)).Within(1e-5 * cam.Max() + 1e-7));
        // The view's scores [b, z_i], from the same tapped run.
        var logits = _conv.Predict(x).LogitsOf(0);
        Assert.That(explanation.Scores.LogitsOf(0).ToArray(), Is.EqualTo(new[] { 0.7f, logits[score] }).Within(1e-5));
        // The same run as Grad-CAM of target i on the model itself (cotangent e_i either way): the same map, bit for bit.
        var direct = new GradCamExplainer(new GradCamOptions { Layer = layer }).Explain(_conv, x, score);
        Assert.That(explanation.Map.Values, Is.EqualTo(direct.Map.Values));

        // Class 0 is the constant b: nothing reaches A, every α_k is 0 and eq. 2's ReLU zeroes every cell.
        var constant = new GradCamExplainer(new GradCamOptions { Layer = layer }).Explain(view, x, target: 0);
        Assert.That(constant.Report.Weights, Is.All.EqualTo(0));
        Assert.That(constant.Map.Values, Is.All.EqualTo(0f));
        var report = BaselineReports.From(constant.Report);
        Assert.That((report.PositiveWeights, report.ClippedCells), Is.EqualTo((0, H * H)));
    }

    [Test]
    public void TheViewCarriesEachCotangentRowToItsScore()
    {
        // Rows (u₀, u₁) of the view's two logits [b, z_i]: row r of ∂/∂A is u₁·∂z_i/∂A = u₁·V[i,k]/16 at the ReLU output.
        const int score = 3;
        var x = RandomImage(16);
        using var view = new SingleScoreClassifier(_conv, score, offset: -1.5f);
        var tapped = ((ILayerGradientSource)view).LayerGradient(x, [1f, 0.5f, -2f, 3f], "relu");
        Assert.That((tapped.Layer, tapped.Count), Is.EqualTo(("relu", 2)));
        Assert.That(tapped.Shape, Is.EqualTo(new long[] { K, H, H }));
        Assert.That(tapped.Activation.Select(v => (double)v), Is.EqualTo(Activation(x, relu: true)).Within(1e-5));
        float[] u1 = [0.5f, 3f];
        var expected = Enumerable.Range(0, 2 * K * H * H).Select(j => u1[j / (K * H * H)] * _v[score * K + j % (K * H * H) / (H * H)] / 16.0).ToArray();
        Assert.That(tapped.Gradients.Select(v => (double)v), Is.EqualTo(expected).Within(1e-6));
        Assert.That(tapped.Scores.LogitsOf(0)[0], Is.EqualTo(-1.5f));
        Assert.Throws<ArgumentException>(() => ((ILayerGradientSource)view).LayerGradient(x, [1f, 0.5f, 2f], "relu"));
        Assert.Throws<ArgumentException>(() => ((ILayerGradientSource)view).LayerGradient(x, [float.NaN, 0.5f], "relu"));
    }

    [Test]
    public void TheTappedGradientOnLeNetsLastConvMatchesFiniteDifferences()
    {
        var digit = BundledLeNet.Digits().ImageFloats(3);
        var model = BundledLeNet.Model().Proto;
        var conv = model.Graph.Node.Last(n => n.OpType == "Conv");
        int target = _lenet.Predict(digit).PredictedClass();
        var cotangent = new float[10];
        cotangent[target] = 1f;
        var tapped = _lenet.LayerGradient(digit, cotangent, conv.Name.Length > 0 ? conv.Name : conv.Output[0]);
        Assert.That(tapped.Layer, Is.EqualTo(conv.Output[0]));
        Assert.That(tapped.Count, Is.EqualTo(1));

        // Central differences of the float64 reference evaluator with the conv output fed (overridden) entry by entry.
        var evaluator = new ReferenceEvaluator(model);
        string input = model.Graph.Input[0].Name, output = model.Graph.Output[0].Name;
        long[] shape = [1, .. tapped.Shape];
        var feeds = new Dictionary<string, ReferenceTensor> { [input] = ReferenceTensor.FromFloats(digit, 1, 1, 28, 28) };
        var a = evaluator.Evaluate(conv.Output[0], feeds);
        Assert.That(a.Data.Select(v => (float)v), Is.EqualTo(tapped.Activation).Within(1e-4));
        const double eps = 1e-4;
        int h = (int)tapped.Shape[1], w = (int)tapped.Shape[2];
        double scale = tapped.Gradients.Max(Math.Abs);
        int checkedEntries = 0;
        for (int i = 0; i < a.Length; i += 7)
        {
            // A kink within ε makes the difference one-sided: skip entries near the ReLU's 0 and entries tied with
            // another in their 2×2 max-pool window (flat background gives exactly equal conv outputs).
            if (Math.Abs(a.Data[i]) < 1e-2 || TiedInPoolWindow(a.Data, i, h, w)) continue;
            double Logit(double delta)
            {
                var fed = a.Clone();
                fed.Data[i] += delta;
                var f = new Dictionary<string, ReferenceTensor>(feeds) { [conv.Output[0]] = new ReferenceTensor(fed.Data, shape) };
                return evaluator.Run(f)[output].Data[target];
            }
            double fd = (Logit(eps) - Logit(-eps)) / (2 * eps);
            Assert.That(tapped.Gradients[i], Is.EqualTo(fd).Within(1e-4 * scale), $"entry {i}");
            checkedEntries++;
        }
        Assert.That(checkedEntries, Is.GreaterThan(100));
        Assert.That(scale, Is.GreaterThan(0));
    }

    private static bool TiedInPoolWindow(double[] a, int i, int h, int w)
    {
        int plane = h * w, k = i / plane, row = i % plane / w, col = i % w;
        for (int dy = 0; dy < 2; dy++)
            for (int dx = 0; dx < 2; dx++)
            {
                int j = k * plane + (row / 2 * 2 + dy) * w + col / 2 * 2 + dx;
                if (j != i && Math.Abs(a[j] - a[i]) < 1e-3) return true;
            }
        return false;
    }

    [Test]
    public void LeNetsDefaultLayerIsTheLastConvReluAndTheMapFollowsTheDefinition()
    {
        var digit = BundledLeNet.Digits().ImageFloats(7);
        var explanation = new GradCamExplainer().Explain(_lenet, digit);
        var model = BundledLeNet.Model().Proto;
        var producer = model.Graph.Node.Single(n => n.Output.Contains(explanation.Report.Layer));
        Assert.That(producer.OpType, Is.EqualTo("Relu"));
        Assert.That(producer.Input[0], Is.EqualTo(model.Graph.Node.Last(n => n.OpType == "Conv").Output[0]));
        Assert.That(explanation.Report.Runs, Is.EqualTo(new ModelRuns(1, 1, 2)));

        var cotangent = new float[10];
        cotangent[explanation.Target] = 1f;
        var tapped = _lenet.LayerGradient(digit, cotangent);
        var (k, h, w) = explanation.Report.ActivationShape;
        int plane = h * w;
        var cam = new double[plane];
        for (int c = 0; c < k; c++)
        {
            double alpha = Enumerable.Range(0, plane).Sum(i => (double)tapped.Gradients[c * plane + i]) / plane;
            for (int i = 0; i < plane; i++) cam[i] += alpha * tapped.Activation[c * plane + i];
        }
        cam = cam.Select(v => Math.Max(0, v)).ToArray();
        Assert.That(explanation.Report.CoarseMap, Is.EqualTo(cam).Within(1e-9));
        Assert.That(explanation.Map.Values.Select(v => (double)v), Is.EqualTo(Bilinear(cam, h, w, 28, 28)).Within(1e-6 * cam.Max()));
        Assert.That(cam.Max(), Is.GreaterThan(0));
    }

    [Test]
    public void AModelWithoutASpatialLayerIsATypedError()
    {
        // 1×3×3 image → conv 3×3 (no padding) → [2, 1, 1] → ReLU → Flatten → Gemm: an image model whose only conv output is 1×1.
        var rng = new Random(2);
        var b = new OnnxGraphBuilder("no_spatial");
        string x = b.Input("input", OnnxElementType.Float, "N", 1, 3, 3);
        string h = b.Flatten(b.Relu(b.Conv2d(x, 1, 2, 3, rng, name: "conv")));
        b.Output(b.Linear(h, 2, 3, rng, name: "logits"), OnnxElementType.Float, "N", 3);
        using var model = OnnxClassifier.Create(b.Build());
        var e = Assert.Throws<ExplainerInputException>(() => new GradCamExplainer().Explain(model, new float[9]))!;
        Assert.That(e.Message, Does.Contain("no spatial layer"));
    }

    [Test]
    public void BadLayersAndClassifiersAreTypedErrors()
    {
        var x = RandomImage(1);
        var unknown = Assert.Throws<ExplainerInputException>(() => new GradCamExplainer(new GradCamOptions { Layer = "nope" }).Explain(_conv, x))!;
        Assert.That(unknown.Message, Does.Contain("'nope'"));
        // The Gemm output [1, 4] is tapped fine but is not spatial.
        var flat = Assert.Throws<ExplainerInputException>(() => new GradCamExplainer(new GradCamOptions { Layer = "logits" }).Explain(_conv, x))!;
        Assert.That(flat.Message, Does.Contain("spatial"));
        Assert.Throws<ExplainerInputException>(() => new GradCamExplainer(new GradCamOptions { Layer = "" }).Explain(_conv, x));
        var wrapped = new CountingClassifier(_conv);
        var e = Assert.Throws<ExplainerInputException>(() => new GradCamExplainer().Explain(wrapped, x))!;
        Assert.That(e.Message, Does.Contain("inner layers"));
        Assert.That(wrapped.Calls, Is.Empty, "validated before any model run");
        // A single-score view passes layers through only when what it wraps exposes them.
        using var view = new SingleScoreClassifier(wrapped, 1);
        Assert.That(((ILayerGradientSource)view).ExposesLayers, Is.False);
        var viewError = Assert.Throws<ExplainerInputException>(() => new GradCamExplainer().Explain(view, x, target: 1))!;
        Assert.That(viewError.Message, Does.Contain("inner layers"));
        Assert.Throws<NotSupportedException>(() => ((ILayerGradientSource)view).LayerGradient(x, [0f, 1f]));
        Assert.That(wrapped.Calls, Is.Empty, "validated before any model run");
        Assert.Throws<ExplainerInputException>(() => new GradCamExplainer().Explain(_conv, x, target: Classes));
    }
}
