using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Google.Protobuf;
using Saliency.Models.Autodiff;
using Saliency.Models.Data;
using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;
using Saliency.Models.Runtime;
using Saliency.TestSupport;

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
    private protected abstract (ModelProto Model, float[] Image) Load();

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
/// <c>cd bench/Saliency.Bench &amp;&amp; dotnet run -c Release -- --filter '*JacobianLeNet*'</c> (short run, in process).
/// </summary>
[Config(typeof(InProcessShortConfig))]
public class JacobianLeNetBenchmarks : JacobianRunBenchmarksBase
{
    private protected override (ModelProto Model, float[] Image) Load() =>
        (ModelProto.Parser.ParseFrom(File.ReadAllBytes(RepoFiles.LeNetModel)), BundledLeNet.Digits().ImageFloats(0));
}

/// <summary>
/// A ResNet-18-shaped classifier with random weights built in C# (3×224×224 → 1000, ≈ 11.7 M parameters). One
/// k = 64 run costs seconds on one core, so the job is minimal: 1 warm-up and 3 measured single invocations. Run:
/// <c>cd bench/Saliency.Bench &amp;&amp; dotnet run -c Release -- --filter '*JacobianResNet18*'</c>.
/// </summary>
[Config(typeof(InProcessMonitoringConfig))]
public class JacobianResNet18Benchmarks : JacobianRunBenchmarksBase
{
    private protected override (ModelProto Model, float[] Image) Load()
    {
        var rng = new Random(1);
        var image = new float[3 * 224 * 224];
        for (int i = 0; i < image.Length; i++) image[i] = (float)(rng.NextDouble() * 2 - 1);
        return (RandomModels.ResNet18(seed: 7), image);
    }
}

/// <summary>
/// BenchmarkDotNet's short run (3 warm-ups, 3 iterations) in process: no generated project to build, which on the
/// shared machine can exceed BenchmarkDotNet's two-minute build timeout.
/// </summary>
internal sealed class InProcessShortConfig : ManualConfig
{
    public InProcessShortConfig()
    {
        AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance));
        AddColumn(StatisticColumn.Median);
    }
}

/// <summary>In process, 1 warm-up and 3 measured single invocations (for runs that take seconds).</summary>
internal sealed class InProcessMonitoringConfig : ManualConfig
{
    public InProcessMonitoringConfig()
    {
        AddJob(Job.Default.WithStrategy(RunStrategy.Monitoring).WithLaunchCount(1)
            .WithWarmupCount(1).WithIterationCount(3).WithInvocationCount(1).WithUnrollFactor(1)
            .WithToolchain(InProcessEmitToolchain.Instance));
        AddColumn(StatisticColumn.Median);
    }
}
