using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Saliency.Kernels.Backends;
using Saliency.Solvers.Caso;

namespace Saliency.Bench.Caso;

/// <summary>
/// FISTA iterations needed (and time) against the relative tolerance, with and without the function-value restart,
/// for a CASO problem with d = 784, c = 10 (float32 kernel HVPs on the CPU), λ2 = L/2 + 2 and λ1 = 0.05·‖g‖∞.
/// The iteration count is a column of the table ("Iterations"), measured once per case in the setup.
/// </summary>
/// <remarks>Run: <c>cd bench/Saliency.Bench &amp;&amp; dotnet run -c Release -- --filter '*FistaTolerance*' --job short</c>.</remarks>
[Config(typeof(Config))]
public class FistaToleranceBenchmarks
{
    internal static readonly Dictionary<string, string> IterationsByCase = new();

    private CasoProblem _problem = null!;
    private double[] _lambda = [];
    private CasoOptions _options = null!;

    [Params(1e-2, 1e-4, 1e-6, 1e-8)]
    public double Tolerance { get; set; }

    [Params(true, false)]
    public bool Restart { get; set; }

    /// <summary>λ2 margin relative to L: 2 absolute (the authors' rule) or 0.01·L (an ill-conditioned instance).</summary>
    [Params("abs2", "rel0.01")]
    public string Margin { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        const int d = 784, c = 10;
        var w = CasoBenchData.Jacobian(d, c, 0.1, 3);
        var p = CasoBenchData.Probabilities(c, 0.5, 4);
        _problem = CasoProblem.FromClassMajor(ComputeBackends.Cpu, w, d, c, p);
        double gInf = _problem.Gradient.ToArray().Max(Math.Abs);
        _lambda = [0.05 * gInf];
        double margin = Margin == "abs2" ? 2.0 : 0.01 * _problem.LambdaMax;
        _options = new CasoOptions { Tolerance = Tolerance, MaxIterations = 100_000, RestartOnIncrease = Restart, Lambda2Margin = margin };
        var r = CasoSolver.Solve(_problem, _lambda, _options)[0];
        IterationsByCase[Key(Tolerance, Restart, Margin)] = $"{r.Iterations} ({r.Status}, {r.Restarts} restarts, κ = {(_problem.LambdaMax + 2 * margin) / (2 * margin):G3})";
        Console.WriteLine($"// tolerance {Tolerance:G}, restart {Restart}, margin {Margin}: {IterationsByCase[Key(Tolerance, Restart, Margin)]}");
    }

    [GlobalCleanup]
    public void Cleanup() => _problem.Dispose();

    [Benchmark]
    public int SolveToTolerance() => CasoSolver.Solve(_problem, _lambda, _options)[0].Iterations;

    internal static string Key(double tolerance, bool restart, string margin) => $"{tolerance:G}|{restart}|{margin}";

    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new IterationsColumn());
    }

    /// <summary>Shows the iteration count measured in the setup of each case.</summary>
    private sealed class IterationsColumn : IColumn
    {
        public string Id => nameof(IterationsColumn);
        public string ColumnName => "Iterations";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => false;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => "FISTA iterations to reach the tolerance (status, restarts, condition number)";
        public bool IsAvailable(Summary summary) => true;
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            // Benchmarks run in child processes; recompute the count here (cheap at this size) rather than share state.
            double tol = (double)benchmarkCase.Parameters["Tolerance"];
            bool restart = (bool)benchmarkCase.Parameters["Restart"];
            string margin = (string)benchmarkCase.Parameters["Margin"];
            var key = Key(tol, restart, margin);
            if (!IterationsByCase.TryGetValue(key, out var value))
            {
                var bench = new FistaToleranceBenchmarks { Tolerance = tol, Restart = restart, Margin = margin };
                bench.Setup();
                bench.Cleanup();
                value = IterationsByCase[key];
            }
            return value;
        }
    }
}
