using System.Diagnostics;
using System.Globalization;
using Saliency.Kernels.Ops.PrimalDual;
using Saliency.Linalg.Grid;
using Saliency.Solvers.Lp;

namespace Saliency.Bench.Lp;

/// <summary>
/// The LP size table of RESULTS.md in one short console run: for each grid, iterations, restarts and the median of
/// <c>--repeats</c> wall-clock solves (each a fresh <see cref="TvLpSolver.Solve"/>, after one warm-up solve at 28²), then
/// the 3×224² batch. Instances: <c>disc</c> = <see cref="TvLpBenchData.Problem"/> (pixel-level noise) and
/// <c>paper</c> = <see cref="PaperProblem"/> (the LEG estimate of a 28×28 perturbation grid upsampled ×8).
/// Run: <c>cd bench/Saliency.Bench &amp;&amp; dotnet run -c Release -- lp-table [--sizes 28,56,112,224] [--repeats 3]
/// [--instance disc|paper|both] [--no-batch] [--double] [--kkt-restarts] [--no-projection] [--no-multilevel] [--step-threads n] [--no-share] [--untimed] [--batch-only]</c>
/// (the first four switch off the float iteration, the fixed-point restarts, the dual projection and the multilevel start one by one; iterations are the finest level's; <c>--no-share</c> keeps a batch's finished workers idle instead of lending their cores to the LPs still running; <c>--untimed</c> always splits steps that may be split, without timing one thread against the split (<see cref="TvLpOptions.TimedStepThreads"/>); <c>--batch-only</c> skips the single solves). "cpu s" is the process CPU time of the solve: on
/// the shared machine it tracks the idle-machine time of a one-thread solve better than the wall clock.
/// </summary>
internal static class TvLpTable
{
    public static int Run(string[] args)
    {
        int[] sizes = [28, 56, 112, 224];
        int repeats = 3;
        string instance = "both";
        bool batch = true;
        var options = new TvLpOptions();
        for (int i = 1; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--sizes": sizes = args[++i].Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray(); break;
                case "--repeats": repeats = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--instance": instance = args[++i]; break;
                case "--no-batch": batch = false; break;
                case "--steps": return StepTimes(sizes);
                case "--double": options = options with { SinglePrecisionIterations = false }; break;
                case "--kkt-restarts": options = options with { FixedPointRestarts = false }; break;
                case "--no-projection": options = options with { DualProjection = false }; break;
                case "--no-multilevel": options = options with { Multilevel = false }; break;
                case "--no-share": options = options with { ShareIdleCores = false }; break;
                case "--batch-only": sizes = []; break;
                case "--untimed": options = options with { TimedStepThreads = false }; break;
                case "--step-threads": options = options with { StepThreads = int.Parse(args[++i], CultureInfo.InvariantCulture) }; break;
                default: Console.Error.WriteLine($"unknown argument {args[i]}"); return 2;
            }
        }
        string[] kinds = instance == "both" ? ["disc", "paper"] : [instance];
        Console.WriteLine($"# options: single={options.SinglePrecisionIterations} fixed-point restarts={options.FixedPointRestarts} " +
            $"dual projection={options.DualProjection} multilevel={options.Multilevel} step threads={options.StepThreads} " +
            $"share idle cores={options.ShareIdleCores} timed={options.TimedStepThreads}");
        Console.WriteLine($"# load average {LoadAverage()}, {Environment.ProcessorCount} cores, .NET {Environment.Version}");
        TvLpSolver.Solve(TvLpBenchData.Problem(28), options);   // JIT warm-up
        Console.WriteLine("| instance | grid | iterations | restarts | median s | runs s | cpu s (median) | max rel. residual/gap | status |");
        Console.WriteLine("|----------|-----:|-----------:|---------:|---------:|-------:|------:|----------------------:|--------|");
        foreach (string kind in kinds)
            foreach (int n in sizes)
            {
                var problem = Make(kind, n, 1);
                var times = new double[repeats];
                var cpu = new double[repeats];
                TvLpSolution s = null!;
                for (int r = 0; r < repeats; r++)
                {
                    var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                    var sw = Stopwatch.StartNew();
                    s = TvLpSolver.Solve(problem, options);
                    times[r] = sw.Elapsed.TotalSeconds;
                    cpu[r] = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
                }
                Row(kind, $"{n}²", s, times, cpu);
            }
        if (batch)
            foreach (string kind in kinds)
            {
                var problems = new[] { Make(kind, 224, 1), Make(kind, 224, 2), Make(kind, 224, 3) };
                var times = new double[repeats];
                var cpu = new double[repeats];
                TvLpSolution[] all = [];
                for (int r = 0; r < repeats; r++)
                {
                    var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
                    var sw = Stopwatch.StartNew();
                    all = TvLpSolver.SolveBatch(problems, options);
                    times[r] = sw.Elapsed.TotalSeconds;
                    cpu[r] = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
                }
                var worst = all.MaxBy(a => Worst(a.Certificate))!;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {kind} | 3×224² batch | {string.Join("/", all.Select(a => a.Iterations))} | {string.Join("/", all.Select(a => a.Restarts))} | " +
                    $"{Median(times):F3} | {string.Join(" ", times.Select(t => t.ToString("F2", CultureInfo.InvariantCulture)))} | {Median(cpu):F2} (2 threads) | " +
                    $"{Worst(worst.Certificate):E1} | {string.Join("/", all.Select(a => a.Status))} |"));
            }
        Console.WriteLine($"# load average at the end {LoadAverage()}");
        return 0;
    }

    /// <summary>Per-step cost of the fused Halpern step, double vs float (one sweep, and 2 row blocks in parallel), best
    /// of 15 runs of 100 steps (under load the best run is the one least disturbed by other processes).</summary>
    private static int StepTimes(int[] sizes)
    {
        Console.WriteLine($"# load average {LoadAverage()}");
        Console.WriteLine("| grid | double µs/step | float µs/step | float/double | float 2 blocks µs/step | 2 blocks/1 |");
        Console.WriteLine("|-----:|---------------:|--------------:|-------------:|-----------------------:|-----------:|");
        foreach (int n in sizes)
        {
            int p = n * n, m = PrimalDualTvStep.EdgeCount(n, n);
            var rng = new Random(1);
            double[] Rand(int k) => Enumerable.Range(0, k).Select(_ => rng.NextDouble() - 0.5).ToArray();
            var (x, y, b, x0, y0) = (Rand(p), Rand(m), Rand(m), Rand(p), Rand(m));
            var scratch = new double[PrimalDualTvStep.ScratchLength(n, 1)];
            float[] F(double[] a) => a.Select(v => (float)v).ToArray();
            var (xs, ys, bs, x0s, y0s) = (F(x), F(y), F(b), F(x0), F(y0));
            var scratchS = new float[PrimalDualTvStepSingle.ScratchLength(n)];
            var scratch2 = new float[PrimalDualTvStepSingle.ScratchLength(n, n, 2)];
            double Best(Action step)
            {
                double best = double.PositiveInfinity;
                for (int run = 0; run < 15; run++)
                {
                    var sw = Stopwatch.StartNew();
                    for (int k = 0; k < 100; k++) step();
                    best = Math.Min(best, sw.Elapsed.TotalMilliseconds * 10);
                }
                return best;
            }
            double d = Best(() => PrimalDualTvStep.HalpernStep(n, n, x, y, b, x0, y0, 0.9, 0.3, 0.3, 0.1, 10, [], scratch));
            double f = Best(() => PrimalDualTvStepSingle.HalpernStep(n, n, xs, ys, bs, x0s, y0s, 0.9f, 0.3f, 0.3f, 0.1f, 10f, scratchS));
            double f2 = Best(() => PrimalDualTvStepSingle.HalpernStep(n, n, xs, ys, bs, x0s, y0s, 0.9f, 0.3f, 0.3f, 0.1f, 10f, scratch2, 2));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {n}² | {d:F1} | {f:F1} | {f / d:F2} | {f2:F1} | {f2 / f:F2} |"));
        }
        Console.WriteLine($"# load average at the end {LoadAverage()}");
        return 0;
    }

    private static void Row(string kind, string grid, TvLpSolution s, double[] times, double[] cpu) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {kind} | {grid} | {s.Iterations:N0} | {s.Restarts} | {Median(times):F3} | " +
            $"{string.Join(" ", times.Select(t => t.ToString("F3", CultureInfo.InvariantCulture)))} | {Median(cpu):F3} | {Worst(s.Certificate):E1} | {s.Status} |"));

    private static double Worst(TvLpCertificate c) => Math.Max(c.RelativeGap, Math.Max(c.RelativePrimalResidual, c.RelativeDualResidual));

    private static double Median(double[] t)
    {
        var s = t.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : 0.5 * (s[s.Length / 2 - 1] + s[s.Length / 2]);
    }

    private static string LoadAverage()
    {
        try { return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "n/a"; }
    }

    public static TvLpProblem Make(string kind, int n, int seed) => kind switch
    {
        "disc" => TvLpBenchData.Problem(n, seed),
        "paper" => PaperProblem(n, seed),
        _ => throw new ArgumentException($"unknown instance '{kind}' (disc, paper)"),
    };

    /// <summary>
    /// The paper's setting: the saliency h is known on a 28×28 grid (disc + N(0, 0.3²) noise, the disc instance's
    /// construction) and upsampled ×(n/28) by nearest neighbour, as LEG's perturbations are; y = Σh for
    /// Σ = s²(DᵀD + 11ᵀ/p) gives b = D⁺ᵀy = s²Dh. L = 0.1·L_max.
    /// </summary>
    public static TvLpProblem PaperProblem(int n, int seed = 1)
    {
        const int coarse = 28;
        var coarseProblem = TvLpBenchData.Problem(coarse, seed);
        // Recover the coarse h from b = s² D h up to its mean: integrate along the first column, then along rows.
        var h28 = new double[coarse * coarse];
        var b = coarseProblem.B;
        int v = (coarse - 1) * coarse, hc = coarse - 1;
        for (int r = 1; r < coarse; r++) h28[r * coarse] = h28[(r - 1) * coarse] + b[(r - 1) * coarse] / TvLpBenchData.NoiseVariance;
        for (int r = 0; r < coarse; r++)
            for (int c = 1; c < coarse; c++)
                h28[r * coarse + c] = h28[r * coarse + c - 1] + b[v + r * hc + c - 1] / TvLpBenchData.NoiseVariance;
        int f = Math.Max(1, n / coarse);
        int size = coarse * f;
        var h = new double[size * size];
        for (int r = 0; r < size; r++)
            for (int c = 0; c < size; c++)
                h[r * size + c] = TvLpBenchData.NoiseVariance * h28[(r / f) * coarse + c / f];
        var shape = new GridShape(size, size);
        var bf = new double[shape.DifferenceCount];
        PrimalDualTvStep.ApplyD(size, size, h, bf);
        var atZero = TvLpProblem.ForPaperCovariance(shape, bf, 0, TvLpBenchData.NoiseVariance);
        return atZero.WithBound(TvLpBenchData.BoundFactor * TvLpSolver.MaxBound(atZero));
    }
}
