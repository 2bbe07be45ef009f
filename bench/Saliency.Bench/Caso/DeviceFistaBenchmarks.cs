using BenchmarkDotNet.Attributes;
using Saliency.Kernels.Backends;
using Saliency.Solvers.Caso;

namespace Saliency.Bench.Caso;

/// <summary>
/// The device-resident CASO FISTA (<see cref="Saliency.Solvers.Fista.DeviceFistaSolver"/>, float32 state on the
/// backend, a check every 10 iterations) against its peer in the same run, the host FISTA (float64 vectors on the host,
/// HVPs through the CPU kernel), at MNIST size (d = 784, c = 10), k = 1 and 16 λ1 per batch.
/// </summary>
/// <remarks>
/// <para>Cases: <c>cpu-host</c> (the reference path <see cref="CasoSolverPath.Host"/>), <c>cpu-device</c> (the device
/// path on the CPU backend: the same kernels as the host path, the state kept in device buffers), <c>ilgpu-cpu-device</c>
/// (the device path on ILGPU's CPU accelerator, which simulates GPU threads: the figure shows the per-launch cost of
/// the device loop, not GPU speed; the GPU figures come from <c>tools/gpu-check.sh</c>).</para>
/// <para>Each invocation runs exactly <see cref="Iterations"/> FISTA iterations (tolerance 0); <c>OperationsPerInvoke</c>
/// makes the Mean the time of one iteration for the whole batch.</para>
/// <para>Run: <c>cd bench/Saliency.Bench &amp;&amp; dotnet run -c Release -- --filter '*DeviceFista*' --job short</c>.</para>
/// </remarks>
public class DeviceFistaBenchmarks
{
    private const int Iterations = 20;
    private IComputeBackend _backend = null!;
    private CasoProblem _problem = null!;
    private double[] _lambdas = [];
    private CasoOptions _options = null!;

    /// <summary>Backend and path.</summary>
    [Params("cpu-host", "cpu-device", "ilgpu-cpu-device")]
    public string Case { get; set; } = "";

    /// <summary>λ1 values per batch.</summary>
    [Params(1, 16)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        int d = 784, c = 10;
        var w = CasoBenchData.Jacobian(d, c, 0.1, 1);
        var p = CasoBenchData.Probabilities(c, 0.5, 2);
        _backend = Case.StartsWith("ilgpu", StringComparison.Ordinal) ? ComputeBackends.Create(BackendKind.IlgpuCpu) : ComputeBackends.Cpu;
        _problem = CasoProblem.FromClassMajor(_backend, w, d, c, p);
        double gInf = _problem.Gradient.ToArray().Max(Math.Abs);
        _lambdas = Enumerable.Range(0, Batch).Select(j => 1e-4 * gInf * (1 + j)).ToArray();
        _options = new CasoOptions
        {
            Tolerance = 0, MaxIterations = Iterations, MaxBatch = 16, CheckInterval = 10,
            Path = Case.EndsWith("host", StringComparison.Ordinal) ? CasoSolverPath.Host : CasoSolverPath.Device,
        };
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _problem.Dispose();
        _backend.Dispose();
    }

    /// <summary>One FISTA iteration for the whole batch (reported per iteration).</summary>
    [Benchmark(OperationsPerInvoke = Iterations)]
    public int FistaIteration() => CasoSolver.Solve(_problem, _lambdas, _options)[0].Iterations;
}
