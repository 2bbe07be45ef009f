using Saliency.Models.Classifiers;

namespace Saliency.Explainers;

/// <summary>Bad input to an explainer (image size, target class, option values), reported before any model run.</summary>
internal sealed class ExplainerInputException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    public ExplainerInputException(string message, string? paramName = null) : base(message, paramName) { }
}

/// <summary>A saliency method over an <see cref="IClassifier"/>.</summary>
/// <remarks>Explainers hold settings only; one instance may explain many images, from several threads at once.</remarks>
internal interface IExplainer
{
    /// <summary>The method's short name (as the CLI's <c>--method</c>).</summary>
    string Name { get; }

    /// <summary>
    /// Explains the classifier's score of <paramref name="target"/> (default: the predicted class) at
    /// <paramref name="image"/> (flattened, <see cref="IClassifier.InputShape"/> order).
    /// </summary>
    /// <exception cref="ExplainerInputException">The image has the wrong length or a non-finite value, or the target is out of range.</exception>
    Explanation Explain(IClassifier classifier, ReadOnlySpan<float> image, int? target = null);
}

/// <summary>One explanation: the map, the class explained and the prediction, and the method's parameters and solver report.</summary>
internal class Explanation
{
    /// <summary>Creates an explanation.</summary>
    public Explanation(string method, SaliencyMap map, int target, ClassScores scores, IReadOnlyList<KeyValuePair<string, string>> details)
    {
        Method = method;
        Map = map;
        Target = target;
        Scores = scores;
        Details = details;
    }

    /// <summary>The method name.</summary>
    public string Method { get; }

    /// <summary>The saliency map.</summary>
    public SaliencyMap Map { get; }

    /// <summary>The explained class.</summary>
    public int Target { get; }

    /// <summary>The image's logits and probabilities.</summary>
    public ClassScores Scores { get; }

    /// <summary>The predicted class of the image.</summary>
    public int PredictedClass => Scores.PredictedClass();

    /// <summary>Method parameters and solver status, as name/value lines for a summary (invariant culture).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Details { get; }
}

/// <summary>Checks shared by the explainers.</summary>
internal static class ExplainerGuard
{
    /// <summary>
    /// Validates the image and the target before any model run. The explainers resolve a missing target from the
    /// scores of their own model run, so that an explanation costs no extra forward pass.
    /// </summary>
    public static void Validate(IClassifier classifier, ReadOnlySpan<float> image, int? target)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        if (image.Length != classifier.InputSize)
            throw new ExplainerInputException(
                $"The image has {image.Length} values; the classifier takes [{string.Join(", ", classifier.InputShape)}] = {classifier.InputSize}.", "image");
        foreach (float v in image)
            if (!float.IsFinite(v)) throw new ExplainerInputException("The image has a NaN or infinite value.", "image");
        if (target is int t && (t < 0 || t >= classifier.ClassCount))
            throw new ExplainerInputException($"Target class {t} is outside 0..{classifier.ClassCount - 1}.", nameof(target));
    }

    /// <summary>(C, H, W) of the classifier's image: [C, H, W] as is, [H, W] as one channel.</summary>
    public static (int Channels, int Height, int Width) ImageShape(IClassifier classifier)
    {
        var s = classifier.InputShape;
        return s.Count switch
        {
            3 => ((int)s[0], (int)s[1], (int)s[2]),
            2 => (1, (int)s[0], (int)s[1]),
            _ => throw new ExplainerInputException(
                $"The classifier's input [{string.Join(", ", s)}] is not an image (channels × height × width).", nameof(classifier)),
        };
    }

    public static string Format(double value) => value.ToString("G4", System.Globalization.CultureInfo.InvariantCulture);
}
