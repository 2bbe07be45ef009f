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

    // The ILGPU kernels on ILGPU's CPU accelerator run in every test run (small grid: the accelerator simulates GPU
    // threads); on CUDA where a device exists.
    [TestCase(BackendKind.IlgpuCpu, 12, 10)]
    [TestCase(BackendKind.Cuda, 28, 28)]
    public void IlgpuBackend_MatchesTheCpuBackend(BackendKind kind, int rows, int cols)
    {
        using var cuda = ComputeBackends.TryCreate(kind, out string reason);
        if (cuda is null)
        {
            Assert.Ignore($"No {kind} backend: {reason}");
            return;
        }
        var problems = Batch(rows, cols);
        var onGpu = TvLpDeviceBatchSolver.Solve(cuda, problems);
        var onCpu = TvLpDeviceBatchSolver.Solve(ComputeBackends.Cpu, problems);
        for (int i = 0; i < problems.Length; i++)
        {
            Assert.That(onGpu[i].Status, Is.EqualTo(TvLpStatus.Optimal));
            Assert.That(onGpu[i].Certificate.Within(1e-6), Is.True);
            Assert.That(onGpu[i].Certificate.PrimalObjective,
                Is.EqualTo(onCpu[i].Certificate.PrimalObjective).Within(5e-6 * onCpu[i].Certificate.PrimalObjective));
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
