using BenchmarkDotNet.Attributes;
using Saliency.Bench.Jacobian;
using Saliency.Explainers;
using Saliency.Models.Classifiers;
using Saliency.Models.Runtime;
using Saliency.TestSupport;

namespace Saliency.Bench.Explainers;

/// <summary>
/// One warm explanation per method on a 224×224×3 model (issue 11: "a report on a 224×224 model is timed per method
/// in a table"): the seeded ResNet-18-shaped <see cref="RandomModels.ResNet18"/> at width scale 1/16 (stage widths
/// 4, 8, 16, 32), 10 classes, one seeded uniform image. ONNX Runtime with one intra-op thread, CPU backend. Baseline:
/// the vanilla gradient (one Jacobian run), so the Ratio column is "method ÷ one gradient" in the same run.
/// Settings are each method's defaults except where 224² needs coarser features (stated per method).
/// </summary>
[Config(typeof(InProcessMonitoringConfig))]
public class ExplainerTimingBenchmarks
{
    private OnnxClassifier _classifier = null!;
    private float[] _image = [];
    private int _target;

    [GlobalSetup]
    public void Setup()
    {
        var model = RandomModels.ResNet18(seed: 11, classes: 10, size: 224, widthScale: 1.0 / 16);
        _classifier = OnnxClassifier.Create(model, new InferenceSessionOptions { IntraOpThreads = 1 });
        var rng = new Random(12);
        _image = Enumerable.Range(0, 3 * 224 * 224).Select(_ => (float)rng.NextDouble()).ToArray();
        _target = _classifier.Predict(_image).PredictedClass();
        Console.WriteLine($"// load average at setup: {File.ReadAllText("/proc/loadavg").Trim()}");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        Console.WriteLine($"// load average at cleanup: {File.ReadAllText("/proc/loadavg").Trim()}");
        _classifier.Dispose();
    }

    private SaliencyMap Run(IExplainer explainer) => explainer.Explain(_classifier, _image, _target).Map;

    [Benchmark(Baseline = true, Description = "gradient")]
    public SaliencyMap Gradient() => Run(new GradientExplainer());

    [Benchmark(Description = "gradient×input")]
    public SaliencyMap GradientTimesInput() => Run(new GradientTimesInputExplainer());

    [Benchmark(Description = "SmoothGrad n=50")]
    public SaliencyMap SmoothGrad() => Run(new SmoothGradExplainer());

    [Benchmark(Description = "IG m=64")]
    public SaliencyMap IntegratedGradients() => Run(new IntegratedGradientsExplainer());

    [Benchmark(Description = "Grad-CAM (default layer)")]
    public SaliencyMap GradCam() => Run(new GradCamExplainer());

    /// <summary>Window 16, stride 8 (27² = 729 windows; the default 4/2 would be 111² = 12,321 at 224²).</summary>
    [Benchmark(Description = "Occlusion 16/8")]
    public SaliencyMap Occlusion() => Run(new OcclusionExplainer(new OcclusionOptions { Window = 16, Stride = 8 }));

    /// <summary>Cells of 16 px (14×14 = 196 features), n = 1000.</summary>
    [Benchmark(Description = "LIME grid 16 px, n=1000")]
    public SaliencyMap Lime() => Run(new LimeExplainer(new LimeOptions { Cell = 16 }));

    /// <summary>SLIC K = 50, n = 1000 (segmentation included).</summary>
    [Benchmark(Description = "LIME SLIC K=50, n=1000")]
    public SaliencyMap LimeSuperpixels() => Run(new LimeExplainer(new LimeOptions { Features = LimeFeatureKind.Superpixel }));

    /// <summary>Cells of 32 px (7×7 = 49 features), 2048 sampled coalitions.</summary>
    [Benchmark(Description = "KernelSHAP 32 px, n=2048")]
    public SaliencyMap KernelShap() => Run(new KernelShapExplainer(new KernelShapOptions { Cell = 32 }));

    [Benchmark(Description = "CAFO (λ1 sweep)")]
    public SaliencyMap Cafo() => Run(new CasoExplainer(new CasoExplainerOptions { Solver = new Saliency.Solvers.Caso.CasoOptions { Kind = Saliency.Solvers.Caso.CasoObjectiveKind.Cafo } }));

    [Benchmark(Description = "CASO (λ1 sweep)")]
    public SaliencyMap Caso() => Run(new CasoExplainer());

    /// <summary>28×28 grid, n = 1000 (the paper's setting).</summary>
    [Benchmark(Description = "LEG 28², n=1000")]
    public SaliencyMap Leg() => Run(new LegExplainer(new LegExplainerOptions()));

    [Benchmark(Description = "LEG-TV 28², n=1000, K_L=0.1")]
    public SaliencyMap LegTv() => Run(new LegExplainer(new LegExplainerOptions { TotalVariation = true }));
}
