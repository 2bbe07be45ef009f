namespace Saliency.Models.Classifiers;

/// <summary>
/// An image classifier seen through its first-order behaviour: logits and probabilities for a batch, and for one
/// image the Jacobian <c>W ∈ R^{d×c}</c> of the logits with respect to the flattened input (column i = ∇ₓ logitᵢ),
/// the cross-entropy gradient <c>W(p − y)</c> and any vector-Jacobian product.
/// </summary>
/// <remarks>
/// For piecewise-linear networks (ReLU, max pooling, affine layers, batch normalisation in inference form) the
/// logits are affine inside each activation region, so <c>W</c> is exact there: <c>logits(x + δ) = logits(x) + Wᵀδ</c>
/// for every δ that keeps all ReLU signs and max-pool winners, and <c>H = W A Wᵀ</c> with <c>A = diag(p) − ppᵀ</c> is
/// the exact Hessian of the cross-entropy loss. For smooth networks (sigmoid, tanh) <c>W</c> is still exact but
/// <c>W A Wᵀ</c> is only the Gauss-Newton part of the Hessian.
/// Implementations are safe to call from many threads at once.
/// </remarks>
internal interface IClassifier : IDisposable
{
    /// <summary>The shape of one image without the batch axis, e.g. [1, 28, 28].</summary>
    IReadOnlyList<long> InputShape { get; }

    /// <summary>d: the number of values in one image (product of <see cref="InputShape"/>).</summary>
    int InputSize { get; }

    /// <summary>c: the number of classes.</summary>
    int ClassCount { get; }

    /// <summary>Logits and probabilities of a batch of images laid out one after another (row-major, batch first).</summary>
    /// <exception cref="ArgumentException">The span length is not a positive multiple of <see cref="InputSize"/>.</exception>
    /// <exception cref="ClassifierOutputException">The model returned NaN or ±∞ logits (here and in every method below).</exception>
    ClassScores Predict(ReadOnlySpan<float> images);

    /// <summary>
    /// The Jacobian columns for the given classes (all classes, in order, when <paramref name="classes"/> is null),
    /// computed in one run of the exported Jacobian model, with the logits and probabilities of the image.
    /// </summary>
    /// <exception cref="ArgumentException">The image length is not <see cref="InputSize"/>, or a class index is out of range.</exception>
    JacobianMatrix Jacobian(ReadOnlySpan<float> image, IReadOnlyList<int>? classes = null);

    /// <summary>Classes per Jacobian run of <see cref="JacobianInto"/> unless told otherwise.</summary>
    /// <remarks>
    /// ONNX Runtime keeps the backward activations of every cotangent of a run at once: all 1,000 classes of a ResNet at
    /// 224² would take about 20 GB. All-class CASO on ResNet-50 peaked at 3.37 GB with runs of 64 classes and 2.36 GB with
    /// 32, at the same Jacobian time per class within the load's noise (bench/Saliency.Bench/EndToEnd/RESULTS.md): 32
    /// keeps it under 3 GB.
    /// </remarks>
    public const int DefaultJacobianChunk = 32;

    /// <summary>
    /// All c rows of W, class-major (class j's gradient at <c>[j·d, (j+1)·d)</c>), written into
    /// <paramref name="destination"/> (d·c values) by runs of at most <paramref name="chunkClasses"/> identity cotangents
    /// each, so that the backward activations of one chunk, not of all c classes, are alive at a time. The rows equal
    /// those of <see cref="Jacobian"/> for all classes. Returns the image's scores.
    /// </summary>
    /// <remarks>This default runs <see cref="Jacobian"/> per chunk and copies; <see cref="OnnxClassifier"/> lets each run write straight into place.</remarks>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="chunkClasses"/> is below 1.</exception>
    /// <exception cref="ArgumentException">The image length is not d, or the destination does not hold d·c values.</exception>
    ClassScores JacobianInto(ReadOnlySpan<float> image, Memory<float> destination, int chunkClasses = DefaultJacobianChunk)
    {
        CheckJacobianDestination(destination.Length, chunkClasses, InputSize, ClassCount);
        ClassScores? scores = null;
        for (int first = 0; first < ClassCount; first += chunkClasses)
        {
            int rows = Math.Min(chunkClasses, ClassCount - first);
            var part = Jacobian(image, Enumerable.Range(first, rows).ToArray());
            part.Data.CopyTo(destination.Span.Slice(first * InputSize, rows * InputSize));
            scores ??= part.Scores;
        }
        return scores!;
    }

