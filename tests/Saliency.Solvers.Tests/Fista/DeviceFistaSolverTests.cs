using MathNet.Numerics.LinearAlgebra;
using NUnit.Framework;
using Saliency.Kernels.Backends;
using Saliency.Solvers.Caso;
using Saliency.Solvers.Fista;
using Saliency.Solvers.Tests.Caso;

namespace Saliency.Solvers.Tests.Fista;

/// <summary>
/// The device-resident FISTA (<see cref="DeviceFistaSolver"/>, float32 state on the backend) against the closed forms
/// at λ1 = 0, coordinate descent and the host FISTA at λ1 &gt; 0, on every backend that runs here.
/// Stated tolerance: float32 vectors, so solutions agree to 2e-4 relative (float32 round-off × cond(Q) ≤ 30 here, plus
/// the 1e-6 residual tolerance); subgradient conditions hold to 1e-4·‖g‖∞.
/// </summary>
[TestFixture]
internal class DeviceFistaSolverTests
{
    private static readonly CasoOptions Device = new() { Path = CasoSolverPath.Device, Tolerance = 1e-6, MaxIterations = 5000 };

    /// <summary>W as float32 class-major (column j contiguous) and the same values as a float64 matrix.</summary>
    private static (float[] Flat, Matrix<double> Rounded) FloatJacobian(int d, int c, int seed)
    {
        var w = CasoTestData.RandomJacobian(d, c, seed);
        var flat = new float[d * c];
        for (int j = 0; j < c; j++) for (int i = 0; i < d; i++) flat[j * d + i] = (float)w[i, j];
        return (flat, Matrix<double>.Build.Dense(d, c, (i, j) => flat[j * d + i]));
    }

    private static IEnumerable<BackendKind> Backends() => DeviceBackendCases.Kinds();

    [TestCaseSource(nameof(Backends))]
    public void LambdaOneZero_ReachesBothClosedForms(BackendKind kind)
    {
        using var backend = DeviceBackendCases.Create(kind);
        int d = 257, c = 10; // odd d: no slice is a multiple of a vector width
        var (flat, w) = FloatJacobian(d, c, 61);
        var p = CasoTestData.RandomProbabilities(c, 62);
        using var problem = CasoProblem.FromClassMajor(backend, flat, d, c, p);
        var g = CasoTestData.Gradient(w, p, problem.Target);
        var h = CasoTestData.DenseHessian(w, p);

        // CASO: Δ = (2λ2 I − H)⁻¹ g.
        var caso = CasoSolver.Solve(problem, new[] { 0.0 }, Device)[0];
        Assert.That(caso.Converged, Is.True, $"{caso.Status} after {caso.Iterations}");
        var expected = (2 * caso.Lambda2 * Matrix<double>.Build.DenseIdentity(d) - h).Solve(g);
        Assert.That(CasoTestData.RelativeError(caso.Solution, expected), Is.LessThan(2e-4));
        // The reported objective and loss are those of the returned Δ (dense float64 evaluation).
        var x = Vector<double>.Build.Dense(caso.Solution);
        double loss = g.DotProduct(x) + 0.5 * x.DotProduct(h * x);
        Assert.That(caso.Loss, Is.EqualTo(loss).Within(1e-5 * Math.Abs(loss)));
        Assert.That(caso.Objective, Is.EqualTo(loss - caso.Lambda2 * x.DotProduct(x)).Within(1e-5 * Math.Abs(loss)));

        // CAFO: Δ = g / (2λ2), no Hessian products at all.
        var cafo = CasoSolver.Solve(problem, new[] { 0.0 }, Device with { Kind = CasoObjectiveKind.Cafo })[0];
        Assert.That(cafo.Converged, Is.True);
        Assert.That(CasoTestData.RelativeError(cafo.Solution, g / (2 * cafo.Lambda2)), Is.LessThan(1e-5));
    }

