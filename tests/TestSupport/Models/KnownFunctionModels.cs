using Saliency.Models.Onnx;
using Saliency.Models.Onnx.Proto;

namespace Saliency.TestSupport;

/// <summary>
/// A classifier built with <see cref="OnnxGraphBuilder"/> whose logits are a known function of the image, for closed-form
/// oracles: <c>logitₖ = Σᵢ W[k, i] · φ(xᵢ) + b[k]</c> on the flattened [C, H, W] image, with φ the identity (linear model;
/// with two classes its softmax is the logistic model) or tanh (a per-pixel nonlinearity: still additive over pixels, so
/// over any grid of cells).
/// </summary>
/// <param name="Proto">The ONNX model: input "input" [N, C, H, W], output "logits" [N, classes].</param>
/// <param name="Weights">W, classes × d, row-major, the float32 values in the model.</param>
/// <param name="Bias">b, the float32 values in the model.</param>
/// <param name="Tanh">Whether φ = tanh.</param>
internal sealed record KnownFunctionModel(ModelProto Proto, float[] Weights, float[] Bias, bool Tanh)
{
    /// <summary>d, values per image.</summary>
    public int InputSize => Weights.Length / Bias.Length;

    /// <summary>W[k, i].</summary>
    public double Weight(int k, int i) => Weights[k * InputSize + i];

    /// <summary>φ(v) in float64.</summary>
    public double Phi(double v) => Tanh ? Math.Tanh(v) : v;

    /// <summary>The logits in float64.</summary>
    public double[] Logits(ReadOnlySpan<float> image)
    {
        var z = new double[Bias.Length];
        for (int k = 0; k < z.Length; k++)
        {
            double s = Bias[k];
            for (int i = 0; i < InputSize; i++) s += Weight(k, i) * Phi(image[i]);
            z[k] = s;
        }
        return z;
    }

    /// <summary>softmax(logits) in float64.</summary>
    public double[] Probabilities(ReadOnlySpan<float> image)
    {
        var z = Logits(image);
        double max = z.Max();
        var e = z.Select(v => Math.Exp(v - max)).ToArray();
        double sum = e.Sum();
        return e.Select(v => v / sum).ToArray();
    }

    /// <summary>
    /// Builds the model with seeded uniform weights in [−1, 1) and biases in [−½, ½): Flatten → (Tanh) → Gemm(transB).
    /// </summary>
    public static KnownFunctionModel Create(int channels, int height, int width, int classes, int seed, bool tanh = false)
    {
        int d = channels * height * width;
        var rng = new Random(seed);
        var w = new float[classes * d];
        for (int i = 0; i < w.Length; i++) w[i] = (float)(rng.NextDouble() * 2 - 1);
        var b = Enumerable.Range(0, classes).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var builder = new OnnxGraphBuilder(tanh ? "tanh_additive" : "linear");
        string x = builder.Input("input", OnnxElementType.Float, "N", channels, height, width);
        string features = builder.Flatten(x);
        if (tanh) features = builder.Tanh(features);
        string logits = builder.Gemm(features, builder.Initializer("W", w, classes, d), builder.Initializer("b", b, classes), transB: true, name: "logits");
        builder.Output(logits, OnnxElementType.Float, "N", classes);
        return new KnownFunctionModel(builder.Build(), w, b, tanh);
    }
}
