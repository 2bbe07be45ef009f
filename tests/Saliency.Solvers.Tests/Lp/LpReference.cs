using NUnit.Framework;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Saliency.Linalg.Grid;

namespace Saliency.Solvers.Tests.Lp;

/// <summary>
/// Test-side reference code for the LEG-TV LP, written independently of the solver: D as an explicit edge list,
/// objectives, residuals, instance generators, a dense Cholesky, and the MPS writer + CLP driver.
/// </summary>
internal static class LpReference
{
    /// <summary>D's rows as (from, to) pixel pairs, (Dg)ₑ = g[to] − g[from]; vertical edges first, then horizontal
    /// (the layout documented on GridShape).</summary>
    public static (int From, int To)[] Edges(GridShape s)
    {
        var list = new List<(int, int)>();
        for (int r = 0; r + 1 < s.Rows; r++)
            for (int c = 0; c < s.Cols; c++)
                list.Add((r * s.Cols + c, (r + 1) * s.Cols + c));
        for (int r = 0; r < s.Rows; r++)
            for (int c = 0; c + 1 < s.Cols; c++)
                list.Add((r * s.Cols + c, r * s.Cols + c + 1));
        return list.ToArray();
    }

    public static double[] D(GridShape s, double[] g) => Edges(s).Select(e => g[e.To] - g[e.From]).ToArray();

    public static double[] DT(GridShape s, double[] z)
    {
        var g = new double[s.Count];
        var edges = Edges(s);
        for (int e = 0; e < edges.Length; e++)
        {
            g[edges[e].To] += z[e];
            g[edges[e].From] -= z[e];
        }
        return g;
    }

    public static double Norm2(IEnumerable<double> a) => Math.Sqrt(a.Sum(x => x * x));

    /// <summary>Independent certificate: (relative gap, relative primal residual, relative dual residual, p, d),
    /// for K given by its action on g and its adjoint's action on v.</summary>
    public static (double Gap, double Rp, double Rd, double P, double Dual) Certificate(
        GridShape s, double[] b, double bound, Func<double[], double[]> k, Func<double[], double[]> kt,
        double[] g, double[] u, double[] v)
    {
        Assert.That(u.Max(Math.Abs), Is.LessThanOrEqualTo(1.0 + 1e-12), "dual u must satisfy ‖u‖∞ ≤ 1");
        double p = D(s, g).Sum(Math.Abs);
        double dual = -b.Zip(v, (bi, vi) => bi * vi).Sum() - bound * v.Sum(Math.Abs);
        var kg = k(g);
        double rp = Norm2(b.Select((bi, i) => Math.Max(Math.Abs(bi - kg[i]) - bound, 0)));
        var dtu = DT(s, u);
        var ktv = kt(v);
        double rd = Norm2(dtu.Select((x, j) => x + ktv[j]));
        int m = b.Length;
        return (Math.Abs(p - dual) / (1 + Math.Abs(p) + Math.Abs(dual)), rp / (1 + Norm2(b)), rd / (1 + Math.Sqrt(m)), p, dual);
    }

    /// <summary>b = D h for a random h (so b = D⁺ᵀy with y = DᵀD h lies in range(D) as in LEG); structured: a
    /// disc of height 1 plus noise, random: pure noise. Returns b and h; the exact L = 0 solution is h/s² + const.</summary>
    public static (double[] B, double[] H) Instance(GridShape s, int seed, bool structured, double s2)
    {
        var rng = new Random(seed);
        var h = new double[s.Count];
        for (int r = 0; r < s.Rows; r++)
            for (int c = 0; c < s.Cols; c++)
            {
                double noise = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
                double dr = r - s.Rows / 2.0, dc = c - s.Cols / 3.0;
                double disc = dr * dr + dc * dc < s.Count / 10.0 ? 1.0 : 0.0;
                h[r * s.Cols + c] = s2 * (structured ? disc + 0.3 * noise : noise);
            }
        return (D(s, h), h);
    }

