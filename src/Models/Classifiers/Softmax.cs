using System.Numerics.Tensors;
using Saliency.Kernels.Backends;

namespace Saliency.Models.Classifiers;

/// <summary>
/// The one softmax of the code base: <c>pᵢ = exp(zᵢ − m) / Σⱼ exp(zⱼ − m)</c> with <c>m = max z</c>, accumulated in
/// float64, and the log-sum-exp <c>m + log Σⱼ exp(zⱼ − m)</c> for log-probabilities (docs/mathematics.md, "Softmax").
/// </summary>
/// <remarks>
/// Subtracting the maximum keeps every exponent ≤ 0, so no logit overflows (float32 <c>exp</c> overflows above 88.7,
/// which is why <c>TensorPrimitives.SoftMax</c>, which does not subtract it, turns a logit of 89 into NaN) and the
/// largest term is exactly 1, so the sum is ≥ 1 and never underflows. Non-finite logits have no softmax: they are
/// rejected with the index of the first one.
/// </remarks>
internal static class Softmax
{
    /// <summary>Writes softmax(<paramref name="logits"/>) in float64 into <paramref name="probabilities"/>.</summary>
    /// <exception cref="ArgumentException">Empty logits or a destination of another length.</exception>
    /// <exception cref="NonFiniteValueException">A logit is NaN or ±∞.</exception>
    public static void Probabilities(ReadOnlySpan<float> logits, Span<double> probabilities)
    {
        CheckLengths(logits, probabilities.Length);
        double max = Max(logits);
        double sum = 0;
        for (int i = 0; i < logits.Length; i++) sum += probabilities[i] = Math.Exp(logits[i] - max);
        TensorPrimitives.Divide(probabilities, sum, probabilities);
    }

    /// <summary>Writes softmax(<paramref name="logits"/>) into <paramref name="probabilities"/> (computed in float64, rounded once).</summary>
    /// <exception cref="ArgumentException">Empty logits or a destination of another length.</exception>
    /// <exception cref="NonFiniteValueException">A logit is NaN or ±∞.</exception>
    public static void Probabilities(ReadOnlySpan<float> logits, Span<float> probabilities)
    {
        CheckLengths(logits, probabilities.Length);
        double max = Max(logits);
        double sum = 0;
        for (int i = 0; i < logits.Length; i++) sum += Math.Exp(logits[i] - max);
        for (int i = 0; i < logits.Length; i++) probabilities[i] = (float)(Math.Exp(logits[i] - max) / sum);
    }

    /// <summary>softmax(<paramref name="logits"/>) in float64.</summary>
    /// <exception cref="ArgumentException">Empty logits.</exception>
    /// <exception cref="NonFiniteValueException">A logit is NaN or ±∞.</exception>
    public static double[] Probabilities(ReadOnlySpan<float> logits)
    {
        var p = new double[logits.Length];
        Probabilities(logits, p);
        return p;
    }

    /// <summary>Row-wise softmax of a row-major [rows, classes] block of logits into float32 probabilities.</summary>
    /// <exception cref="ArgumentException">The lengths differ or are not a multiple of <paramref name="classes"/>.</exception>
    /// <exception cref="NonFiniteValueException">A logit is NaN or ±∞ (index into the whole block).</exception>
    public static void Rows(ReadOnlySpan<float> logits, Span<float> probabilities, int classes)
    {
        if (classes < 1 || logits.Length % classes != 0 || probabilities.Length != logits.Length)
            throw new ArgumentException($"{logits.Length} logits and {probabilities.Length} probabilities are not rows of {classes} classes.");
        int bad = FirstNonFinite(logits);
        if (bad >= 0) throw new NonFiniteValueException("logits", bad, logits[bad]);
        for (int r = 0; r < logits.Length / classes; r++)
            Probabilities(logits.Slice(r * classes, classes), probabilities.Slice(r * classes, classes));
    }

    /// <summary><c>log Σ exp(zᵢ) = m + log Σ exp(zᵢ − m)</c>, m = max z; <c>log pᵢ = zᵢ − LogSumExp(z)</c>.</summary>
    /// <exception cref="ArgumentException">Empty logits.</exception>
    /// <exception cref="NonFiniteValueException">A logit is NaN or ±∞.</exception>
    public static double LogSumExp(ReadOnlySpan<float> logits)
    {
        CheckLengths(logits, logits.Length);
        double max = Max(logits);
        double sum = 0;
        foreach (float z in logits) sum += Math.Exp(z - max);
        return max + Math.Log(sum);
    }

    /// <summary>Index of the first NaN or ±∞ entry, or −1.</summary>
    public static int FirstNonFinite(ReadOnlySpan<float> values)
    {
        for (int i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i])) return i;
        return -1;
    }

    private static double Max(ReadOnlySpan<float> logits)
    {
        int bad = FirstNonFinite(logits);
        if (bad >= 0) throw new NonFiniteValueException("logits", bad, logits[bad]);
        return TensorPrimitives.Max(logits);
    }

    private static void CheckLengths(ReadOnlySpan<float> logits, int destination)
    {
        if (logits.IsEmpty) throw new ArgumentException("The logits are empty.", nameof(logits));
        if (destination != logits.Length)
            throw new ArgumentException($"{logits.Length} logits but room for {destination} probabilities.", "probabilities");
    }
}
