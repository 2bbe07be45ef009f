namespace Saliency.Solvers.Leg;

/// <summary>
/// A black-box scalar function of an image, evaluated on batches: <c>f: R^{C×H×W} → R</c> (e.g. a classifier's
/// target-class probability, or the difference of two class scores). The LEG estimators only ever call
/// <see cref="Evaluate"/>; the model layer implements it over batched forward passes.
/// </summary>
/// <remarks>Implementations may be called from one thread at a time per instance; they must not keep the spans.</remarks>
internal interface IBatchedScalarFunction
{
    /// <summary>Number of channels C.</summary>
    int Channels { get; }

    /// <summary>Image height H.</summary>
    int Height { get; }

    /// <summary>Image width W.</summary>
    int Width { get; }

    /// <summary>
    /// Writes <c>values[i] = f(image i)</c> for the <paramref name="count"/> images stored consecutively in
    /// <paramref name="batch"/>, each in C×H×W (channel-major, row-major) order.
    /// </summary>
    void Evaluate(ReadOnlySpan<float> batch, int count, Span<double> values);
}
