using Saliency.Kernels.Backends;
using Saliency.Kernels.Ops;
using Saliency.Kernels.Ops.PrimalDual;

namespace Saliency.Bench.Kernels;

/// <summary>The same seeded inputs on one backend for the kernel benchmarks, and one call of each kernel on them.</summary>
internal sealed class KernelBenchData : IDisposable
{
    public const int Slices = 4, Channels = 3;
    private readonly List<IDisposable> _owned = [];

    public KernelBenchData(IComputeBackend b, int n)
    {
        N = n;
        P = n * n;
        int m = TotalVariation.DifferenceCount(n, n);
        X = Filled<float>(b, Slices * P, 1, 1);
        G = Filled<float>(b, Slices * P, 2, 1);
        XOld = Filled<float>(b, Slices * P, 3, 1);
        Out = Filled<float>(b, Slices * P, 0, 0);
        Out2 = Filled<float>(b, Slices * P, 0, 0);
        Grids = Filled<double>(b, Channels * P, 4, 1);
        Grids2 = Filled<double>(b, Channels * P, 0, 0);
        Differences = Filled<double>(b, Channels * m, 0, 0);
        PdX = Filled<double>(b, Channels * P, 5, 1);
        PdY = Filled<double>(b, Channels * m, 6, 1);
        PdB = Filled<double>(b, Channels * m, 7, 0.5);
        PdXOut = Filled<double>(b, Channels * P, 0, 0);
        PdYOut = Filled<double>(b, Channels * m, 0, 0);
        var par = new double[Channels * PrimalDualTvBatch.ParameterCount];
        for (int k = 0; k < Channels; k++)
            new[] { 0.3, 0.3, 0.1, 1.0, 0.0, 1.0 }.CopyTo(par, k * PrimalDualTvBatch.ParameterCount);
        PdParameters = Own(b.Allocate<double>(par.Length));
        b.Upload<double>(par, PdParameters);
        Coarse = Filled<float>(b, Channels * 28 * 28, 8, 1);
        Image = Filled<float>(b, Channels * P, 0, 0);
        Maps = Filled<float>(b, Channels * P, 9, 1);
        Normalized = Filled<float>(b, P, 0, 0);
    }

    public int N { get; }
    public int P { get; }
    public float[] Tau { get; } = [0.01f, 0.1f, 0.3f, 1f];
    public float[] Steps { get; } = [0.5f, 0.5f, 0.5f, 0.5f];
    public float[] Beta { get; } = [0.3f, 0.5f, 0.7f, 0.9f];
    public double[] Results { get; } = new double[Slices];
    public DeviceBuffer<float> X, G, XOld, Out, Out2, Coarse, Image, Maps, Normalized;
    public DeviceBuffer<double> Grids, Grids2, Differences, PdX, PdY, PdB, PdXOut, PdYOut, PdParameters;

    private DeviceBuffer<T> Own<T>(DeviceBuffer<T> buffer) where T : unmanaged
    {
        _owned.Add(buffer);
        return buffer;
    }

    private DeviceBuffer<T> Filled<T>(IComputeBackend b, int length, ulong seed, double std) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var host = new T[length];
        if (std > 0) GaussianRng.Fill<T>(host, seed, std: std);
        var buffer = Own(b.Allocate<T>(length));
        b.Upload<T>(host, buffer);
        return buffer;
    }

    public void Dispose()
    {
        foreach (var o in _owned) o.Dispose();
    }

    public static readonly Action<KernelBenchData>[] All =
        [SoftThresholdOn, FistaOn, DotOn, TvForwardOn, TvAdjointOn, PdStepOn, RngOn, UpsampleOn, NormalizeOn];

    public static void SoftThresholdOn(KernelBenchData d) => SoftThreshold.Apply(d.X, d.Out, d.P, d.Tau);
    public static void FistaOn(KernelBenchData d) => VectorOps.FistaUpdate(d.X, d.G, d.XOld, d.Out, d.Out2, d.P, d.Steps, d.Tau, d.Beta);
    public static void DotOn(KernelBenchData d) => Reductions.Dot(d.X, d.G, d.P, d.Results);
    public static void TvForwardOn(KernelBenchData d) => TotalVariation.Forward(d.Grids, d.Differences, d.N, d.N);
    public static void TvAdjointOn(KernelBenchData d) => TotalVariation.Adjoint(d.Differences, d.Grids2, d.N, d.N);
    public static void PdStepOn(KernelBenchData d) => PrimalDualTvBatch.Step(d.PdX, d.PdY, d.PdB, d.PdXOut, d.PdYOut, null, null, null, d.PdParameters, d.N, d.N);
    public static void RngOn(KernelBenchData d) => GaussianRng.Fill(d.X, seed: 7, offset: 11);
    public static void UpsampleOn(KernelBenchData d) => Upsampling.Apply(d.Coarse, d.Image, 28, 28, d.N, d.N, UpsamplingMode.Bilinear);
    public static void NormalizeOn(KernelBenchData d) => PercentileNormalization.Apply(d.Maps, d.Normalized, Channels, d.P);
}