    /// <summary>The argument checks of <see cref="JacobianInto"/>, before any model run.</summary>
    internal static void CheckJacobianDestination(int destinationLength, int chunkClasses, int inputSize, int classCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkClasses, 1);
        if (destinationLength != (long)inputSize * classCount)
            throw new ArgumentException(
                $"The destination must hold d·c = {inputSize}·{classCount} = {(long)inputSize * classCount} values, it holds {destinationLength}.", "destination");
    }

    /// <summary>The Jacobian columns of the <paramref name="k"/> most probable classes, most probable first.</summary>
    JacobianMatrix TopKJacobian(ReadOnlySpan<float> image, int k);

    /// <summary>
    /// The gradient of the cross-entropy loss <c>−log p_target</c> with respect to the image: <c>g = W(p − y)</c>, y the
    /// one-hot target. The target defaults to the predicted class.
    /// </summary>
    LossGradient LossGradient(ReadOnlySpan<float> image, int? target = null);

    /// <summary>
    /// k vector-Jacobian products in one run: row r of the result is <c>W cotangents[r]</c> (length d) for the k×c
    /// row-major <paramref name="cotangents"/>. Writes the k×d rows into <paramref name="destination"/>, which lets
    /// a caller reuse its buffer across calls, and returns the image's scores.
    /// </summary>
    ClassScores VectorJacobianProduct(ReadOnlySpan<float> image, ReadOnlySpan<float> cotangents, Span<float> destination);

    /// <summary>
    /// Whether the logits are piecewise linear in the image (ReLU/max-pool/affine networks): then <c>W A Wᵀ</c> is the
    /// exact input Hessian of the cross-entropy loss almost everywhere; otherwise it is the Gauss–Newton part. Null
    /// when the classifier cannot tell.
    /// </summary>
    bool? IsPiecewiseLinear => null;
}

/// <summary>
/// Thrown when a classifier's model returns logits that have no softmax (NaN or ±∞): its probabilities, loss
/// gradient and saliency maps would all be NaN.
/// </summary>
internal sealed class ClassifierOutputException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public ClassifierOutputException(string message) : base(message) { }
}

/// <summary>
/// Thrown when an image given to a classifier has a NaN or ±∞ value: the model would return NaN logits for it, and
/// the argmax would silently name class 0.
/// </summary>
internal sealed class NonFiniteInputException : ArgumentException
{
    /// <summary>Creates the exception.</summary>
    public NonFiniteInputException(long index, string message, string? paramName = null) : base(message, paramName) => Index = index;

    /// <summary>The flat index of the first non-finite value in the span given.</summary>
    public long Index { get; }
}

/// <summary>Logits and softmax probabilities (<see cref="Softmax"/>) for a batch, row-major [batch, classes].</summary>
internal sealed class ClassScores
{
    /// <summary>Wraps logits and probabilities of <paramref name="batch"/> images.</summary>
    public ClassScores(float[] logits, float[] probabilities, int batch, int classes)
    {
        if (logits.Length != batch * classes || probabilities.Length != batch * classes)
            throw new ArgumentException($"Expected {batch}×{classes} logits and probabilities, got {logits.Length} and {probabilities.Length}.");
        Logits = logits;
        Probabilities = probabilities;
        Batch = batch;
        Classes = classes;
    }

    /// <summary>The logits, [batch, classes] row-major.</summary>
    public float[] Logits { get; }

    /// <summary>softmax(logits) per row, [batch, classes] row-major.</summary>
    public float[] Probabilities { get; }

    /// <summary>Number of images.</summary>
    public int Batch { get; }

    /// <summary>Number of classes.</summary>
    public int Classes { get; }

    /// <summary>The logits of image <paramref name="i"/>.</summary>
    public ReadOnlySpan<float> LogitsOf(int i) => Logits.AsSpan(i * Classes, Classes);

    /// <summary>The probabilities of image <paramref name="i"/>.</summary>
    public ReadOnlySpan<float> ProbabilitiesOf(int i) => Probabilities.AsSpan(i * Classes, Classes);

    /// <summary>The predicted class of image <paramref name="i"/> (largest logit; first on ties), by <c>TensorPrimitives.IndexOfMax</c>, the argmax used throughout.</summary>
    public int PredictedClass(int i = 0) => System.Numerics.Tensors.TensorPrimitives.IndexOfMax(LogitsOf(i));
}

/// <summary>
/// Selected columns of the Jacobian <c>W</c> of the logits with respect to the flattened image, stored column-major
/// (column j, the gradient of logit <c>Classes[j]</c>, is contiguous), plus the image's scores.
/// </summary>
internal sealed class JacobianMatrix
{
    internal JacobianMatrix(float[] data, int inputSize, int[] classes, ClassScores scores)
    {
        Data = data;
        InputSize = inputSize;
        Classes = classes;
        Scores = scores;
    }

    /// <summary>d × m values, column-major: <c>Data[j·d + i] = ∂ logit_{Classes[j]} / ∂ xᵢ</c>.</summary>
    public float[] Data { get; }

    /// <summary>d, the number of rows.</summary>
    public int InputSize { get; }

    /// <summary>The class of each column.</summary>
    public IReadOnlyList<int> Classes { get; }

    /// <summary>m, the number of columns.</summary>
    public int ColumnCount => Classes.Count;

    /// <summary>The logits and probabilities of the image.</summary>
    public ClassScores Scores { get; }

    /// <summary>Column j: ∇ₓ logit_{Classes[j]}.</summary>
    public ReadOnlySpan<float> Column(int j) => Data.AsSpan(j * InputSize, InputSize);

    /// <summary>The entry W[i, j].</summary>
    public float this[int i, int j] => Data[j * InputSize + i];
}

/// <summary>The cross-entropy gradient <c>W(p − y)</c> of one image for a target class, with the image's scores.</summary>
/// <param name="Gradient">∇ₓ(−log p_target), length d.</param>
/// <param name="Target">The target class.</param>
/// <param name="Scores">The logits and probabilities of the image.</param>
internal sealed record LossGradient(float[] Gradient, int Target, ClassScores Scores);
