using NUnit.Framework;
using Saliency.Kernels.Backends;
using Saliency.Linalg.Grid;
using Saliency.Solvers.Lp;

namespace Saliency.Solvers.Tests.Lp;

/// <summary>The lockstep batch solver over the compute backends (CPU and ILGPU's CPU accelerator here; CUDA where a GPU exists).</summary>
[TestFixture]
internal class TvLpDeviceBatchTests
{
    private static TvLpProblem[] Batch(int rows, int cols)
    {
        var shape = new GridShape(rows, cols);
        var list = new List<TvLpProblem>();
        for (int channel = 0; channel < 3; channel++)
        {
            var (b, _) = LpReference.Instance(shape, 60 + channel, structured: channel != 2, 0.1);
            foreach (double f in new[] { 0.05, 0.2 })
                list.Add(TvLpProblem.ForPaperCovariance(shape, b, f * b.Max(Math.Abs), 0.1));
        }
        return list.ToArray();
    }

    [Test]
    public void CpuBackend_BatchIsCertified_AndAgreesWithSingleSolves()
    {
        var problems = Batch(21, 18);
        var batch = TvLpDeviceBatchSolver.Solve(ComputeBackends.Cpu, problems);
        for (int i = 0; i < problems.Length; i++)
        {
            Assert.That(batch[i].Status, Is.EqualTo(TvLpStatus.Optimal), $"LP {i}");
            var c = batch[i].Certificate;
            var mine = LpReference.Certificate(problems[i].Shape, problems[i].B, problems[i].Bound,
                g => LpReference.D(problems[i].Shape, g).Select(v => 0.1 * v).ToArray(),
                v => LpReference.DT(problems[i].Shape, v).Select(t => 0.1 * t).ToArray(), batch[i].G, batch[i].U, batch[i].V);
            Assert.That(mine.Gap, Is.LessThanOrEqualTo(1e-6));
            Assert.That(mine.Rp, Is.LessThanOrEqualTo(1e-6));
            Assert.That(mine.Rd, Is.LessThanOrEqualTo(1e-6));
            var single = TvLpSolver.Solve(problems[i]);
            Assert.That(c.PrimalObjective, Is.EqualTo(single.Certificate.PrimalObjective).Within(5e-6 * single.Certificate.PrimalObjective));
            Assert.That(batch[i].G.Average(), Is.EqualTo(0).Within(1e-12));
        }
    }

    [Test]
    public void CpuBackend_Preconditioned_IsCertified()
    {
        var problems = Batch(12, 15);
        var batch = TvLpDeviceBatchSolver.Solve(ComputeBackends.Cpu, problems, new TvLpDeviceBatchOptions { DiagonalPreconditioning = true });
        foreach (var s in batch)
        {
            Assert.That(s.Status, Is.EqualTo(TvLpStatus.Optimal));
            Assert.That(s.Certificate.Within(1e-6), Is.True);
        }
    }

    private static IEnumerable<BackendKind> Backends() => Enum.GetValues<BackendKind>();

    /// <summary>
    /// On every backend that runs here (the ILGPU CPU accelerator in every run, on a 12×10 grid since it simulates GPU
    /// threads; CUDA where a GPU exists), the lockstep batch (3 channels × 2 levels on the 28×28 grid, plain and
    /// preconditioned) gives the host
    /// <see cref="TvLpSolver"/>'s optimum: each solution's certificate is recomputed independently (gap and residuals
    /// ≤ 1e-6) and its primal objective equals the host solver's to 5e-6 relative. (LP optima need not be unique, so
    /// the objective, not g, is compared.)
    /// </summary>
    [TestCaseSource(nameof(Backends))]
    public void EveryBackend_GivesTheHostSolversOptimum_WithCheckedCertificates(BackendKind kind)
    {
        var backend = Fista.DeviceBackendCases.Create(kind);
        using var _ = backend;
        var problems = kind == BackendKind.IlgpuCpu ? Batch(12, 10) : Batch(28, 28);
        foreach (bool preconditioned in new[] { false, true })
        {
            var options = new TvLpDeviceBatchOptions { DiagonalPreconditioning = preconditioned };
            var onDevice = TvLpDeviceBatchSolver.Solve(backend, problems, options);
            for (int i = 0; i < problems.Length; i++)
            {
                var pr = problems[i];
                Assert.That(onDevice[i].Status, Is.EqualTo(TvLpStatus.Optimal), $"LP {i}, preconditioned {preconditioned}");
                var mine = LpReference.Certificate(pr.Shape, pr.B, pr.Bound,
                    g => LpReference.D(pr.Shape, g).Select(v => 0.1 * v).ToArray(),
                    v => LpReference.DT(pr.Shape, v).Select(t => 0.1 * t).ToArray(), onDevice[i].G, onDevice[i].U, onDevice[i].V);
                Assert.That(mine.Gap, Is.LessThanOrEqualTo(1e-6), $"LP {i}");
                Assert.That(mine.Rp, Is.LessThanOrEqualTo(1e-6), $"LP {i}");
                Assert.That(mine.Rd, Is.LessThanOrEqualTo(1e-6), $"LP {i}");
                var host = TvLpSolver.Solve(pr);
                Assert.That(host.Status, Is.EqualTo(TvLpStatus.Optimal));
                Assert.That(onDevice[i].Certificate.PrimalObjective,
                    Is.EqualTo(host.Certificate.PrimalObjective).Within(5e-6 * host.Certificate.PrimalObjective), $"LP {i}");
            }
        }
    }

