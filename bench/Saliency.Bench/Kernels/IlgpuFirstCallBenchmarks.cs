using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Saliency.Kernels.Backends;

namespace Saliency.Bench.Kernels;

/// <summary>
/// Cold figures for <see cref="KernelBackendBenchmarks"/>: the first call of each kernel on a fresh ILGPU CPU
/// accelerator (28×28, same data), i.e. ILGPU's code generation and loading of the kernel plus one run. The process is
/// warm otherwise (.NET JIT and ILGPU's IL front end have seen the kernel in earlier iterations), so this is what every
/// new backend instance pays per kernel. Each iteration gets a new accelerator in an unmeasured iteration setup.
/// Run: <c>cd bench/Saliency.Bench &amp;&amp; dotnet run -c Release -- --filter '*IlgpuFirstCallBenchmarks*'</c>.
/// </summary>
[Config(typeof(Config))]
public class IlgpuFirstCallBenchmarks
{
    private IComputeBackend? _backend;
    private KernelBenchData? _data;

    /// <summary>Index into <see cref="KernelBenchData.All"/>.</summary>
    [ParamsSource(nameof(Kernels))]
    public string Kernel { get; set; } = "";

    public static IEnumerable<string> Kernels => KernelBenchData.All.Select(a => a.Method.Name.Replace("On", ""));

    [IterationSetup]
    public void FreshAccelerator()
    {
        Release();
        _backend = ComputeBackends.Create(BackendKind.IlgpuCpu);
        _data = new KernelBenchData(_backend, 28);
        _backend.Synchronize();
    }

    [IterationCleanup]
    public void Release()
    {
        _data?.Dispose();
        _backend?.Dispose();
        (_data, _backend) = (null, null);
    }

    [Benchmark]
    public void FirstCall()
    {
        KernelBenchData.All.First(a => a.Method.Name.Replace("On", "") == Kernel)(_data!);
        _backend!.Synchronize();
    }

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithStrategy(RunStrategy.ColdStart)
                .WithLaunchCount(1).WithWarmupCount(0).WithIterationCount(5).WithInvocationCount(1).WithUnrollFactor(1));
            AddColumn(StatisticColumn.Median);
            HideColumns(Column.Error, Column.StdDev);
        }
    }
}
