using Saliency.Kernels.Ops;
using Saliency.Linalg.Grid;

namespace Saliency.Linalg.Covariance;

/// <summary>
/// Reproducible draws <c>z ~ N(0, Σ)</c> from a covariance operator: standard normals from the counter-based
/// Philox4x32-10 stream of <see cref="GaussianRng"/>, then <c>z = Fε</c> with the operator's factor
/// (<see cref="ICovarianceOperator.ApplyFactor"/>).
/// </summary>
/// <remarks>
/// Draw i of seed s uses the stream window starting at element <c>i·p</c>, so any draw can be regenerated on its
/// own, in any order, on any thread, and batches give exactly the draws that single calls give.
/// </remarks>
internal static class CovarianceSampling
{
    /// <summary>Writes draw number <paramref name="drawIndex"/> of the stream <paramref name="seed"/> into <paramref name="z"/> (length p).</summary>
    /// <exception cref="ArgumentException">A length differs from p.</exception>
    public static void SampleInto(this ICovarianceOperator covariance, ulong seed, long drawIndex, Span<double> z)
    {
        ArgumentNullException.ThrowIfNull(covariance);
        ArgumentOutOfRangeException.ThrowIfNegative(drawIndex);
        int p = covariance.Shape.Count;
        GridGuards.Length(z.Length, p, nameof(z));
        GaussianRng.Fill(z, seed, checked((ulong)drawIndex * (ulong)p));
        covariance.ApplyFactor(z, z);
    }

    /// <summary>
    /// Writes draws <paramref name="firstDraw"/> … <paramref name="firstDraw"/> + count − 1 (count = z.Length / p) into
    /// consecutive length-p blocks of <paramref name="z"/>; identical to calling <see cref="SampleInto"/> for each.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="z"/> is not a whole number of grids.</exception>
    public static void SampleBatchInto(this ICovarianceOperator covariance, ulong seed, long firstDraw, Span<double> z)
    {
        ArgumentNullException.ThrowIfNull(covariance);
        ArgumentOutOfRangeException.ThrowIfNegative(firstDraw);
        int p = covariance.Shape.Count;
        if (z.Length % p != 0)
            throw new ArgumentException($"Batch length {z.Length} is not a multiple of the grid size {p}.", nameof(z));
        GaussianRng.Fill(z, seed, checked((ulong)firstDraw * (ulong)p));
        for (int offset = 0; offset < z.Length; offset += p)
        {
            var block = z.Slice(offset, p);
            covariance.ApplyFactor(block, block);
        }
    }
}