    [Test]
    public void MixedGridsOrOperatorForm_Throw()
    {
        var a = Batch(6, 5)[0];
        var b = Batch(5, 6)[0];
        Assert.Throws<ArgumentException>(() => TvLpDeviceBatchSolver.Solve(ComputeBackends.Cpu, [a, b]));
        var op = TvLpProblem.ForOperator(a.Shape, a.B, a.Bound, new ScaledDifferenceOperator(a.Shape, 0.1));
        Assert.Throws<ArgumentException>(() => TvLpDeviceBatchSolver.Solve(ComputeBackends.Cpu, [op]));
        Assert.Throws<ArgumentException>(() => TvLpDeviceBatchSolver.Solve(ComputeBackends.Cpu, []));
    }

    /// <summary>Checks each solution's certificate independently (dense reference, gap and residuals ≤ 1e-6) and its
    /// primal objective against the host <see cref="TvLpSolver"/>'s default (Halpern) solve to 5e-6 relative.</summary>
    private static void AssertHostOptimum(TvLpProblem[] problems, TvLpSolution[] solved, string label)
    {
        for (int i = 0; i < problems.Length; i++)
        {
            var pr = problems[i];
            Assert.That(solved[i].Status, Is.EqualTo(TvLpStatus.Optimal), $"{label}, LP {i}");
            var mine = LpReference.Certificate(pr.Shape, pr.B, pr.Bound,
                g => LpReference.D(pr.Shape, g).Select(v => 0.1 * v).ToArray(),
                v => LpReference.DT(pr.Shape, v).Select(t => 0.1 * t).ToArray(), solved[i].G, solved[i].U, solved[i].V);
            Assert.That(mine.Gap, Is.LessThanOrEqualTo(1e-6), $"{label}, LP {i}");
            Assert.That(mine.Rp, Is.LessThanOrEqualTo(1e-6), $"{label}, LP {i}");
            Assert.That(mine.Rd, Is.LessThanOrEqualTo(1e-6), $"{label}, LP {i}");
            var host = TvLpSolver.Solve(pr);
            Assert.That(solved[i].Certificate.PrimalObjective,
                Is.EqualTo(host.Certificate.PrimalObjective).Within(5e-6 * host.Certificate.PrimalObjective), $"{label}, LP {i}");
        }
    }

    /// <summary>
    /// RestartToAverage on and off both reach the host optimum with checked certificates, and the switch is read:
    /// the two restart schemes take different paths (iteration or restart counts differ for some LP).
    /// </summary>
    [Test]
    public void RestartToAverage_OnAndOff_BothReachTheHostOptimum()
    {
        var problems = Batch(10, 9);
        var averaged = TvLpDeviceBatchSolver.Solve(ComputeBackends.Cpu, problems, new TvLpDeviceBatchOptions { RestartToAverage = true });
        var current = TvLpDeviceBatchSolver.Solve(ComputeBackends.Cpu, problems, new TvLpDeviceBatchOptions { RestartToAverage = false });
        AssertHostOptimum(problems, averaged, "to average");
        AssertHostOptimum(problems, current, "to current");
        Assert.That(Enumerable.Range(0, problems.Length).Any(i =>
            averaged[i].Iterations != current[i].Iterations || averaged[i].Restarts != current[i].Restarts), Is.True);
    }

    /// <summary>
    /// AdaptiveRestarts off: no LP restarts (the default restarts some); PrimalWeightUpdates off: ω stays at its start
    /// value √m·σ²/‖b‖₂ for every LP (the default moves it), and the LPs still reach the host optimum.
    /// </summary>
    [Test]
    public void AdaptiveRestartsAndPrimalWeightUpdates_OffAreHonoured()
    {
        var problems = Batch(10, 9);
        var byDefault = TvLpDeviceBatchSolver.Solve(ComputeBackends.Cpu, problems);
        Assert.That(byDefault.Any(s => s.Restarts > 0), Is.True);

        var noRestarts = TvLpDeviceBatchSolver.Solve(ComputeBackends.Cpu, problems,
            new TvLpDeviceBatchOptions { AdaptiveRestarts = false, MaxIterations = 2000 });
        Assert.That(noRestarts.Select(s => s.Restarts), Is.All.EqualTo(0));

        var fixedWeight = TvLpDeviceBatchSolver.Solve(ComputeBackends.Cpu, problems, new TvLpDeviceBatchOptions { PrimalWeightUpdates = false });
        AssertHostOptimum(problems, fixedWeight, "fixed ω");
        int m = problems[0].Shape.DifferenceCount;
        for (int i = 0; i < problems.Length; i++)
        {
            double bNorm = Math.Sqrt(problems[i].B.Sum(v => v * v));
            double start = Math.Sqrt(m) * problems[i].NoiseVariance / bNorm;
            Assert.That(fixedWeight[i].PrimalWeight, Is.EqualTo(start).Within(1e-12 * start), $"LP {i}");
        }
        Assert.That(Enumerable.Range(0, problems.Length).Any(i =>
            Math.Abs(byDefault[i].PrimalWeight - fixedWeight[i].PrimalWeight) > 1e-6 * fixedWeight[i].PrimalWeight), Is.True);
    }

