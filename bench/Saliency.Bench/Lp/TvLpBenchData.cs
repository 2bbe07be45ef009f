using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using Saliency.Kernels.Ops.PrimalDual;
using Saliency.Linalg.Grid;
using Saliency.Solvers.Lp;

namespace Saliency.Bench.Lp;

/// <summary>
/// Seeded LEG-TV instances shared by the LP benchmarks (the same construction as the solver tests: b = D h for a
/// disc of height 1 plus N(0, 0.3²) noise, scaled by s² = 0.1, and L = 0.1·L_max, the paper's K_L = 0.1), and the
/// HiGHS peer (tools/lp/highs_tvlp.py run with Debian's /usr/bin/python3).
/// </summary>
internal static class TvLpBenchData
{
    public const double NoiseVariance = 0.1;
    public const double BoundFactor = 0.1;

    public static TvLpProblem Problem(int size, int seed = 1)
    {
        var shape = new GridShape(size, size);
        var rng = new Random(seed);
        var h = new double[shape.Count];
        for (int r = 0; r < size; r++)
            for (int c = 0; c < size; c++)
            {
                double noise = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
                double dr = r - size / 2.0, dc = c - size / 3.0;
                double disc = dr * dr + dc * dc < shape.Count / 10.0 ? 1.0 : 0.0;
                h[r * size + c] = NoiseVariance * (disc + 0.3 * noise);
            }
        var b = new double[shape.DifferenceCount];
        PrimalDualTvStep.ApplyD(size, size, h, b);
        var atZero = TvLpProblem.ForPaperCovariance(shape, b, 0, NoiseVariance);
        return atZero.WithBound(BoundFactor * TvLpSolver.MaxBound(atZero));
    }

    /// <summary>Writes the instance in the text format highs_tvlp.py reads.</summary>
    public static string WriteInstance(TvLpProblem problem)
    {
        string path = Path.Combine(Path.GetTempPath(), $"tvlp-{problem.Shape.Rows}x{problem.Shape.Cols}-{Environment.ProcessId}.txt");
        using var w = new StreamWriter(path);
        w.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{problem.Shape.Rows} {problem.Shape.Cols} {problem.NoiseVariance:R} {problem.Bound:R}"));
        foreach (double v in problem.B) w.WriteLine(v.ToString("R", CultureInfo.InvariantCulture));
        return path;
    }

    /// <summary>Runs the HiGHS script; returns its objective and its own linprog time (seconds).</summary>
    public static (double Objective, double SolveSeconds) RunHighs(string instance, bool solve = true)
    {
        var psi = new ProcessStartInfo("/usr/bin/python3", solve ? [HighsScript(), instance] : [HighsScript(), instance, "--no-solve"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var proc = Process.Start(psi) ?? throw new InvalidOperationException("could not start /usr/bin/python3");
        string output = proc.StandardOutput.ReadToEnd();
        string error = proc.StandardError.ReadToEnd();
        proc.WaitForExit();
        if (proc.ExitCode != 0)
            throw new InvalidOperationException($"highs_tvlp.py failed ({proc.ExitCode}); run tools/setup-bench.sh. {output}{error}");
        double Field(string name)
        {
            var token = output.Split(' ', '\n').First(t => t.StartsWith(name + "=", StringComparison.Ordinal));
            return double.Parse(token[(name.Length + 1)..], CultureInfo.InvariantCulture);
        }
        return (Field("objective"), Field("solve_seconds"));
    }

    /// <summary>tools/lp/highs_tvlp.py, located from this source file's path (the build output may live elsewhere).</summary>
    public static string HighsScript([CallerFilePath] string thisFile = "")
    {
        string root = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(thisFile)!, "..", "..", ".."));
        return Path.Combine(root, "tools", "lp", "highs_tvlp.py");
    }
}
