using BenchmarkDotNet.Attributes;
using Saliency.Kernels.Backends;
using Saliency.Solvers.Caso;

namespace Saliency.Bench.Caso;

/// <summary>
/// CASO FISTA iterations per second against the batch of λ1 values solved together (1, 4, 16), on the CPU.
/// Every iteration makes one batched HVP pass pair over W for the whole batch, so the time per iteration should grow
/// far less than k while W streaming dominates.
/// </summary>
/// <remarks>
/// <para>Cases: MNIST-sized (d = 784, c = 10) with the backends' float32 HVP kernel and, as peer, the float64 MathNet
/// path; ImageNet-sized (d = 150,528 = 3·224·224) with all c = 1,000 classes (W = 602 MB float32; L from the authors'
/// 10 power iterations, the exact c×c spectrum at this size is a separate cost) and with the top-64 classes (exact L),
/// float32 kernel and float64 peer.</para>
/// <para>Each invocation runs exactly <see cref="Iterations"/> FISTA iterations (tolerance 0, λ1 values far below
/// ‖g‖∞ so no slice stops early); <c>OperationsPerInvoke</c> makes the reported Mean the time of ONE iteration for the
/// whole batch. Iterations/s = 1/Mean; λ1-iterations/s = k/Mean.</para>
/// <para>Run: <c>cd bench/Saliency.Bench &amp;&amp; dotnet run -c Release -- --filter '*CasoIteration*' --job short</c>.</para>
/// </remarks>
public class CasoIterationBenchmarks
{
    private const int Iterations = 4;
    private CasoProblem _problem = null!;
    private double[] _lambdas = [];
    private CasoOptions _options = null!;

    /// <summary>Problem size and HVP path.</summary>
    [Params("d784-c10-kernel", "d784-c10-float64", "d150528-top64-kernel", "d150528-top64-float64", "d150528-c1000-kernel")]
    public string Case { get; set; } = "";

    /// <summary>λ1 values per batch.</summary>
    [Params(1, 4, 16)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        bool large = Case.StartsWith("d150528", StringComparison.Ordinal);
        int d = large ? 150_528 : 784, c = large ? 1000 : 10;
        var w = CasoBenchData.Jacobian(d, c, large ? 0.01 : 0.1, 1);
        var p = CasoBenchData.Probabilities(c, large ? 0.2 : 0.5, 2);
        var problemOptions = new CasoProblemOptions
        {
            TopClasses = Case.Contains("top64", StringComparison.Ordinal) ? 64 : null,
            LambdaMaxMethod = Case.Contains("c1000", StringComparison.Ordinal) ? LambdaMaxKind.PowerIterationEstimate : LambdaMaxKind.Exact,
        };
        if (Case.EndsWith("kernel", StringComparison.Ordinal))
        {
            _problem = CasoProblem.FromClassMajor(ComputeBackends.Cpu, w, d, c, p, problemOptions);
        }
        else
        {
            // float64 peer: only the kept classes are materialised (top-64 of 1,000 at ImageNet size: 77 MB).
            int[] keep = problemOptions.TopClasses is int k ? ClassSelection.TopClasses(p, k, System.Numerics.Tensors.TensorPrimitives.IndexOfMax<double>(p), out _) : Enumerable.Range(0, c).ToArray();
            var wKeep = new float[(long)d * keep.Length];
            for (int j = 0; j < keep.Length; j++) w.AsSpan(keep[j] * d, d).CopyTo(wKeep.AsSpan(j * d, d));
            var pKeep = keep.Select(j => p[j]).ToArray();
            double mass = pKeep.Sum();
            // Renormalised only for the float64 path's full-simplex check; the kernel path keeps the exact sub-block.
            _problem = CasoProblem.FromJacobian(CasoBenchData.ToMatrix(wKeep, d, keep.Length), pKeep.Select(v => v / mass).ToArray());
        }
        double gInf = _problem.Gradient.ToArray().Max(Math.Abs);
        _lambdas = Enumerable.Range(0, Batch).Select(j => 1e-4 * gInf * (1 + j)).ToArray();
        _options = new CasoOptions { Tolerance = 0, MaxIterations = Iterations, MaxBatch = 16 };
        Console.WriteLine($"// {Case}: d = {d}, classes kept {_problem.ClassCount}/{_problem.TotalClasses}, dropped mass {_problem.DroppedProbabilityMass:G3}, L = {_problem.LambdaMax:G4} ({_problem.LambdaMaxKind})");
    }

    [GlobalCleanup]
    public void Cleanup() => _problem.Dispose();

    /// <summary>One FISTA iteration for the whole batch (reported per iteration).</summary>
    [Benchmark(OperationsPerInvoke = Iterations)]
    public int FistaIteration()
    {
        var results = CasoSolver.Solve(_problem, _lambdas, _options);
        return results[0].Iterations;
    }
}