    /// <summary>TargetMean sets the mean of every g (the constant is free, D1 = 0) without changing the objective;
    /// MaxIterations caps the steps exactly (window-sized checks of CheckInterval); converged LPs stop on a check,
    /// so their iteration counts are multiples of CheckInterval. An odd CheckInterval leaves LPs frozen for an odd
    /// number of buffer swaps: each LP of the batch must still equal its batch-of-one solve (the LPs are independent).</summary>
    [Test]
    public void TargetMean_MaxIterations_CheckInterval_AreHonoured()
    {
        var problems = Batch(10, 9);
        var options = new TvLpDeviceBatchOptions { TargetMean = 2.5, CheckInterval = 7 };
        var shifted = TvLpDeviceBatchSolver.Solve(ComputeBackends.Cpu, problems, options);
        AssertHostOptimum(problems, shifted, "mean 2.5");
        Assert.That(shifted.Select(s => s.Iterations).Distinct().Count(), Is.GreaterThan(1), "some LPs must freeze before others");
        for (int i = 0; i < problems.Length; i++)
        {
            var s = shifted[i];
            Assert.That(s.G.Average(), Is.EqualTo(2.5).Within(1e-12));
            Assert.That(s.Iterations % 7, Is.EqualTo(0));
            var alone = TvLpDeviceBatchSolver.Solve(ComputeBackends.Cpu, [problems[i]], options)[0];
            Assert.That(s.Iterations, Is.EqualTo(alone.Iterations), $"LP {i}");
            Assert.That(s.G, Is.EqualTo(alone.G).Within(1e-12), $"LP {i}");
            Assert.That(s.U, Is.EqualTo(alone.U).Within(1e-12), $"LP {i}");
        }

        var capped = TvLpDeviceBatchSolver.Solve(ComputeBackends.Cpu, problems, new TvLpDeviceBatchOptions { MaxIterations = 5, CheckInterval = 2 });
        Assert.That(capped.Select(s => s.Status), Is.All.EqualTo(TvLpStatus.IterationLimit));
        Assert.That(capped.Select(s => s.Iterations), Is.All.EqualTo(5));
    }

    private static IEnumerable<TestCaseData> InvalidOptions()
    {
        yield return new TestCaseData(new TvLpDeviceBatchOptions { RelativeTolerance = 0 }, "RelativeTolerance");
        yield return new TestCaseData(new TvLpDeviceBatchOptions { RelativeTolerance = double.NaN }, "RelativeTolerance");
        yield return new TestCaseData(new TvLpDeviceBatchOptions { RelativeTolerance = double.PositiveInfinity }, "RelativeTolerance");
        yield return new TestCaseData(new TvLpDeviceBatchOptions { MaxIterations = 0 }, "MaxIterations");
        yield return new TestCaseData(new TvLpDeviceBatchOptions { CheckInterval = 0 }, "CheckInterval");
        yield return new TestCaseData(new TvLpDeviceBatchOptions { TargetMean = double.NaN }, "TargetMean");
    }

    [TestCaseSource(nameof(InvalidOptions))]
    public void InvalidOptions_ThrowTyped(TvLpDeviceBatchOptions options, string name)
    {
        var a = Batch(6, 5)[0];
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => TvLpDeviceBatchSolver.Solve(ComputeBackends.Cpu, [a], options));
        Assert.That(ex!.ParamName, Is.EqualTo(name));
    }

    /// <summary>
    /// The host options cannot reach the device solver (so none of their settings can be silently ignored): no public
    /// method takes <see cref="TvLpOptions"/>, and the device options offer none of the host-only settings.
    /// </summary>
    [Test]
    public void HostOptions_CannotReachTheDeviceSolver()
    {
        var parameters = typeof(TvLpDeviceBatchSolver).GetMethods().SelectMany(mi => mi.GetParameters()).Select(pi => pi.ParameterType);
        Assert.That(parameters, Has.None.EqualTo(typeof(TvLpOptions)));
        Assert.That(parameters, Has.Some.EqualTo(typeof(TvLpDeviceBatchOptions)));
        var names = typeof(TvLpDeviceBatchOptions).GetProperties().Select(pi => pi.Name);
        string[] hostOnly = [nameof(TvLpOptions.HalpernReflection), nameof(TvLpOptions.AdaptiveStepSize),
            nameof(TvLpOptions.StepThreads), nameof(TvLpOptions.MaxDegreeOfParallelism), nameof(TvLpOptions.ShareIdleCores),
            nameof(TvLpOptions.TimedStepThreads)];
        Assert.That(names.Intersect(hostOnly), Is.Empty);
    }
}
