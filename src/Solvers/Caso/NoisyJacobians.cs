using MathNet.Numerics.LinearAlgebra;

namespace Saliency.Solvers.Caso;

/// <summary>The Jacobian W (d×c) and softmax probabilities p at one (possibly noisy) input.</summary>
/// <param name="Jacobian">W, d×c, column i = ∇ₓ logitᵢ.</param>
/// <param name="Probabilities">p, length c, summing to 1.</param>
internal sealed record JacobianSample(Matrix<double> Jacobian, double[] Probabilities);

/// <summary>
/// Source of the n noisy copies for Smooth CASO/CAFO: the Jacobian and probabilities at <c>x + σ ξⱼ</c>,
/// <c>ξⱼ ~ N(0, I)</c>. The model layer implements it (forward pass and Jacobian of the perturbed input);
/// the solver only averages.
/// </summary>
internal interface INoisyJacobianProvider
{
    /// <summary>Number of noisy copies n.</summary>
    int Count { get; }

    /// <summary>The sample at copy <paramref name="index"/> (0 ≤ index &lt; Count).</summary>
    JacobianSample Evaluate(int index);
}

/// <summary>
/// The Jacobian and probabilities at one (noisy) input in the model layer's float32 class-major layout: class j's
/// gradient at <c>[j·d, (j+1)·d)</c>.
/// </summary>
/// <param name="Jacobian">W, class-major, length d·c.</param>
/// <param name="Dimension">d.</param>
/// <param name="ClassCount">c.</param>
/// <param name="Probabilities">p, length c, summing to 1.</param>
internal sealed record ClassMajorJacobianSample(float[] Jacobian, int Dimension, int ClassCount, double[] Probabilities)
{
    /// <summary>Checks sizes, finiteness and the probability vector (<see cref="Saliency.Linalg.Hessian.JacobianInput"/>).</summary>
    /// <exception cref="Saliency.Linalg.Hessian.HessianInputException">Wrong lengths or a non-finite W entry.</exception>
    /// <exception cref="Saliency.Linalg.Hessian.ProbabilityVectorException">p is not a probability vector.</exception>
    public void Validate(string paramName = "sample")
    {
        if (Jacobian is null || Probabilities is null)
            throw new Saliency.Linalg.Hessian.HessianInputException("W and p are required.", paramName);
        Saliency.Linalg.Hessian.JacobianInput.Validate<float>(Jacobian, Dimension, ClassCount, Probabilities, paramName: paramName);
    }
}

/// <summary>Float32 class-major source of the n noisy copies for Smooth CASO/CAFO on the backends' kernels (see <see cref="INoisyJacobianProvider"/>).</summary>
internal interface IClassMajorJacobianProvider
{
    /// <summary>Number of noisy copies n.</summary>
    int Count { get; }

    /// <summary>The sample at copy <paramref name="index"/> (0 ≤ index &lt; Count).</summary>
    ClassMajorJacobianSample Evaluate(int index);
}

/// <summary>A provider over samples computed beforehand (tests, or a caller that already ran the forward passes).</summary>
internal sealed class PrecomputedJacobianProvider : INoisyJacobianProvider
{
    private readonly JacobianSample[] _samples;

    /// <summary>Wraps the given samples.</summary>
    public PrecomputedJacobianProvider(IEnumerable<JacobianSample> samples)
    {
        ArgumentNullException.ThrowIfNull(samples);
        _samples = samples.ToArray();
    }

    /// <inheritdoc />
    public int Count => _samples.Length;

    /// <inheritdoc />
    public JacobianSample Evaluate(int index) => _samples[index];
}

/// <summary>Smooth CASO/CAFO noise settings (the paper's defaults: n = 16, σ = 0.15 × input range).</summary>
internal sealed record SmoothingOptions
{
    /// <summary>Number of noisy copies n.</summary>
    public int Copies { get; init; } = 16;

    /// <summary>σ as a fraction of the input's range (max − min).</summary>
    public double NoiseFraction { get; init; } = 0.15;

    /// <summary>σ = NoiseFraction · (max x − min x) for the given input.</summary>
    /// <exception cref="CasoInputException">Empty or non-finite input.</exception>
    public double NoiseStandardDeviation(ReadOnlySpan<float> input)
    {
        if (input.IsEmpty) throw new CasoInputException("The input is empty.", nameof(input));
        float lo = float.PositiveInfinity, hi = float.NegativeInfinity;
        foreach (float v in input)
        {
            if (!float.IsFinite(v)) throw new CasoInputException("The input has a non-finite value.", nameof(input));
            lo = Math.Min(lo, v);
            hi = Math.Max(hi, v);
        }
        return NoiseFraction * (hi - lo);
    }
}
