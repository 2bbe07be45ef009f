namespace Saliency;

/// <summary>The method names <see cref="ExplainRequest.Method"/> accepts (the CLI's <c>--method</c> names).</summary>
public static class SaliencyMethods
{
    /// <summary>∇ of the target logit.</summary>
    public const string Gradient = "gradient";
    /// <summary>Gradient × input.</summary>
    public const string GradientTimesInput = "gradient-x-input";
    /// <summary>SmoothGrad (<see cref="ExplainRequest.Samples"/> noisy copies, default 50).</summary>
    public const string SmoothGrad = "smoothgrad";
    /// <summary>Integrated Gradients from a zero baseline (<see cref="ExplainRequest.Samples"/> path points, default 64).</summary>
    public const string IntegratedGradients = "ig";
    /// <summary>CAFO: first-order sparse adversarial saliency (Singla et al. 2019).</summary>
    public const string Cafo = "cafo";
    /// <summary>CASO: second-order, with the Hessian W A Wᵀ.</summary>
    public const string Caso = "caso";
    /// <summary>LEG (Luo et al. 2019), <see cref="ExplainRequest.Samples"/> evaluations (default 1000).</summary>
    public const string Leg = "leg";
    /// <summary>LEG-TV: LEG with the total-variation LP (bound <c>K_L · L_max</c>, <see cref="ExplainRequest.BoundFactor"/>).</summary>
    public const string LegTv = "leg-tv";
    /// <summary>Grad-CAM (Selvaraju et al. 2017) at <see cref="ExplainRequest.Layer"/> (default: the last spatial layer).</summary>
    public const string GradCam = "gradcam";
    /// <summary>Occlusion: <see cref="ExplainRequest.Window"/>-pixel windows (default 4) every <see cref="ExplainRequest.Stride"/> (default half the window).</summary>
    public const string Occlusion = "occlusion";
    /// <summary>LIME on grid cells (<see cref="ExplainRequest.Cell"/>, default 4) or SLIC superpixels (<see cref="ExplainRequest.Superpixels"/>); <see cref="ExplainRequest.Samples"/> default 1000.</summary>
    public const string Lime = "lime";
    /// <summary>Kernel SHAP on grid cells (<see cref="ExplainRequest.Cell"/>, default 7); <see cref="ExplainRequest.Samples"/> coalitions (default 2048).</summary>
    public const string KernelShap = "kernelshap";
    /// <summary>CASO averaged over <see cref="ExplainRequest.Samples"/> noisy copies (default 16).</summary>
    public const string SmoothCaso = "smooth-caso";
    /// <summary>CAFO averaged over <see cref="ExplainRequest.Samples"/> noisy copies (default 16).</summary>
    public const string SmoothCafo = "smooth-cafo";

    /// <summary>All of them.</summary>
    public static IReadOnlyList<string> All { get; } = [Gradient, GradientTimesInput, SmoothGrad, IntegratedGradients, Cafo, Caso, Leg, LegTv, GradCam, Occlusion, Lime, KernelShap, SmoothCaso, SmoothCafo];
}

/// <summary>
/// One explanation to compute, in the shape of Captum's <c>attribute(inputs, target)</c>: the model, the image (one
/// image, flattened in the model's input order, e.g. C×H×W), the class (default: the predicted one) and the method with
/// its few parameters.
/// </summary>
public sealed record ExplainRequest
{
    /// <summary>The registered model's name.</summary>
    public required string Model { get; init; }

    /// <summary>The image, flattened (C×H×W, channel-major); read in place, never copied by the engine. Must stay unchanged until the task completes.</summary>
    public required ReadOnlyMemory<float> Image { get; init; }

    /// <summary>The method (<see cref="SaliencyMethods"/>); default gradient.</summary>
    public string Method { get; init; } = SaliencyMethods.Gradient;

    /// <summary>The class to explain; null = the predicted class.</summary>
    public int? Target { get; init; }

    /// <summary>CAFO/CASO: a fixed λ1; null = the sparsity sweep.</summary>
    public double? Lambda1 { get; init; }

    /// <summary>Sampling methods: model evaluations (LEG n, SmoothGrad copies, IG steps); null = the method's default.</summary>
    public int? Samples { get; init; }

    /// <summary>Seed of the sampling methods.</summary>
    public ulong Seed { get; init; }

    /// <summary>LEG-TV: K_L of the bound <c>L = K_L · L_max</c>, in [0, 1]; null = 0.1 (the paper's).</summary>
    public double? BoundFactor { get; init; }

    /// <summary>CAFO/CASO: keep the k most probable classes (plus the target) in W; null = all, or the budget's default top-k above its threshold.</summary>
    public int? TopClasses { get; init; }

    /// <summary>Solver iteration cap (FISTA per λ1, PDHG per LP); null = the solver's default, capped by the budget.</summary>
    public int? MaxIterations { get; init; }

    /// <summary>
    /// Explain this one output score alone, as "score vs. rest" (a two-class view <c>[b, z_i]</c> with b = z_i at the
    /// image, so σ(z_i − b) = ½ there): a feature extractor's channel. <see cref="Target"/> must then be null. A model
    /// whose output is a Sigmoid (multi-label) is always explained this way, for label <see cref="Target"/> (null: the
    /// highest score) with b = 0, so its probability is the model's own σ(z_i). The result's target is the score's index.
    /// </summary>
    public int? Channel { get; init; }

    /// <summary>Grad-CAM: the layer (node or tensor name); null = the last Conv/activation output of at least 2×2.</summary>
    public string? Layer { get; init; }

    /// <summary>Occlusion: the window side in pixels; null = 4.</summary>
    public int? Window { get; init; }

    /// <summary>Occlusion: the step between windows; null = half the window, at least 1.</summary>
    public int? Stride { get; init; }

    /// <summary>LIME (grid) and Kernel SHAP: the grid cell side in pixels; null = 4 (LIME), 7 (Kernel SHAP).</summary>
    public int? Cell { get; init; }

    /// <summary>LIME: SLIC superpixels (<see cref="Segments"/> of them) instead of grid cells.</summary>
    public bool Superpixels { get; init; }

    /// <summary>LIME with superpixels: SLIC's target number K; null = 50.</summary>
    public int? Segments { get; init; }

    /// <summary>This request's budget; null = the engine's <see cref="SaliencyEngineOptions.Budget"/>.</summary>
    public ResourceBudget? Budget { get; init; }
}
