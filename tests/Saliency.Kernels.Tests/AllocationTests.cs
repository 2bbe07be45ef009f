using Saliency.Kernels.Backends;
using Saliency.Kernels.Ops;

namespace Saliency.Kernels.Tests;

/// <summary>
/// The per-iteration kernels of the solvers (FISTA step, soft-threshold, reductions, D/Dᵀ) allocate nothing on the
/// CPU backend in steady state (sizes below the parallel threshold, so everything runs on the calling thread).
/// </summary>
internal class AllocationTests
{
    [Test]
    public void IterationKernelsDoNotAllocate()
    {
        const int n = 28 * 28, slices = 4;
        int m = TotalVariation.DifferenceCount(28, 28);
        var cpu = ComputeBackends.Cpu;
        using var y = cpu.Allocate<float>(n * slices);
        using var g = cpu.Allocate<float>(n * slices);
        using var x = cpu.Allocate<float>(n * slices);
        using var dx = cpu.Allocate<float>(m * slices);
        float[] t = [0.1f, 0.2f, 0.3f, 0.4f], lam = [0f, 1f, 2f, 3f], beta = [0.5f, 0.5f, 0.5f, 0.5f];
        var norms = new double[slices];
        var zeros = new long[slices];

        void Iteration()
        {
            VectorOps.FistaUpdate(y, g, x, x, y, n, t, lam, beta);
            SoftThreshold.Apply(y, y, n, t);
            Reductions.L2Norm(x, n, norms);
            Reductions.Dot(x, y, n, norms);
            Reductions.CountZeros(x, n, zeros);
            TotalVariation.Forward(x, dx, 28, 28);
            TotalVariation.Adjoint(dx, x, 28, 28);
        }

        Iteration(); // JIT and first-use initialisation
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++) Iteration();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.That(allocated, Is.EqualTo(0), "bytes allocated by 10 iterations");
    }
}
