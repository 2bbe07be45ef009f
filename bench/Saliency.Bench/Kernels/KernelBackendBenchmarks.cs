using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Saliency.Kernels.Backends;
using Saliency.Kernels.Ops;
using Saliency.Kernels.Ops.PrimalDual;

namespace Saliency.Bench.Kernels;

/// <summary>
/// Every kernel on the hand-written CPU backend (<c>Cpu_*</c>, the Ratio baseline of its category) against the same
/// ILGPU kernel on ILGPU's CPU accelerator (<c>Ilgpu_*</c>), on N×N grids (N = 28: MNIST; N = 224: ImageNet) with the
/// batch shapes the solvers use (4 FISTA slices, 3 channels / LPs). Warm: kernels are compiled and data resident
/// before measuring; ILGPU calls end with a stream synchronisation. Tells which kernels keep the hand CPU path as the
/// production CPU path. Run (short job, in process):
/// <c>cd bench/Saliency.Bench &amp;&amp; dotnet run -c Release -- --filter '*KernelBackendBenchmarks*'</c>.
/// </summary>
[Config(typeof(Config))]
public class KernelBackendBenchmarks
{
    private IComputeBackend _ilgpu = null!;
    private KernelBenchData _cpuData = null!;
    private KernelBenchData _gpuData = null!;

    /// <summary>Grid side N (N×N pixels per slice / channel / LP).</summary>
    [Params(28, 224)]
    public int N { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _ilgpu = ComputeBackends.Create(BackendKind.IlgpuCpu);
        _cpuData = new KernelBenchData(ComputeBackends.Cpu, N);
        _gpuData = new KernelBenchData(_ilgpu, N);
        // Compile every ILGPU kernel before measuring (warm figures).
        foreach (var run in KernelBenchData.All)
        {
            run(_cpuData);
            run(_gpuData);
        }
        _ilgpu.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _cpuData.Dispose();
        _gpuData.Dispose();
        _ilgpu.Dispose();
    }

    [Benchmark(Baseline = true), BenchmarkCategory("SoftThreshold")] public void Cpu_SoftThreshold() => KernelBenchData.SoftThresholdOn(_cpuData);
    [Benchmark, BenchmarkCategory("SoftThreshold")] public void Ilgpu_SoftThreshold() => Sync(KernelBenchData.SoftThresholdOn, _gpuData);
    [Benchmark(Baseline = true), BenchmarkCategory("FistaUpdate")] public void Cpu_FistaUpdate() => KernelBenchData.FistaOn(_cpuData);
    [Benchmark, BenchmarkCategory("FistaUpdate")] public void Ilgpu_FistaUpdate() => Sync(KernelBenchData.FistaOn, _gpuData);
    [Benchmark(Baseline = true), BenchmarkCategory("Dot")] public void Cpu_Dot() => KernelBenchData.DotOn(_cpuData);
    [Benchmark, BenchmarkCategory("Dot")] public void Ilgpu_Dot() => Sync(KernelBenchData.DotOn, _gpuData);
    [Benchmark(Baseline = true), BenchmarkCategory("TvForward")] public void Cpu_TvForward() => KernelBenchData.TvForwardOn(_cpuData);
    [Benchmark, BenchmarkCategory("TvForward")] public void Ilgpu_TvForward() => Sync(KernelBenchData.TvForwardOn, _gpuData);
    [Benchmark(Baseline = true), BenchmarkCategory("TvAdjoint")] public void Cpu_TvAdjoint() => KernelBenchData.TvAdjointOn(_cpuData);
    [Benchmark, BenchmarkCategory("TvAdjoint")] public void Ilgpu_TvAdjoint() => Sync(KernelBenchData.TvAdjointOn, _gpuData);
    [Benchmark(Baseline = true), BenchmarkCategory("PdhgStep")] public void Cpu_PdhgStep() => KernelBenchData.PdStepOn(_cpuData);
    [Benchmark, BenchmarkCategory("PdhgStep")] public void Ilgpu_PdhgStep() => Sync(KernelBenchData.PdStepOn, _gpuData);
    [Benchmark(Baseline = true), BenchmarkCategory("GaussianRng")] public void Cpu_GaussianRng() => KernelBenchData.RngOn(_cpuData);
    [Benchmark, BenchmarkCategory("GaussianRng")] public void Ilgpu_GaussianRng() => Sync(KernelBenchData.RngOn, _gpuData);
    [Benchmark(Baseline = true), BenchmarkCategory("Upsample")] public void Cpu_Upsample() => KernelBenchData.UpsampleOn(_cpuData);
    [Benchmark, BenchmarkCategory("Upsample")] public void Ilgpu_Upsample() => Sync(KernelBenchData.UpsampleOn, _gpuData);
    [Benchmark(Baseline = true), BenchmarkCategory("Normalize")] public void Cpu_Normalize() => KernelBenchData.NormalizeOn(_cpuData);
    [Benchmark, BenchmarkCategory("Normalize")] public void Ilgpu_Normalize() => Sync(KernelBenchData.NormalizeOn, _gpuData);

    private void Sync(Action<KernelBenchData> run, KernelBenchData data)
    {
        run(data);
        _ilgpu.Synchronize();
    }

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance));
            AddColumn(StatisticColumn.Median);
            AddLogicalGroupRules(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams);
            HideColumns(Column.Error, Column.StdDev);
        }
    }
}
