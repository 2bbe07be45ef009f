using System.Numerics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Saliency.Kernels.Ops.PrimalDual;

namespace Saliency.Bench.Lp;

/// <summary>In-process job with short warm-up and 10 measured iterations (one step is 0.05–0.3 ms).</summary>
public sealed class PrimalDualStepJobConfig : ManualConfig
{
    public PrimalDualStepJobConfig()
    {
        AddJob(Job.Default
            .WithToolchain(new InProcessEmitToolchain(TimeSpan.FromMinutes(10), logOutput: false))
            .WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(10));
    }
}

/// <summary>
/// One iteration of the default (reflected Halpern) PDHG scheme on the CPU: the PDHG step into T(z) followed by the
/// two reflection passes <c>z ← a(2T(z) − z) + (1 − a)z₀</c> (the driver's former path, baseline) against the fused
/// <see cref="PrimalDualTvStep.HalpernStep"/>, on one thread and in 2 row blocks.
/// Run: <c>dotnet run -c Release -- --filter '*PrimalDualStep*'</c>.
/// </summary>
[Config(typeof(PrimalDualStepJobConfig))]
public class PrimalDualStepBenchmarks
{
    private double[] _x = [], _y = [], _b = [], _x0 = [], _y0 = [], _xt = [], _yt = [], _scratch = [];

    [Params(112, 224)]
    public int Size { get; set; }

    [Params(1, 2)]
    public int RowBlocks { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        int p = Size * Size, m = new Saliency.Linalg.Grid.GridShape(Size, Size).DifferenceCount;
        var rng = new Random(1);
        double[] Rand(int n) => Enumerable.Range(0, n).Select(_ => rng.NextDouble() - 0.5).ToArray();
        (_x, _y, _b, _x0, _y0) = (Rand(p), Rand(m), Rand(m), Rand(p), Rand(m));
        (_xt, _yt) = (new double[p], new double[m]);
        _scratch = new double[PrimalDualTvStep.ScratchLength(Size, RowBlocks)];
    }

    [Benchmark(Baseline = true, Description = "step + 2 reflection passes")]
    public void StepThenReflect()
    {
        PrimalDualTvStep.Step(Size, Size, _x, _y, _b, _xt, _yt, 0.3, 0.3, 0.1, 10, [], [], [], 0, _scratch, false, out _, RowBlocks);
        Reflect(_x, _xt, _x0, 0.9);
        Reflect(_y, _yt, _y0, 0.9);
    }

    [Benchmark(Description = "fused Halpern step")]
    public void Fused() => PrimalDualTvStep.HalpernStep(Size, Size, _x, _y, _b, _x0, _y0, 0.9, 0.3, 0.3, 0.1, 10, [], _scratch, RowBlocks);

    private static void Reflect(double[] z, double[] t, double[] anchor, double a)
    {
        var va = new Vector<double>(a);
        var vb = new Vector<double>(1 - a);
        var two = new Vector<double>(2.0);
        int w = Vector<double>.Count, i = 0;
        for (; i + w <= z.Length; i += w)
            (va * (two * new Vector<double>(t, i) - new Vector<double>(z, i)) + vb * new Vector<double>(anchor, i)).CopyTo(z, i);
        for (; i < z.Length; i++) z[i] = a * (2 * t[i] - z[i]) + (1 - a) * anchor[i];
    }
}