    [TestCaseSource(nameof(Backends))]
    public void BatchedLambdaOneSweepValues_MatchHostFistaAndCoordinateDescent(BackendKind kind)
    {
        using var backend = DeviceBackendCases.Create(kind);
        int d = 150, c = 8;
        var (flat, w) = FloatJacobian(d, c, 63);
        var p = CasoTestData.RandomProbabilities(c, 64);
        using var problem = CasoProblem.FromClassMajor(backend, flat, d, c, p);
        var g = CasoTestData.Gradient(w, p, problem.Target);
        double gInf = g.AbsoluteMaximum();
        // The sweep's ×10 grid from 1e-4, plus fractions of ‖g‖∞, and one λ1 ≥ ‖g‖∞ (Δ = 0 exactly).
        var lambdas = new[] { 1e-4, 1e-3, 1e-2, 0.1 * gInf, 0.3 * gInf, 0.6 * gInf, 1.5 * gInf };
        var device = CasoSolver.Solve(problem, lambdas, Device);
        var host = CasoSolver.Solve(problem, lambdas, Device with { Path = CasoSolverPath.Host, Tolerance = 1e-10, MaxIterations = 20_000 });
        var q = 2 * host[0].Lambda2 * Matrix<double>.Build.DenseIdentity(d) - CasoTestData.DenseHessian(w, p);
        for (int s = 0; s < lambdas.Length; s++)
        {
            Assert.That(device[s].Lambda1, Is.EqualTo(lambdas[s]));
            Assert.That(device[s].Converged, Is.True, $"λ1 = {lambdas[s]}: {device[s].Status}");
            var reference = CoordinateDescent.Solve(q, g.ToArray(), lambdas[s]);
            double scale = Math.Max(Vector<double>.Build.Dense(reference).L2Norm(), 1e-300);
            double diff = 0, diffHost = 0;
            for (int i = 0; i < d; i++)
            {
                diff += Math.Pow(device[s].Solution[i] - reference[i], 2);
                diffHost += Math.Pow(device[s].Solution[i] - host[s].Solution[i], 2);
            }
            if (lambdas[s] >= gInf)
            {
                Assert.That(device[s].Solution, Is.All.EqualTo(0.0), "λ1 ≥ ‖g‖∞ gives Δ = 0 exactly");
                continue;
            }
            Assert.That(Math.Sqrt(diff) / scale, Is.LessThan(2e-4), $"λ1 = {lambdas[s]} vs coordinate descent");
            Assert.That(Math.Sqrt(diffHost) / scale, Is.LessThan(2e-4), $"λ1 = {lambdas[s]} vs host FISTA");
            Assert.That(FistaSolverTests.SubgradientViolation(q, g.ToArray(), lambdas[s], device[s].Solution), Is.LessThan(1e-4 * gInf));
            Assert.That(device[s].Objective, Is.EqualTo(host[s].Objective).Within(1e-5 * Math.Abs(host[s].Objective)));
            // Sparsity: the exact zeros agree up to entries whose reference value is within float32 round-off of 0.
            int disagree = Enumerable.Range(0, d).Count(i => (device[s].Solution[i] == 0) != (reference[i] == 0) && Math.Abs(reference[i]) > 1e-5 * scale);
            Assert.That(disagree, Is.Zero, $"λ1 = {lambdas[s]}: zero patterns differ");
        }
    }

    [TestCaseSource(nameof(Backends))]
    public void SmoothCaso_SumOfCopiesOnTheDevice_MatchesHostPath(BackendKind kind)
    {
        using var backend = DeviceBackendCases.Create(kind);
        int d = 96, c = 7, n = 3;
        var samples = new ClassMajorJacobianSample[n];
        for (int j = 0; j < n; j++)
            samples[j] = new ClassMajorJacobianSample(FloatJacobian(d, c, 70 + j).Flat, d, c, CasoTestData.RandomProbabilities(c, 80 + j, 0.5));
        using var problem = CasoProblem.FromNoisyCopies(backend, new Provider(samples), new CasoProblemOptions { Target = 2, TopClasses = 4 });
        Assert.That(problem.Backend, Is.SameAs(backend));
        var lambdas = new[] { 0.0, 0.01, 0.05 };
        var device = CasoSolver.Solve(problem, lambdas, Device);
        var host = CasoSolver.Solve(problem, lambdas, Device with { Path = CasoSolverPath.Host, Tolerance = 1e-10, MaxIterations = 20_000 });
        for (int s = 0; s < lambdas.Length; s++)
        {
            Assert.That(device[s].Converged, Is.True);
            Assert.That(CasoTestData.RelativeError(device[s].Solution, Vector<double>.Build.Dense(host[s].Solution)), Is.LessThan(2e-4), $"λ1 = {lambdas[s]}");
        }
    }

