using Saliency.Kernels.Cpu;
using Saliency.Kernels.Ops;

namespace Saliency.Explainers;

/// <summary>
/// A saliency map: signed values per channel and pixel (<c>Channels × Height × Width</c>, channel-major, row-major),
/// and its visualisation map (<c>Height × Width</c> in [0, 1]) by SmoothGrad's non-diverging normalisation
/// (absolute value, sum over channels, cap at the 99th percentile, divide, clip; docs/mathematics.md, "Visualisation").
/// </summary>
/// <remarks>The map lives on the grid the method estimated it on: the image grid for gradient and CAFO/CASO, the
/// (possibly coarser) perturbation grid for LEG.</remarks>
internal sealed class SaliencyMap
{
    /// <summary>The percentile at which the visualisation caps the summed magnitudes.</summary>
    public const double VisualisationPercentile = 99;

    /// <summary>Wraps signed values and computes the normalised visualisation map (on the CPU backend).</summary>
    /// <exception cref="ArgumentException">Sizes are not positive or do not match, or a value is NaN/∞.</exception>
    public SaliencyMap(float[] values, int channels, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (channels < 1 || height < 1 || width < 1)
            throw new ExplainerInputException($"A saliency map of {channels}×{height}×{width} is empty.", nameof(channels));
        if (values.Length != (long)channels * height * width)
            throw new ExplainerInputException(
                $"A {channels}×{height}×{width} saliency map needs {(long)channels * height * width} values, got {values.Length}.", nameof(values));
        foreach (float v in values)
            if (!float.IsFinite(v)) throw new ExplainerInputException("The saliency map has a NaN or infinite value.", nameof(values));
        Values = values;
        Channels = channels;
        Height = height;
        Width = width;
        Normalized = Normalize(values, channels, height * width);
    }

    /// <summary>Signed saliency, <c>Channels × Height × Width</c>.</summary>
    public float[] Values { get; }

    /// <summary>Number of channels.</summary>
    public int Channels { get; }

    /// <summary>Map height.</summary>
    public int Height { get; }

    /// <summary>Map width.</summary>
    public int Width { get; }

    /// <summary>The visualisation map, <c>Height × Width</c> values in [0, 1].</summary>
    public float[] Normalized { get; }

    /// <summary>η: the fraction of exact zeros among <see cref="Values"/> (the CASO papers' sparsity ratio).</summary>
    public double SparsityRatio => Values.Count(v => v == 0f) / (double)Values.Length;

    /// <summary>Builds a map from float64 values (e.g. a solver's solution).</summary>
    public static SaliencyMap FromDoubles(ReadOnlySpan<double> values, int channels, int height, int width)
    {
        var floats = new float[values.Length];
        for (int i = 0; i < floats.Length; i++) floats[i] = (float)values[i];
        return new SaliencyMap(floats, channels, height, width);
    }

    private static float[] Normalize(float[] values, int channels, int pixels)
    {
        var backend = CpuBackend.Shared;
        using var maps = backend.FromSpan<float>(values);
        using var result = backend.Allocate<float>(pixels);
        PercentileNormalization.Apply(maps, result, channels, pixels, VisualisationPercentile);
        var normalized = new float[pixels];
        backend.Download(result, normalized);
        return normalized;
    }
}