    /// <summary>Solves A x = rhs for a dense SPD A (row-major n×n) by Cholesky.</summary>
    public static double[] CholeskySolve(double[,] a, double[] rhs)
    {
        int n = rhs.Length;
        var l = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++)
            {
                double sum = a[i, j];
                for (int k = 0; k < j; k++) sum -= l[i, k] * l[j, k];
                if (i == j)
                {
                    Assert.That(sum, Is.GreaterThan(0), "matrix must be SPD");
                    l[i, i] = Math.Sqrt(sum);
                }
                else l[i, j] = sum / l[j, j];
            }
        var y = new double[n];
        for (int i = 0; i < n; i++)
        {
            double sum = rhs[i];
            for (int k = 0; k < i; k++) sum -= l[i, k] * y[k];
            y[i] = sum / l[i, i];
        }
        var x = new double[n];
        for (int i = n - 1; i >= 0; i--)
        {
            double sum = y[i];
            for (int k = i + 1; k < n; k++) sum -= l[k, i] * x[k];
            x[i] = sum / l[i, i];
        }
        return x;
    }

    /// <summary>Path of Debian's CLP binary, or null when it is not installed.</summary>
    public static string? ClpPath()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Append("/usr/bin"))
        {
            if (dir.Length == 0) continue;
            var path = Path.Combine(dir, "clp");
            if (File.Exists(path)) return path;
        }
        return null;
    }

    /// <summary>
    /// Writes the LP in sparse form to free MPS: variables g (free) and t ≥ 0, minimise Σt subject to
    /// Dg − t ≤ 0, Dg + t ≥ 0 and b − L ≤ (K g)ₑ ≤ b + L (a ranged row; K given as rows of (column, value)).
    /// </summary>
    public static void WriteMps(string path, GridShape s, double[] b, double bound, IReadOnlyList<(int Col, double Val)>[] kRows)
    {
        var edges = Edges(s);
        int m = edges.Length;
        var colEntries = new List<(string Row, double Val)>[s.Count];
        for (int j = 0; j < s.Count; j++) colEntries[j] = new();
        for (int e = 0; e < m; e++)
        {
            colEntries[edges[e].To].Add(($"a{e}", 1));
            colEntries[edges[e].To].Add(($"c{e}", 1));
            colEntries[edges[e].From].Add(($"a{e}", -1));
            colEntries[edges[e].From].Add(($"c{e}", -1));
            foreach (var (col, val) in kRows[e]) colEntries[col].Add(($"k{e}", val));
        }
        var sb = new StringBuilder();
        string F(double x) => x.ToString("R", CultureInfo.InvariantCulture);
        sb.AppendLine("NAME TVLP").AppendLine("ROWS").AppendLine(" N obj");
        for (int e = 0; e < m; e++) sb.AppendLine($" L a{e}").AppendLine($" G c{e}").AppendLine($" {(bound > 0 ? "G" : "E")} k{e}");
        sb.AppendLine("COLUMNS");
        for (int j = 0; j < s.Count; j++)
            foreach (var (row, val) in colEntries[j]) sb.AppendLine($" g{j} {row} {F(val)}");
        for (int e = 0; e < m; e++) sb.AppendLine($" t{e} obj 1").AppendLine($" t{e} a{e} -1").AppendLine($" t{e} c{e} 1");
        sb.AppendLine("RHS");
        for (int e = 0; e < m; e++) sb.AppendLine($" rhs k{e} {F(b[e] - bound)}");
        if (bound > 0)
        {
            sb.AppendLine("RANGES");
            for (int e = 0; e < m; e++) sb.AppendLine($" rng k{e} {F(2 * bound)}");
        }
        sb.AppendLine("BOUNDS");
        // Two leading spaces: with one, CLP's reader takes a bound line for fixed-column MPS and misreads it.
        for (int j = 0; j < s.Count; j++) sb.AppendLine($"  FR BND  g{j}");
        sb.AppendLine("ENDATA");
        File.WriteAllText(path, sb.ToString());
    }

    /// <summary>Runs CLP on an MPS file, reads its primal solution and returns Σ t (the objective) from it.</summary>
    public static double SolveWithClp(string clp, string mps, int edgeCount)
    {
        string sol = Path.ChangeExtension(mps, ".sol");
        var psi = new ProcessStartInfo(clp, [mps, "-solve", "-printingOptions", "all", "-solution", sol])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var proc = Process.Start(psi)!;
        string stdout = proc.StandardOutput.ReadToEnd();
        proc.StandardError.ReadToEnd();
        Assert.That(proc.WaitForExit(120_000), Is.True, "clp did not finish in 2 minutes");
        Assert.That(stdout, Does.Contain("Optimal objective"), "clp did not report an optimal solution:\n" + stdout);
        // Solution file lines: "index name value reduced-cost"; the objective is Σ t from the printed values.
        double sum = 0;
        int found = 0;
        foreach (var line in File.ReadLines(sol))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length >= 3 && parts[1].StartsWith('t') && int.TryParse(parts[1].AsSpan(1), out _))
            {
                sum += double.Parse(parts[2], CultureInfo.InvariantCulture);
                found++;
            }
        }
        Assert.That(found, Is.EqualTo(edgeCount), "clp's solution file lists every t variable");
        return sum;
    }
}
