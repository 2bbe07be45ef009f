using Saliency.Models.Classifiers;
using Saliency.Solvers.Leg;

namespace Saliency.Explainers;

/// <summary>
/// The LEG black box <c>f(x) = p_target(x)</c> over a classifier's batched forward pass: each batch of perturbed
/// images is one <see cref="IClassifier.Predict"/> call, and the probability is recomputed in float64 from the logits
/// (small differences <c>f(x₀ + z) − f(x₀)</c> keep their digits). Given the scores of x₀ from the caller's own
/// forward run, the evaluation of f(x₀) alone reuses them instead of running the model again.
/// </summary>
internal sealed class ClassifierProbabilityFunction : IBatchedScalarFunction
{
    private readonly IClassifier _classifier;
    private readonly float[]? _baselineImage;
    private readonly double _baselineValue;

    /// <summary>Wraps <paramref name="classifier"/> for class <paramref name="target"/>.</summary>
    /// <exception cref="ExplainerInputException">The target is out of range or the input is not an image.</exception>
    public ClassifierProbabilityFunction(IClassifier classifier, int target) : this(classifier, target, default, null) { }

    /// <summary>
    /// Wraps <paramref name="classifier"/> for class <paramref name="target"/>, with the already computed
    /// <paramref name="baselineScores"/> of <paramref name="baseline"/> (x₀): a one-image evaluation at exactly x₀
    /// returns them without a model run.
    /// </summary>
    /// <exception cref="ExplainerInputException">The target is out of range, the input is not an image, or the baseline does not fit.</exception>
    public ClassifierProbabilityFunction(IClassifier classifier, int target, ReadOnlySpan<float> baseline, ClassScores? baselineScores)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        if (target < 0 || target >= classifier.ClassCount)
            throw new ExplainerInputException($"Target class {target} is outside 0..{classifier.ClassCount - 1}.", nameof(target));
        _classifier = classifier;
        Target = target;
        (Channels, Height, Width) = ExplainerGuard.ImageShape(classifier);
        if (baselineScores is not null)
        {
            if (baseline.Length != classifier.InputSize || baselineScores.Batch != 1 || baselineScores.Classes != classifier.ClassCount)
                throw new ExplainerInputException(
                    $"The baseline has {baseline.Length} values and {baselineScores.Batch}×{baselineScores.Classes} scores; one image of {classifier.InputSize} values and {classifier.ClassCount} classes is needed.",
                    nameof(baseline));
            _baselineImage = baseline.ToArray();
            _baselineValue = Softmax.Probabilities(baselineScores.LogitsOf(0))[target];
        }
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
        if (count == 1 && _baselineImage is not null && batch[..d].SequenceEqual(_baselineImage))
        {
            values[0] = _baselineValue;
            return;
        }
        var scores = _classifier.Predict(batch[..(count * d)]);
        for (int i = 0; i < count; i++)
            values[i] = Softmax.Probabilities(scores.LogitsOf(i))[Target];
    }
}
