using BenchmarkDotNet.Attributes;
using Saliency.Bench.Jacobian;
using Saliency.Explainers;
using Saliency.Models.Classifiers;
using Saliency.TestSupport;

namespace Saliency.Bench.Engine;

/// <summary>
/// What <see cref="SaliencyEngine.ExplainAsync"/> adds to an explanation: request planning (budget checks, memory
/// estimate, image validation), the concurrency slot, the thread-pool hop, the cancellable classifier view, the typed
/// result and the metrics — against the same explainer called directly on the same shared classifier (the baseline),
/// in the same run. Bundled LeNet, digit 0; gradient (one forward + one Jacobian run) and CASO with a fixed λ1 (one
/// Jacobian run + FISTA). Run: <c>cd bench/Saliency.Bench &amp;&amp; dotnet run -c Release -- --filter '*EngineOverhead*'</c>.
/// </summary>
[Config(typeof(InProcessShortConfig))]
public class EngineOverheadBenchmarks
{
    [Params(SaliencyMethods.Gradient, SaliencyMethods.Caso)]
    public string Method { get; set; } = SaliencyMethods.Gradient;

    private OnnxClassifier _classifier = null!;
    private SaliencyEngine _engine = null!;
    private IExplainer _explainer = null!;
    private float[] _digit = [];
    private ExplainRequest _request = null!;

    [GlobalSetup]
    public void Setup()
    {
        _classifier = OnnxClassifier.Create(RepoFiles.LeNetModel);
        _engine = new SaliencyEngine(new SaliencyEngineOptions { MaxConcurrency = 1 }.AddModel("lenet", RepoFiles.LeNetModel));
        _engine.GetModel("lenet");
        _digit = BundledLeNet.Digits().ImageFloats(0);
        _explainer = Method == SaliencyMethods.Caso ? new CasoExplainer(new CasoExplainerOptions { Lambda1 = 0.01 }) : new GradientExplainer();
        _request = new ExplainRequest { Model = "lenet", Image = _digit, Method = Method, Lambda1 = 0.01 };
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _engine.Dispose();
        _classifier.Dispose();
    }

    [Benchmark(Baseline = true)]
    public object Explainer() => _explainer.Explain(_classifier, _digit);

    [Benchmark]
    public object Engine() => _engine.ExplainAsync(_request).GetAwaiter().GetResult();
}
