using Saliency.Models.Classifiers;

namespace Saliency.TestSupport;

/// <summary>Forwards to a classifier and records each call by name, and the batch size of each Predict call.</summary>
internal sealed class CountingClassifier(IClassifier inner) : IClassifier
{
    /// <summary>The calls, in order: "Predict", "Jacobian", "TopKJacobian", "LossGradient", "VectorJacobianProduct".</summary>
    public List<string> Calls { get; } = [];

    /// <summary>Images per Predict call.</summary>
    public List<int> PredictBatchSizes { get; } = [];

    /// <inheritdoc />
    public IReadOnlyList<long> InputShape => inner.InputShape;

    /// <inheritdoc />
    public int InputSize => inner.InputSize;

    /// <inheritdoc />
    public int ClassCount => inner.ClassCount;

    /// <summary>Calls named <paramref name="name"/>.</summary>
    public int Count(string name) => Calls.Count(c => c == name);

    /// <inheritdoc />
    public ClassScores Predict(ReadOnlySpan<float> images)
    {
        Calls.Add("Predict");
        PredictBatchSizes.Add(images.Length / InputSize);
        return inner.Predict(images);
    }

    /// <inheritdoc />
    public JacobianMatrix Jacobian(ReadOnlySpan<float> image, IReadOnlyList<int>? classes = null)
    {
        Calls.Add("Jacobian");
        return inner.Jacobian(image, classes);
    }

    /// <inheritdoc />
    public JacobianMatrix TopKJacobian(ReadOnlySpan<float> image, int k)
    {
        Calls.Add("TopKJacobian");
        return inner.TopKJacobian(image, k);
    }

    /// <inheritdoc />
    public LossGradient LossGradient(ReadOnlySpan<float> image, int? target = null)
    {
        Calls.Add("LossGradient");
        return inner.LossGradient(image, target);
    }

    /// <inheritdoc />
    public ClassScores VectorJacobianProduct(ReadOnlySpan<float> image, ReadOnlySpan<float> cotangents, Span<float> destination)
    {
        Calls.Add("VectorJacobianProduct");
        return inner.VectorJacobianProduct(image, cotangents, destination);
    }

    /// <summary>Does not dispose the wrapped classifier.</summary>
    public void Dispose() { }
}