    [TestCaseSource(nameof(Backends))]
    public void Lambda1Sweep_OnTheDevice_SelectsWhatTheHostSelects(BackendKind kind)
    {
        using var backend = DeviceBackendCases.Create(kind);
        int d = 200, c = 10;
        var (flat, _) = FloatJacobian(d, c, 90);
        var p = CasoTestData.RandomProbabilities(c, 91);
        using var problem = CasoProblem.FromClassMajor(backend, flat, d, c, p);
        var device = Lambda1Sweep.Run(problem, Device);
        var host = Lambda1Sweep.Run(problem, Device with { Path = CasoSolverPath.Host });
        Assert.That(device.Tried.Select(r => r.Lambda1), Is.EqualTo(host.Tried.Select(r => r.Lambda1)));
        Assert.That(device.FoundInRange, Is.EqualTo(host.FoundInRange));
        if (host.Selected is { } h)
        {
            Assert.That(device.Selected!.Lambda1, Is.EqualTo(h.Lambda1));
            Assert.That(device.Selected.SparsityRatio, Is.EqualTo(h.SparsityRatio).Within(2.0 / d));
        }
    }

    [Test]
    public void ChecksReadScalarsButDoNotChangeTheIterates()
    {
        // With the restart off and no backtracking, a run checked every iteration and one checked every 7th follow
        // the same path bit for bit (the checks only read); both run to the cap with tolerance 0.
        int d = 120, c = 6;
        var (flat, _) = FloatJacobian(d, c, 95);
        using var problem = CasoProblem.FromClassMajor(ComputeBackends.Cpu, flat, d, c, CasoTestData.RandomProbabilities(c, 96));
        var options = Device with { Tolerance = 0, MaxIterations = 140, RestartOnIncrease = false };
        var every = CasoSolver.Solve(problem, new[] { 0.0, 0.02 }, options with { CheckInterval = 1 });
        var seventh = CasoSolver.Solve(problem, new[] { 0.0, 0.02 }, options with { CheckInterval = 7 });
        for (int s = 0; s < 2; s++)
        {
            Assert.That(every[s].Status, Is.EqualTo(FistaStatus.IterationLimit));
            Assert.That(every[s].BacktrackingSteps + seventh[s].BacktrackingSteps, Is.Zero);
            Assert.That(seventh[s].Iterations, Is.EqualTo(140));
            Assert.That(seventh[s].Solution, Is.EqualTo(every[s].Solution));
        }
    }

    [Test]
    public void DevicePathNeedsADeviceProblemAndABoundedStep()
    {
        var w = CasoTestData.RandomJacobian(20, 4, 97);
        var dense = CasoProblem.FromJacobian(w, CasoTestData.RandomProbabilities(4, 98));
        Assert.That(dense.Backend, Is.Null);
        Assert.Throws<CasoInputException>(() => CasoSolver.Solve(dense, new[] { 0.0 }, Device));
        Assert.Throws<CasoInputException>(() => CasoSolver.Solve(dense, new[] { 0.0 }, Device with { CheckInterval = 0 }));
        // Auto on a dense problem stays on the host.
        Assert.That(CasoSolver.Solve(dense, new[] { 0.0 }, Device with { Path = CasoSolverPath.Auto })[0].Converged, Is.True);
    }

    private sealed class Provider(ClassMajorJacobianSample[] samples) : IClassMajorJacobianProvider
    {
        public int Count => samples.Length;
        public ClassMajorJacobianSample Evaluate(int index) => samples[index];
    }
}
