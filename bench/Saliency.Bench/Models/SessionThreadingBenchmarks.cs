using BenchmarkDotNet.Attributes;
using Google.Protobuf;
using Saliency.Bench.Jacobian;
using Saliency.Models.Autodiff;
using Saliency.Models.Onnx.Proto;
using Saliency.Models.Runtime;
using Saliency.TestSupport;

namespace Saliency.Bench.Models;

/// <summary>
/// Which session threading suits explanation workloads: the bundled LeNet's Jacobian run (logits + k = 10 rows, the
/// gradient/CASO building block) and a forward batch of 64 digits (a LEG/LEG-TV perturbation batch), each with three
/// settings measured in the same run against ONNX Runtime's defaults (the baseline):
/// <list type="bullet">
/// <item><c>OrtDefaultPool</c>: IntraOpThreads = 0 (one per core) with spinning — what ONNX Runtime does unless told;</item>
/// <item><c>PoolNoSpinning</c>: the same pool, <c>session.intra_op.allow_spinning = 0</c>;</item>
/// <item><c>OneThread</c>: IntraOpThreads = 1, no spinning — the library's default (<see cref="InferenceSessionOptions"/>).</item>
/// </list>
/// Run: <c>cd bench/Saliency.Bench &amp;&amp; dotnet run -c Release -- --filter '*SessionThreading*'</c> (short run, in process).
/// </summary>
[Config(typeof(InProcessShortConfig))]
public class SessionThreadingBenchmarks
{
    /// <summary>What one call does.</summary>
    public enum Work
    {
        /// <summary>One run of the exported Jacobian model: logits and 10 vector-Jacobian products.</summary>
        Jacobian10,
        /// <summary>One forward pass of 64 images.</summary>
        Forward64,
    }

    [ParamsAllValues]
    public Work Workload { get; set; }

    private InferenceSession _ortDefault = null!, _poolNoSpin = null!, _oneThread = null!;
    private FloatTensor[] _inputs = null!;
    private string[] _outputs = null!;

    [GlobalSetup]
    public void Setup()
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(RepoFiles.LeNetModel));
        var digits = BundledLeNet.Digits();
        byte[] bytes;
        string input = model.Graph.Input[0].Name;
        if (Workload == Work.Jacobian10)
        {
            var exported = JacobianExporter.Export(model);
            bytes = exported.ToByteArray();
            int classes = (int)exported.Graph.Input.First(i => i.Name == "cotangents").Type.TensorType.Shape.Dim[1].DimValue;
            var cotangents = new float[10 * classes];
            for (int r = 0; r < 10; r++) cotangents[r * classes + r] = 1f;
            _inputs = [new FloatTensor(input, digits.ImageFloats(0), [1, 1, digits.Rows, digits.Cols]), new FloatTensor("cotangents", cotangents, [10, classes])];
            _outputs = ["logits", "vjp"];
        }
        else
        {
            bytes = model.ToByteArray();
            int pixels = digits.PixelsPerImage;
            var batch = new float[64 * pixels];
            for (int b = 0; b < 64; b++) digits.ImageFloats(b).CopyTo(batch, b * pixels);
            _inputs = [new FloatTensor(input, batch, [64, 1, digits.Rows, digits.Cols])];
            _outputs = [model.Graph.Output[0].Name];
        }
        _ortDefault = InferenceSession.Create(bytes, new InferenceSessionOptions { IntraOpThreads = 0, InterOpThreads = 0, AllowSpinning = true });
        _poolNoSpin = InferenceSession.Create(bytes, new InferenceSessionOptions { IntraOpThreads = 0, InterOpThreads = 0, AllowSpinning = false });
        _oneThread = InferenceSession.Create(bytes, new InferenceSessionOptions());
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _ortDefault.Dispose();
        _poolNoSpin.Dispose();
        _oneThread.Dispose();
    }

    /// <summary>ONNX Runtime's defaults: a pool of one thread per core, spinning.</summary>
    [Benchmark(Baseline = true)]
    public float OrtDefaultPool() => _ortDefault.Run(_inputs, _outputs)[0].Data[0];

    /// <summary>The same pool without spinning.</summary>
    [Benchmark]
    public float PoolNoSpinning() => _poolNoSpin.Run(_inputs, _outputs)[0].Data[0];

    /// <summary>One intra-op thread (the caller's), no spinning: the library default.</summary>
    [Benchmark]
    public float OneThread() => _oneThread.Run(_inputs, _outputs)[0].Data[0];
}
