using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Saliency.Kernels.Backends;
using Saliency.Kernels.Ops;

namespace Saliency.Bench.Kernels;

/// <summary>
/// Batched HVP <c>H V = W A Wᵀ V</c> (c = 10 classes, k = 4 right-hand sides) on the hand-written CPU backend (the Ratio
/// baseline) against the ILGPU kernels on ILGPU's CPU accelerator, for d = 784 (MNIST) and d = 150,528 (3·224·224).
/// Warm (operator built and kernels compiled before measuring). Run:
/// <c>cd bench/Saliency.Bench &amp;&amp; dotnet run -c Release -- --filter '*HvpBackendBenchmarks*'</c>.
/// </summary>
[Config(typeof(Config))]
public class HvpBackendBenchmarks
{
    private const int C = 10, K = 4;
    private IComputeBackend _ilgpu = null!;
    private readonly List<IDisposable> _owned = [];
    private (HessianVectorProduct Op, DeviceBuffer<float> V, DeviceBuffer<float> Hv) _cpu, _gpu;

    /// <summary>Input dimension d.</summary>
    [Params(784, 150_528)]
    public int D { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _ilgpu = ComputeBackends.Create(BackendKind.IlgpuCpu);
        var w = new float[D * C];
        GaussianRng.Fill<float>(w, seed: 1, std: 1e-2);
        var v = new float[D * K];
        GaussianRng.Fill<float>(v, seed: 2);
        var p = new float[C];
        for (int j = 0; j < C; j++) p[j] = (j + 1f) / (C * (C + 1) / 2f);
        _cpu = Build(ComputeBackends.Cpu, w, v, p);
        _gpu = Build(_ilgpu, w, v, p);
        Cpu_Hvp();
        Ilgpu_Hvp();
    }

    private (HessianVectorProduct, DeviceBuffer<float>, DeviceBuffer<float>) Build(IComputeBackend b, float[] w, float[] v, float[] p)
    {
        var wb = b.Allocate<float>(w.Length);
        b.Upload<float>(w, wb);
        var vb = b.Allocate<float>(v.Length);
        b.Upload<float>(v, vb);
        var hv = b.Allocate<float>(v.Length);
        var op = new HessianVectorProduct(wb, D, C, p);
        _owned.AddRange([op, wb, vb, hv]);
        return (op, vb, hv);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var o in _owned) o.Dispose();
        _owned.Clear();
        _ilgpu.Dispose();
    }

    [Benchmark(Baseline = true)]
    public void Cpu_Hvp() => _cpu.Op.Apply(_cpu.V, _cpu.Hv);

    [Benchmark]
    public void Ilgpu_Hvp()
    {
        _gpu.Op.Apply(_gpu.V, _gpu.Hv);
        _ilgpu.Synchronize();
    }

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance));
            AddColumn(StatisticColumn.Median);
            HideColumns(Column.Error, Column.StdDev);
        }
    }
}
