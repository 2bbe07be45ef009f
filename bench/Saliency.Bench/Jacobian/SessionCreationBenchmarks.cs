using BenchmarkDotNet.Attributes;
using Google.Protobuf;
using Saliency.Models.Autodiff;
using Saliency.Models.Caching;
using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;
using Saliency.Models.Runtime;
using Saliency.TestSupport;

namespace Saliency.Bench.Jacobian;

/// <summary>
/// What opening a classifier costs as the network gets deeper (issue 13, item 4), on chains of n ReLUs
/// ([N, 16] → [N, 16]): the export, its serialisation, a load from a warm <see cref="JacobianModelCache"/>, and ONNX
/// Runtime session creation for the forward model (the baseline) and for the exported Jacobian model — as exported
/// (nodes ordered by <see cref="JacobianExporter"/>'s schedule) and, as the peer, the same nodes with the whole
/// backward pass listed after the forward pass (the order before the fix, which made creation quadratic in n).
/// One intra-op thread, graph optimisation level All, CPU provider. Run:
/// <c>cd bench/Saliency.Bench &amp;&amp; dotnet run -c Release -- --filter '*SessionCreation*'</c>.
/// </summary>
[Config(typeof(InProcessMonitoringConfig))]
public class SessionCreationBenchmarks
{
    private ModelProto _model = null!;
    private byte[] _modelBytes = null!;
    private ModelProto _exported = null!;
    private byte[] _exportedBytes = null!;
    private byte[] _backwardAfterForwardBytes = null!;
    private JacobianModelCache _cache = null!;
    private readonly JacobianExportOptions _options = new();
    private readonly InferenceSessionOptions _sessionOptions = new() { IntraOpThreads = 1 };

    /// <summary>Number of ReLUs in the chain.</summary>
    [Params(250, 500, 1000, 2000)]
    public int Depth { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var b = new OnnxGraphBuilder("relu_chain");
        string x = b.Input("input", OnnxElementType.Float, "N", 16);
        for (int i = 0; i < Depth; i++) x = b.Relu(x);
        b.Output(x, OnnxElementType.Float, "N", 16);
        _model = b.Build();
        _modelBytes = _model.ToByteArray();
        _exported = JacobianExporter.Export(_model);
        _exportedBytes = _exported.ToByteArray();

        // The peer: forward nodes first, then every added node in its exported relative order (still topological).
        var forward = _model.Graph.Node.Select(n => n.Name).ToHashSet(StringComparer.Ordinal);
        var naive = _exported.Clone();
        var nodes = naive.Graph.Node.ToList();
        naive.Graph.Node.Clear();
        naive.Graph.Node.AddRange(nodes.Where(n => forward.Contains(n.Name)).Concat(nodes.Where(n => !forward.Contains(n.Name))));
        _backwardAfterForwardBytes = naive.ToByteArray();

        _cache = new JacobianModelCache(Directory.CreateTempSubdirectory("saliency-bench-cache-").FullName);
        _cache.GetOrExport(_modelBytes, _model, _options);
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_cache.Directory, recursive: true);

    /// <summary>Reverse-mode export of the parsed model.</summary>
    [Benchmark]
    public int Export() => JacobianExporter.Export(_model).Graph.Node.Count;

    /// <summary>Serialising the exported model (what a session is created from).</summary>
    [Benchmark]
    public int Serialize() => _exported.ToByteArray().Length;

    /// <summary>The exported model from a warm cache: read, key and digest checks, parse.</summary>
    [Benchmark]
    public int CacheHit() => _cache.GetOrExport(_modelBytes, _model, _options).Bytes.Length;

    /// <summary>Session on the forward model.</summary>
    [Benchmark(Baseline = true)]
    public int ForwardSession()
    {
        using var s = InferenceSession.Create(_modelBytes, _sessionOptions);
        return s.Outputs.Count;
    }

    /// <summary>Session on the exported Jacobian model.</summary>
    [Benchmark]
    public int JacobianSession()
    {
        using var s = InferenceSession.Create(_exportedBytes, _sessionOptions);
        return s.Outputs.Count;
    }

    /// <summary>Session on the same nodes, backward pass listed after the forward pass (before the fix).</summary>
    [Benchmark]
    public int JacobianSessionBackwardAfterForward()
    {
        using var s = InferenceSession.Create(_backwardAfterForwardBytes, _sessionOptions);
        return s.Outputs.Count;
    }
}

/// <summary>
/// What the <see cref="JacobianModelCache"/> saves on a weight-heavy model: the ResNet-18-shaped classifier of
/// <see cref="JacobianResNet18Benchmarks"/> (46.8 MB of ONNX), exported and serialised (the baseline) against a load
/// from a warm cache (SHA-256 key of the 46.8 MB, entry checks, the classifier's initializers put back, serialised).
/// Run: <c>cd bench/Saliency.Bench &amp;&amp; dotnet run -c Release -- --filter '*JacobianCacheResNet18*'</c>.
/// </summary>
[Config(typeof(InProcessMonitoringConfig))]
public class JacobianCacheResNet18Benchmarks
{
    private ModelProto _model = null!;
    private byte[] _modelBytes = null!;
    private JacobianModelCache _cache = null!;
    private readonly JacobianExportOptions _options = new();

    [GlobalSetup]
    public void Setup()
    {
        _model = RandomModels.ResNet18(seed: 7);
        _modelBytes = _model.ToByteArray();
        _cache = new JacobianModelCache(Directory.CreateTempSubdirectory("saliency-bench-cache-").FullName);
        _cache.GetOrExport(_modelBytes, _model, _options);
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_cache.Directory, recursive: true);

    /// <summary>Export and serialise, as without a cache.</summary>
    [Benchmark(Baseline = true)]
    public int ExportAndSerialize() => JacobianExporter.Export(_model, _options).ToByteArray().Length;

    /// <summary>Key hash, entry read and checks, reassembly and serialisation.</summary>
    [Benchmark]
    public int CacheHit() => _cache.GetOrExport(_modelBytes, _model, _options).Bytes.Length;

    /// <summary>The key alone: SHA-256 of the classifier's bytes (with the options).</summary>
    [Benchmark]
    public int KeyOnly() => JacobianModelCache.Key(_modelBytes, _options).Length;
}
