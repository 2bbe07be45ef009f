using Saliency.Models.Classifiers;
using Saliency.Solvers.Leg;

namespace Saliency.Explainers;

/// <summary>
/// The LEG black box <c>f(x) = p_target(x)</c> over a classifier's batched forward pass: each batch of perturbed
/// images is one <see cref="IClassifier.Predict"/> call, and the probability is recomputed in float64 from the logits
/// (small differences <c>f(x₀ + z) − f(x₀)</c> keep their digits).
/// </summary>
public sealed class ClassifierProbabilityFunction : IBatchedScalarFunction
{
    private readonly IClassifier _classifier;

    /// <summary>Wraps <paramref name="classifier"/> for class <paramref name="target"/>.</summary>
    /// <exception cref="ExplainerInputException">The target is out of range or the input is not an image.</exception>
    public ClassifierProbabilityFunction(IClassifier classifier, int target)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        if (target < 0 || target >= classifier.ClassCount)
            throw new ExplainerInputException($"Target class {target} is outside 0..{classifier.ClassCount - 1}.", nameof(target));
        _classifier = classifier;
        Target = target;
        (Channels, Height, Width) = ExplainerGuard.ImageShape(classifier);
    }

    /// <summary>The class whose probability is f.</summary>
    public int Target { get; }

    /// <inheritdoc />
    public int Channels { get; }

    /// <inheritdoc />
    public int Height { get; }

    /// <inheritdoc />
    public int Width { get; }

    /// <inheritdoc />
    public void Evaluate(ReadOnlySpan<float> batch, int count, Span<double> values)
    {
        int d = _classifier.InputSize;
        if (count < 1 || batch.Length < (long)count * d || values.Length < count)
            throw new ArgumentException($"{count} images need {(long)count * d} inputs and {count} outputs; got {batch.Length} and {values.Length}.");
        var scores = _classifier.Predict(batch[..(count * d)]);
        for (int i = 0; i < count; i++)
            values[i] = ExplainerGuard.Softmax(scores.LogitsOf(i))[Target];
    }
}
