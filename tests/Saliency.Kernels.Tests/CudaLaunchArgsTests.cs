using System.Runtime.InteropServices;
using Saliency.Kernels.Cuda;

namespace Saliency.Kernels.Tests;

/// <summary>
/// Kernel-argument packing (runs without a GPU): cuLaunchKernel receives an array of pointers, one per parameter,
/// each pointing at that parameter's bytes; by-value arrays are zero-padded to their declared capacity.
/// </summary>
public unsafe class CudaLaunchArgsTests
{
    [Test]
    public void ParametersPointAtTheirValuesInOrder()
    {
        var args = CudaLaunchArgs.Rent()
            .Add(0x1122334455667788UL).Add(-7).Add(2.5).Add(3L)
            .AddInline<float>([1f, 2f, 3f], CudaSlices.MaxSlicesPerLaunch).Add(9);
        Assert.That(args.Count, Is.EqualTo(6));
        void** p = args.ParameterArray;
        Assert.That(*(ulong*)p[0], Is.EqualTo(0x1122334455667788UL));
        Assert.That(*(int*)p[1], Is.EqualTo(-7));
        Assert.That(*(double*)p[2], Is.EqualTo(2.5));
        Assert.That(*(long*)p[3], Is.EqualTo(3L));
        var inline = new ReadOnlySpan<float>(p[4], CudaSlices.MaxSlicesPerLaunch);
        Assert.That(inline[..3].ToArray(), Is.EqualTo(new[] { 1f, 2f, 3f }));
        Assert.That(inline[3..].ToArray(), Is.All.EqualTo(0f));
        Assert.That(*(int*)p[5], Is.EqualTo(9));
        for (int i = 0; i < 6; i++) Assert.That((long)p[i] % 16, Is.EqualTo(0L), $"parameter {i} alignment");
        // Inline storage does not overlap the next parameter.
        Assert.That((byte*)p[5] - (byte*)p[4], Is.GreaterThanOrEqualTo(CudaSlices.MaxSlicesPerLaunch * sizeof(float)));
    }

    [Test]
    public void RentResetsAndOverflowIsRefused()
    {
        CudaLaunchArgs.Rent().Add(1).Add(2);
        var args = CudaLaunchArgs.Rent();
        Assert.That(args.Count, Is.EqualTo(0));
        Assert.Throws<ArgumentException>(() => args.AddInline<double>(new double[65], CudaSlices.MaxSlicesPerLaunch));
        Assert.Throws<InvalidOperationException>(() =>
        {
            for (int i = 0; i < 40; i++) args.AddInline<double>(new double[1], 64); // 40 × 512 bytes > 8 KB
        });
    }
}
