using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Saliency.Solvers.Lp;

namespace Saliency.Bench.Lp;

/// <summary>
/// One job for the LP benchmarks: in-process (no generated project to build on a busy machine), Monitoring strategy
/// (each measurement is one solve, fitting second-long runs), 1 warm-up and 3 measured iterations; BDN's median.
/// </summary>
public sealed class TvLpJobConfig : ManualConfig
{
    public TvLpJobConfig()
    {
        AddJob(Job.Default
            .WithToolchain(new InProcessEmitToolchain(TimeSpan.FromMinutes(30), logOutput: true))
            .WithStrategy(RunStrategy.Monitoring)
            .WithLaunchCount(1).WithWarmupCount(1).WithIterationCount(3));
    }
}

/// <summary>
/// LEG-TV LP (paper's covariance, L = 0.1·L_max) to 1e-6 relative gap and residuals: our PDHG solver against HiGHS
/// (scipy.optimize.linprog(method="highs") in a Python process) on the same instances, in one run.
/// <c>Highs</c> times the whole process; <c>PythonStartup</c> times the same process without the solve (imports,
/// reading the instance, building the matrices), so HiGHS's solve time is the difference of the two medians; the
/// script's own linprog time and the objective difference are printed by the global setup.
/// Run: <c>cd bench/Saliency.Bench &amp;&amp; dotnet run -c Release -- --filter '*TvLpVsHighs*'</c>.
/// </summary>
[Config(typeof(TvLpJobConfig))]
public class TvLpVsHighsBenchmarks
{
    private TvLpProblem _problem = null!;
    private string _instance = "";

    [Params(28, 64, 112)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _problem = TvLpBenchData.Problem(Size);
        _instance = TvLpBenchData.WriteInstance(_problem);
        var ours = TvLpSolver.Solve(_problem);
        var (highs, seconds) = TvLpBenchData.RunHighs(_instance);
        double diff = Math.Abs(ours.Certificate.PrimalObjective - highs) / Math.Abs(highs);
        Console.WriteLine($"// TvLp {Size}x{Size}: ours {ours.Status} p={ours.Certificate.PrimalObjective:R} it={ours.Iterations} " +
            $"restarts={ours.Restarts} gap={ours.Certificate.RelativeGap:E2}; HiGHS p={highs:R} linprog={seconds:F3}s; " +
            $"relative objective difference {diff:E2}");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (File.Exists(_instance)) File.Delete(_instance);
    }

    [Benchmark(Description = "PDHG (ours, CPU)")]
    public double Pdhg() => TvLpSolver.Solve(_problem).Certificate.PrimalObjective;

    [Benchmark(Description = "HiGHS process (python + scipy + linprog)")]
    public double Highs() => TvLpBenchData.RunHighs(_instance).Objective;

    [Benchmark(Description = "HiGHS process without the solve")]
    public double PythonStartup() => TvLpBenchData.RunHighs(_instance, solve: false).SolveSeconds;
}

/// <summary>Ours alone on the large grid: one 224² LP, and a batch of 3 channels × 224² in one call.
/// Run: <c>dotnet run -c Release -- --filter '*TvLpLarge*'</c>.</summary>
[Config(typeof(TvLpJobConfig))]
public class TvLpLargeBenchmarks
{
    private TvLpProblem _single = null!;
    private TvLpProblem[] _batch = [];

    [GlobalSetup]
    public void Setup()
    {
        _single = TvLpBenchData.Problem(224);
        _batch = [_single, TvLpBenchData.Problem(224, seed: 2), TvLpBenchData.Problem(224, seed: 3)];
        var s = TvLpSolver.Solve(_single);
        Console.WriteLine($"// TvLp 224x224: {s.Status} it={s.Iterations} restarts={s.Restarts} gap={s.Certificate.RelativeGap:E2}");
    }

    [Benchmark(Description = "PDHG 224² (ours, CPU)")]
    public double Single() => TvLpSolver.Solve(_single).Certificate.PrimalObjective;

    [Benchmark(Description = "PDHG batch 3×224² (ours, CPU, parallel)")]
    public int Batch() => TvLpSolver.SolveBatch(_batch).Length;
}

/// <summary>
/// Which PDLP enhancements pay here: time to 1e-6 for each variant (iterations printed by the setup).
/// Run: <c>dotnet run -c Release -- --filter '*TvLpEnhancement*'</c>.
/// </summary>
[Config(typeof(TvLpJobConfig))]
public class TvLpEnhancementBenchmarks
{
    private TvLpProblem _problem = null!;

    public static IEnumerable<string> Variants => Options.Keys;

    private static readonly Dictionary<string, TvLpOptions> Options = new()
    {
        ["plain PDHG"] = new() { HalpernReflection = false, AdaptiveRestarts = false, RestartToAverage = false, PrimalWeightUpdates = false },
        ["restarts+weight, to current"] = new() { HalpernReflection = false, RestartToAverage = false },
        ["restarts+weight, to average"] = new() { HalpernReflection = false },
        ["average+adaptive step"] = new() { HalpernReflection = false, AdaptiveStepSize = true },
        ["average+preconditioning"] = new() { HalpernReflection = false, DiagonalPreconditioning = true },
        ["average, fixed weight"] = new() { HalpernReflection = false, PrimalWeightUpdates = false },
        ["Halpern+restarts+weight (default)"] = new(),
        ["Halpern+preconditioning"] = new() { DiagonalPreconditioning = true },
        ["Halpern, fixed weight"] = new() { PrimalWeightUpdates = false },
    };

    [Params(28, 64)]
    public int Size { get; set; }

    [ParamsSource(nameof(Variants))]
    public string Variant { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        _problem = TvLpBenchData.Problem(Size);
        var s = TvLpSolver.Solve(_problem, Options[Variant]);
        Console.WriteLine($"// TvLp {Size}x{Size} [{Variant}]: {s.Status} it={s.Iterations} restarts={s.Restarts}");
    }

    [Benchmark]
    public double Solve() => TvLpSolver.Solve(_problem, Options[Variant]).Certificate.PrimalObjective;
}

/// <summary>
/// A single 224² solve (default options: float iterations) with its steps on one thread against 2 row blocks per step
/// in parallel, always (<c>Timed = false</c>) or while timed faster than one thread (<c>Timed = true</c>, the default,
/// <see cref="StepThreadTuner"/>). The iterates are identical, so the ratios are the step's parallel speed-up on this
/// machine under its current load, and what the tuner keeps of it.
/// Run: <c>dotnet run -c Release -- --filter '*TvLpRowBlock*'</c>.
/// </summary>
[Config(typeof(TvLpJobConfig))]
public class TvLpRowBlockBenchmarks
{
    private TvLpProblem _problem = null!;

    [Params(1, 2)]
    public int Threads { get; set; }

    [Params(false, true)]
    public bool Timed { get; set; }

    [GlobalSetup]
    public void Setup() => _problem = TvLpBenchData.Problem(224);

    [Benchmark]
    public double Solve224() =>
        TvLpSolver.Solve(_problem, new TvLpOptions { StepThreads = Threads, TimedStepThreads = Timed }).Certificate.PrimalObjective;
}
