using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Saliency.Kernels.Backends;
using Saliency.Kernels.Ilgpu;
using Saliency.Kernels.Ops;

namespace Saliency.Bench.Kernels;

/// <summary>
/// The GPU counterpart of <see cref="HvpBandwidthBenchmarks"/>: batched HVP with the ILGPU kernels on the CUDA backend
/// (ILGPU's CUDA accelerator; no cuBLAS) against a device-to-device copy of the same active rows of W, twice
/// (<c>CopyBaseline</c>, the Ratio baseline). Every call ends with a stream synchronisation so the measured time covers
/// the GPU work. Needs a CUDA GPU: on a machine without one the setup fails with
/// <see cref="BackendUnavailableException"/> and its reason. Run:
/// <c>cd bench/Saliency.Bench &amp;&amp; dotnet run -c Release -- --filter '*HvpBandwidthIlgpuCuda*'</c>.
/// </summary>
[Config(typeof(Config))]
public class HvpBandwidthIlgpuCudaBenchmarks
{
    private const int D = HvpGigabytesPerSecondColumn.Dimension;
    private const int C = 1000;

    private IlgpuBackend _cuda = null!;
    private DeviceBuffer<float> _w = null!;
    private DeviceBuffer<float> _v = null!;
    private DeviceBuffer<float> _hv = null!;
    private DeviceBuffer<float> _copyTarget = null!;
    private HessianVectorProduct _op = null!;
    private int[] _rows = [];

    /// <summary>Active classes c': all 1,000 or a subset of 64.</summary>
    [Params(1000, 64)]
    public int ActiveClasses { get; set; }

    /// <summary>Right-hand sides k.</summary>
    [Params(1, 4, 16)]
    public int K { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _cuda = (IlgpuBackend)ComputeBackends.Create(BackendKind.Cuda);
        _w = _cuda.Allocate<float>(D * C);
        GaussianRng.Fill(_w, seed: 1, std: 1e-3);
        var p = new float[C];
        GaussianRng.Fill<float>(p, seed: 2);
        double sum = 0;
        for (int j = 0; j < C; j++) sum += p[j] = MathF.Exp(p[j]);
        for (int j = 0; j < C; j++) p[j] = (float)(p[j] / sum * 0.999);
        _rows = Enumerable.Range(0, ActiveClasses).Select(i => ActiveClasses == C ? i : i * 15).ToArray();
        _op = new HessianVectorProduct(_w, D, C, p, ActiveClasses == C ? default : _rows);
        _v = _cuda.Allocate<float>(K * D);
        GaussianRng.Fill(_v, seed: 3);
        _hv = _cuda.Allocate<float>(K * D);
        _copyTarget = _cuda.Allocate<float>(ActiveClasses * D);
        _cuda.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _op.Dispose();
        _w.Dispose();
        _v.Dispose();
        _hv.Dispose();
        _copyTarget.Dispose();
        _cuda.Dispose();
    }

    [Benchmark]
    public void Hvp()
    {
        _op.Apply(_v, _hv);
        _cuda.Synchronize();
    }

    [Benchmark(Baseline = true)]
    public void CopyBaseline()
    {
        CopyRows();
        CopyRows();
        _cuda.Synchronize();
    }

    private void CopyRows()
    {
        if (ActiveClasses == C)
        {
            _cuda.Copy(_w, _copyTarget);
            return;
        }
        for (int r = 0; r < _rows.Length; r++) _cuda.CopyElements(_w, (long)_rows[r] * D, _copyTarget, (long)r * D, D);
    }

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithLaunchCount(1).WithWarmupCount(3)
                .WithIterationCount(15));
            AddColumn(StatisticColumn.Median);
            AddColumn(new HvpGigabytesPerSecondColumn());
        }
    }
}
