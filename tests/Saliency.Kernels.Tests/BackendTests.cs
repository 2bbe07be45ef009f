using Saliency.Kernels.Backends;
using Saliency.Kernels.Cpu;
using Saliency.Kernels.Ops;

namespace Saliency.Kernels.Tests;

/// <summary>Backend plumbing: copies, element types, availability reporting, misuse of buffers.</summary>
internal class BackendTests
{
    [Test]
    public void CpuUploadDownloadCopyClearRoundTrip()
    {
        var cpu = ComputeBackends.Cpu;
        using var a = cpu.Allocate<double>(5);
        using var b = cpu.Allocate<double>(5);
        Assert.That(TestData.Download(a), Is.All.EqualTo(0.0));
        cpu.Upload<double>([1, 2, 3, 4, 5], a);
        cpu.Copy(a, b);
        cpu.Clear(a);
        Assert.That(TestData.Download(b), Is.EqualTo(new double[] { 1, 2, 3, 4, 5 }));
        Assert.That(TestData.Download(a), Is.All.EqualTo(0.0));
        Assert.Throws<BufferSizeMismatchException>(() => cpu.Upload<double>([1, 2], a));
        Assert.Throws<BufferSizeMismatchException>(() => cpu.Download(a, new double[4]));
        Assert.Throws<NotSupportedException>(() => cpu.Allocate<long>(3));
        Assert.Throws<ArgumentOutOfRangeException>(() => cpu.Allocate<float>(-1));
    }

    [Test]
    public void DisposedBufferIsRejectedWithATypedException()
    {
        var a = ComputeBackends.Cpu.Allocate<float>(4);
        a.Dispose();
        Assert.Throws<BackendMismatchException>(() => SoftThreshold.Apply(a, a, 4, [1f]));
        Assert.Throws<ObjectDisposedException>(() => _ = ((CpuBuffer<float>)a).Span.Length);
    }

    [Test]
    public void IlgpuCpuIsAlwaysAvailable()
    {
        Assert.That(ComputeBackends.IsAvailable(BackendKind.IlgpuCpu, out string reason), Is.True, reason);
        using var backend = ComputeBackends.Create(BackendKind.IlgpuCpu);
        Assert.That(backend.Kind, Is.EqualTo(BackendKind.IlgpuCpu));
        Assert.That(backend.DeviceName, Does.Contain("ILGPU CPU"));
        using var buffer = backend.Allocate<float>(3);
        backend.Dispose();
        backend.Dispose(); // idempotent
    }

    [Test]
    public void CudaAvailabilityIsReportedWithAReason()
    {
        bool available = ComputeBackends.IsAvailable(BackendKind.Cuda, out string reason);
        if (available)
        {
            using var cuda = ComputeBackends.Create(BackendKind.Cuda);
            Assert.That(cuda.Kind, Is.EqualTo(BackendKind.Cuda));
            Assert.That(cuda.DeviceName, Does.Contain("ILGPU CUDA"));
            return;
        }
        Assert.That(reason, Is.Not.Empty);
        Assert.That(ComputeBackends.TryCreate(BackendKind.Cuda, out string again), Is.Null);
        Assert.That(ComputeBackends.TryCreateCuda(out string third), Is.Null);
        Assert.That(again, Is.EqualTo(reason));
        Assert.That(third, Is.EqualTo(reason));
        var ex = Assert.Throws<BackendUnavailableException>(() => ComputeBackends.Create(BackendKind.Cuda));
        Assert.That(ex!.Message, Does.Contain(reason));
        Assert.That(ex.Kind, Is.EqualTo(BackendKind.Cuda));
    }

    [TestCase(0, 5, 0)]
    [TestCase(1, 1, 0)]
    [TestCase(10, 3, 0)]
    [TestCase(1000, 64, 0)]
    [TestCase(10, 3, 4)]
    [TestCase(1001, 8, 126)]
    [TestCase(7, 7, 1)]
    public void SpreadVisitsEveryItemOnce(int count, int threads, int chunk)
    {
        // Both shapes kernels use: grid-stride (chunk 0, CUDA) and contiguous chunks (CPU accelerator).
        var spread = new Ilgpu.Spread(count, threads, chunk);
        var visits = new int[count];
        for (int t = 0; t < threads; t++)
            for (int i = spread.First(t); i < spread.End(t); i += spread.Step) visits[i]++;
        Assert.That(visits, Is.All.EqualTo(1));
    }

    [Test]
    public void CpuAcceleratorSpreadCoversTheItemsWithFewThreads()
    {
        using var backend = (Ilgpu.IlgpuBackend)ComputeBackends.Create(BackendKind.IlgpuCpu);
        foreach (int count in new[] { 1, 7, 100_000 })
        {
            var spread = backend.Spread(count);
            Assert.That(spread.Threads, Is.InRange(1, Math.Min(count, backend.Accelerator.MaxNumThreads)));
            Assert.That((long)spread.Threads * spread.Chunk, Is.GreaterThanOrEqualTo(count));
        }
    }
}
