using NUnit.Framework;
using Saliency.Kernels.Backends;
using Saliency.Linalg.Grid;
using Saliency.Solvers.Lp;

namespace Saliency.Solvers.Tests.Lp;

/// <summary>The lockstep batch solver over the compute backends (CPU and ILGPU's CPU accelerator here; CUDA where a GPU exists).</summary>
[TestFixture]
public class TvLpDeviceBatchTests
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
        var batch = TvLpDeviceBatchSolver.Solve(ComputeBackends.Cpu, problems, new TvLpOptions { DiagonalPreconditioning = true });
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
            var options = new TvLpOptions { DiagonalPreconditioning = preconditioned };
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
        Assert.Throws<ArgumentException>(() => TvLpDeviceBatchSolver.Solve(ComputeBackends.Cpu, [a], new TvLpOptions { AdaptiveStepSize = true }));
    }
}
