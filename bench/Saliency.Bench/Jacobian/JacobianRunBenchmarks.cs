using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using Google.Protobuf;
using Saliency.Models.Autodiff;
using Saliency.Models.Data;
using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;
using Saliency.Models.Runtime;

namespace Saliency.Bench.Jacobian;

/// <summary>
/// Cost of one ONNX Runtime run of the exported Jacobian model — the logits plus k rows of the Jacobian (identity
/// cotangents for k classes) — against one forward pass of the original model (the baseline, so the Ratio column
/// is "Jacobian run ÷ forward"), for k = 1, 10, 64. One intra-op thread, batch 1, CPU provider.
/// </summary>
public abstract class JacobianRunBenchmarksBase
{
    private InferenceSession _forward = null!;
    private InferenceSession _jacobian = null!;
    private FloatTensor[] _forwardInputs = null!;
    private FloatTensor[] _jacobianInputs = null!;
    private string[] _forwardOutputs = null!;
    private static readonly string[] JacobianOutputs = ["logits", "vjp"];

    /// <summary>Number of Jacobian rows (vector-Jacobian products) per run.</summary>
    [Params(1, 10, 64)]
    public int K { get; set; }

    /// <summary>The classifier and one input image for it.</summary>
    protected abstract (ModelProto Model, float[] Image) Load();

    [GlobalSetup]
    public void Setup()
    {
        var (model, image) = Load();
        var exported = JacobianExporter.Export(model);
        var options = new InferenceSessionOptions { IntraOpThreads = 1 };
        _forward = InferenceSession.Create(model.ToByteArray(), options);
        _jacobian = InferenceSession.Create(exported.ToByteArray(), options);
        string input = exported.MetadataProps.First(e => e.Key == JacobianExporter.MetadataInput).Value;
        var shape = exported.Graph.Input.First(i => i.Name == input).Type.TensorType.Shape.Dim.Select(d => d.DimValue).ToArray();
        int classes = (int)exported.Graph.Input.First(i => i.Name == "cotangents").Type.TensorType.Shape.Dim[1].DimValue;
        var cotangents = new float[K * classes];
        for (int r = 0; r < K; r++) cotangents[r * classes + r % classes] = 1f;
        _forwardInputs = [new FloatTensor(input, image, shape)];
        _forwardOutputs = [model.Graph.Output[0].Name];
        _jacobianInputs = [new FloatTensor(input, image, shape), new FloatTensor("cotangents", cotangents, [K, classes])];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _forward.Dispose();
        _jacobian.Dispose();
    }

    /// <summary>One forward pass of the original classifier (batch 1).</summary>
    [Benchmark(Baseline = true)]
    public float Forward() => _forward.Run(_forwardInputs, _forwardOutputs)[0].Data[0];

    /// <summary>One run of the exported model: logits and k Jacobian rows.</summary>
    [Benchmark]
    public float LogitsAndKJacobianRows() => _jacobian.Run(_jacobianInputs, JacobianOutputs)[1].Data[0];
}

/// <summary>
/// The bundled LeNet (PyTorch export; 1×28×28 → 10). Run:
/// <c>cd bench/Saliency.Bench &amp;&amp; dotnet run -c Release -- --filter '*JacobianLeNet*'</c>.
/// </summary>
[ShortRunJob]
public class JacobianLeNetBenchmarks : JacobianRunBenchmarksBase
{
    protected override (ModelProto Model, float[] Image) Load() =>
        (ModelProto.Parser.ParseFrom(File.ReadAllBytes(BundledAssets.ModelPath)), BundledAssets.LoadDigits().ImageFloats(0));
}

/// <summary>
/// A ResNet-18-shaped classifier with random weights built in C# (3×224×224 → 1000, ≈ 11.7 M parameters). One
/// k = 64 run costs seconds on one core, so the job is minimal: 1 warm-up and 3 measured single invocations. Run:
/// <c>cd bench/Saliency.Bench &amp;&amp; dotnet run -c Release -- --filter '*JacobianResNet18*'</c>.
/// </summary>
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 3, invocationCount: 1)]
public class JacobianResNet18Benchmarks : JacobianRunBenchmarksBase
{
    protected override (ModelProto Model, float[] Image) Load()
    {
        var rng = new Random(1);
        var image = new float[3 * 224 * 224];
        for (int i = 0; i < image.Length; i++) image[i] = (float)(rng.NextDouble() * 2 - 1);
        return (RandomModels.ResNet18(seed: 7), image);
    }
}
