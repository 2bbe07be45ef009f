using System.Diagnostics;
using System.Globalization;
using MathNet.Numerics.LinearAlgebra;
using MathNet.Numerics.LinearAlgebra.Factorization;
using Saliency.Linalg.Hessian;

namespace Saliency.Bench.Linalg;

/// <summary>
/// The two parts of L for all-class CASO at full size, timed apart (Stopwatch; one W of d·c floats is 602 MB at
/// d = 150,528, c = 1,000, too large for BenchmarkDotNet's repeated allocations here):
/// <c>dotnet Saliency.Bench.dll gram [d] [c] [repeats]</c> prints the Gram (<see cref="ClassMajorSpectrum.Gram"/>) and the
/// c×c reduction + symmetric eigensolver, per repeat and Gram kernel (AVX-512 4×4 tiles, Vector256 2×4 tiles), with the
/// Gram's process CPU time (robust to a shared machine's load), as JSON lines.
/// </summary>
internal static class GramSpectrumRun
{
    public static int Run(string[] args)
    {
        int d = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 150_528;
        int c = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 1000;
        int repeats = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 3;
        var rng = new Random(7);
        var w = new float[(long)d * c];
        for (long i = 0; i < w.Length; i++) w[i] = (float)(rng.NextDouble() - 0.5);
        var p = new double[c];
        for (int i = 0; i < c; i++) p[i] = 1.0 / c;
        var process = Process.GetCurrentProcess();
        for (int r = 0; r < repeats; r++)
        {
            foreach (bool wide in new[] { true, false })
            {
                process.Refresh();
                var cpu0 = process.TotalProcessorTime;
                var sw = Stopwatch.StartNew();
                var gram = ClassMajorSpectrum.Gram(w, d, c, wide);
                double gramMs = sw.Elapsed.TotalMilliseconds;
                process.Refresh();
                double gramCpuMs = (process.TotalProcessorTime - cpu0).TotalMilliseconds;
                sw.Restart();
                var reduced = Matrix<double>.Build.Dense(c, c, ClassMajorSpectrum.ReducedFromGram(gram, p));
                var evd = reduced.Evd(Symmetricity.Symmetric);
                double evdMs = sw.Elapsed.TotalMilliseconds;
                Console.WriteLine($"{{\"d\":{d},\"c\":{c},\"run\":{r},\"kernel\":\"{(wide ? "4x4 Vector512" : "2x4 Vector256")}\",\"gram_ms\":{gramMs:F1},\"gram_cpu_ms\":{gramCpuMs:F1},\"evd_ms\":{evdMs:F1},\"lmax\":{evd.EigenValues[c - 1].Real:R},\"load\":\"{File.ReadAllText("/proc/loadavg").Split(' ')[0]}\"}}");
            }
        }
        return 0;
    }
}
