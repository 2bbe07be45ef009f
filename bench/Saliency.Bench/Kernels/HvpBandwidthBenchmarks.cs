using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Saliency.Kernels.Backends;
using Saliency.Kernels.Cpu;
using Saliency.Kernels.Ops;

namespace Saliency.Bench.Kernels;

/// <summary>
/// Effective bandwidth of the batched Hessian-vector product <c>H V = W (A (Wᵀ V))</c> on the CPU backend for an
/// ImageNet-sized Jacobian (d = 150,528 = 3·224·224, c = 1,000 classes, class-major float32 = 602 MB), on all classes
/// and restricted to 64 classes, for k = 1, 4, 16 right-hand sides.
/// </summary>
/// <remarks>
/// One HVP streams the active rows of W twice (pass 1 <c>Wᵀ V</c>, pass 2 <c>W Z</c>): B = 2·c'·d·4 bytes.
/// Peers measured in the same run on the same bytes:
/// <list type="bullet">
/// <item><c>CopyBaseline</c> (the Ratio baseline): a multi-threaded <c>Span.CopyTo</c> of the active rows of W, done
/// twice, i.e. it reads the same B bytes (and writes B more).</item>
/// <item><c>ReadBaseline</c>: a multi-threaded <c>TensorPrimitives.Sum</c> over the same B bytes (reads only — the
/// stricter peer, since an HVP only reads W).</item>
/// </list>
/// The GB/s column is B / median time for every method (all three handle the same B bytes of W), so the
/// bandwidth ratio HVP/copy = 1 / Ratio. Runs in process (600 MB of W; the shared machine's 2-minute
/// out-of-process build limit is too short here) with 2 warm-up and 7 measured single-call iterations. Run:
/// <c>cd bench/Saliency.Bench &amp;&amp; dotnet run -c Release -- --filter '*HvpBandwidth*'</c>.
/// </remarks>
[Config(typeof(Config))]
public class HvpBandwidthBenchmarks
{
    private const int D = 150_528;
    private const int C = 1000;

    private CpuBuffer<float> _w = null!;
    private CpuBuffer<float> _v = null!;
    private CpuBuffer<float> _hv = null!;
    private float[] _copyTarget = [];
    private HessianVectorProduct _op = null!;
    private int[] _active = [];

    /// <summary>Active classes c': all 1,000 or a subset of 64.</summary>
    [Params(1000, 64)]
    public int ActiveClasses { get; set; }

    /// <summary>Right-hand sides k.</summary>
    [Params(1, 4, 16)]
    public int K { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var cpu = ComputeBackends.Cpu;
        _w = (CpuBuffer<float>)cpu.Allocate<float>(D * C);
        GaussianRng.Fill(_w, seed: 1, std: 1e-3);
        var p = new float[C];
        GaussianRng.Fill<float>(p, seed: 2);
        double sum = 0;
        for (int j = 0; j < C; j++) sum += p[j] = MathF.Exp(p[j]);
        for (int j = 0; j < C; j++) p[j] = (float)(p[j] / sum * 0.999);
        // The 64-class subset: every 15th class, so the streamed rows are spread over W like a top-64 selection.
        _active = ActiveClasses == C ? [] : Enumerable.Range(0, ActiveClasses).Select(i => i * 15).ToArray();
        _op = new HessianVectorProduct(_w, D, C, p, _active);
        _v = (CpuBuffer<float>)cpu.Allocate<float>(K * D);
        GaussianRng.Fill(_v, seed: 3);
        _hv = (CpuBuffer<float>)cpu.Allocate<float>(K * D);
        _copyTarget = GC.AllocateUninitializedArray<float>(ActiveClasses * D);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _op.Dispose();
        _w.Dispose();
        _v.Dispose();
        _hv.Dispose();
    }

    /// <summary>Bytes of W one HVP streams (two passes over the active rows).</summary>
    public long BytesPerHvp => 2L * ActiveClasses * D * sizeof(float);

    [Benchmark]
    public void Hvp() => _op.Apply(_v, _hv);

    [Benchmark(Baseline = true)]
    public void CopyBaseline()
    {
        CopyActiveRows();
        CopyActiveRows();
    }

    [Benchmark]
    public float ReadBaseline() => SumActiveRows() + SumActiveRows();

    private void CopyActiveRows()
    {
        int rows = ActiveClasses;
        var w = _w.Segment;
        var target = _copyTarget;
        Parallel.For(0, CpuBackend.Shared.Parallelism, worker =>
        {
            (int lo, int hi) = Range(rows, worker);
            for (int r = lo; r < hi; r++)
            {
                int cls = _active.Length == 0 ? r : _active[r];
                w.AsSpan(cls * D, D).CopyTo(target.AsSpan(r * D, D));
            }
        });
    }

    private float SumActiveRows()
    {
        int rows = ActiveClasses;
        var w = _w.Segment;
        var partial = new float[CpuBackend.Shared.Parallelism];
        Parallel.For(0, partial.Length, worker =>
        {
            (int lo, int hi) = Range(rows, worker);
            float s = 0;
            for (int r = lo; r < hi; r++)
                s += System.Numerics.Tensors.TensorPrimitives.Sum<float>(w.AsSpan((_active.Length == 0 ? r : _active[r]) * D, D));
            partial[worker] = s;
        });
        return partial.Sum();
    }

    private static (int, int) Range(int rows, int worker)
    {
        int n = CpuBackend.Shared.Parallelism;
        return (rows * worker / n, rows * (worker + 1) / n);
    }

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithLaunchCount(1).WithWarmupCount(2)
                .WithIterationCount(7).WithInvocationCount(1).WithUnrollFactor(1));
            AddColumn(StatisticColumn.Median);
            AddColumn(new HvpGigabytesPerSecondColumn());
        }
    }
}
