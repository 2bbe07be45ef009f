using System.CommandLine;
using Saliency.Explainers;
using Saliency.Solvers.Caso;

namespace Saliency.Cli.Commands;

/// <summary>
/// The baseline methods of <c>saliency explain</c> (gradient-x-input, smoothgrad, ig, gradcam, occlusion, lime, kernelshap,
/// smooth-caso, smooth-cafo): their options and how the CLI builds their explainers. Kept apart from
/// <see cref="ExplainCommand"/> so that the command only lists them.
/// </summary>
internal sealed class BaselineMethods
{
    /// <summary>The methods, as <c>--method</c> accepts them.</summary>
    public static readonly string[] Methods = ["gradient-x-input", "smoothgrad", "ig", "gradcam", "occlusion", "lime", "kernelshap", "smooth-caso", "smooth-cafo"];

    /// <summary>What <c>--method</c>'s help says about them.</summary>
    public const string Description =
        "gradient-x-input, smoothgrad (--samples copies, --noise), ig (--steps), gradcam (--layer), occlusion (--window, --stride), " +
        "lime (--features grid --cell | superpixel --segments --compactness; --samples, --kernel-width), kernelshap (--cell; all coalitions up to 14 cells, else --samples), smooth-caso, smooth-cafo (--samples copies)";

    public Option<int> Steps { get; } = new("--steps") { Description = "ig: points m on the path (midpoint rule).", DefaultValueFactory = _ => 64 };

    public Option<int> Window { get; } = new("--window") { Description = "occlusion: window side in pixels.", DefaultValueFactory = _ => 4 };

    public Option<int?> Stride { get; } = new("--stride") { Description = "occlusion: step between windows (default: half the window, at least 1)." };

    public Option<int?> Cell { get; } = new("--cell") { Description = "lime, kernelshap: grid cell side in pixels (default: 4 for lime, 7 for kernelshap)." };

    public Option<float> BaselineValue { get; } = new("--baseline-value")
    {
        Description = "ig, occlusion, lime, kernelshap: the constant baseline image (what removed pixels become).",
        DefaultValueFactory = _ => 0f,
    };

    public Option<double> KernelWidth { get; } = new("--kernel-width") { Description = "lime: kernel width σ of exp(−D²/σ²), cosine distance.", DefaultValueFactory = _ => 0.25 };

    public Option<double> Noise { get; } = new("--noise")
    {
        Description = "smoothgrad, smooth-caso/cafo: σ as a fraction of the input range.",
        DefaultValueFactory = _ => 0.15,
    };

    public Option<string?> Layer { get; } = new("--layer")
    {
        Description = "gradcam: the layer (node or tensor name; default: the last Conv/activation output of at least 2×2 on the path to the logits).",
    };

    public Option<string> Features { get; } = new Option<string>("--features")
    {
        Description = "lime: grid cells (--cell) or SLIC superpixels of the image (--segments, --compactness).",
        DefaultValueFactory = _ => "grid",
    }.AcceptOnlyFromAmong("grid", "superpixel");

    public Option<int> Segments { get; } = new("--segments") { Description = "lime --features superpixel: SLIC's target number of superpixels K.", DefaultValueFactory = _ => 50 };

    public Option<double> Compactness { get; } = new("--compactness")
    {
        Description = "lime --features superpixel: SLIC's compactness m (colour vs. space; 1–40).",
        DefaultValueFactory = _ => 10.0,
    };

    /// <summary>The options, to add to the command.</summary>
    public IEnumerable<Option> All => [Steps, Window, Stride, Cell, BaselineValue, KernelWidth, Noise, Layer, Features, Segments, Compactness];

    /// <summary>Whether <paramref name="method"/> is one of these.</summary>
    public static bool Handles(string method) => Methods.Contains(method);

    /// <summary>n when <c>--samples</c> is not given: noisy copies, LIME samples or sampled coalitions; LEG's 1000 otherwise.</summary>
    public static int DefaultSamples(string method) => method switch
    {
        "smoothgrad" => 50,
        "smooth-caso" or "smooth-cafo" => 16,
        "kernelshap" => 2048,
        _ => 1000,
    };

    /// <summary>The explainer of <paramref name="method"/> with the parsed options.</summary>
    public IExplainer Explainer(string method, ParseResult parse, ulong seed, int samples, double? lambda1,
        Saliency.Kernels.Backends.IComputeBackend? backend = null)
    {
        float baseline = parse.GetValue(BaselineValue);
        if (!float.IsFinite(baseline)) throw new UserInputException($"--baseline-value must be finite, got {baseline}.");
        double noise = parse.GetValue(Noise);
        if (!(noise >= 0) || !double.IsFinite(noise)) throw new UserInputException($"--noise must be finite and ≥ 0, got {noise}.");
        int window = parse.GetValue(Window);
        return method switch
        {
            "gradient-x-input" => new GradientTimesInputExplainer(),
            "smoothgrad" => new SmoothGradExplainer(new SmoothGradOptions { SampleCount = samples, NoiseFraction = noise, Seed = seed }),
            "ig" => new IntegratedGradientsExplainer(new IntegratedGradientsOptions { Steps = parse.GetValue(Steps), BaselineValue = baseline }),
            "gradcam" => new GradCamExplainer(new GradCamOptions { Layer = parse.GetValue(Layer) }),
            "occlusion" => new OcclusionExplainer(new OcclusionOptions
            {
                Window = window, Stride = parse.GetValue(Stride) ?? Math.Max(1, window / 2), BaselineValue = baseline,
            }),
            "lime" => new LimeExplainer(new LimeOptions
            {
                Features = parse.GetValue(Features) == "superpixel" ? LimeFeatureKind.Superpixel : LimeFeatureKind.Grid,
                Segments = parse.GetValue(Segments), Compactness = parse.GetValue(Compactness),
                Cell = parse.GetValue(Cell) ?? 4, SampleCount = samples, KernelWidth = parse.GetValue(KernelWidth), Seed = seed, BaselineValue = baseline,
            }),
            "kernelshap" => new KernelShapExplainer(new KernelShapOptions { Cell = parse.GetValue(Cell) ?? 7, SampleCount = samples, Seed = seed, BaselineValue = baseline }),
            "smooth-caso" or "smooth-cafo" => new SmoothCasoExplainer(new SmoothCasoExplainerOptions
            {
                Smoothing = new SmoothingOptions { Copies = samples, NoiseFraction = noise },
                Seed = seed,
                Lambda1 = lambda1,
                Solver = new CasoOptions { Kind = method == "smooth-caso" ? CasoObjectiveKind.Caso : CasoObjectiveKind.Cafo },
                Backend = backend,
            }),
            _ => throw new UserInputException($"unknown method '{method}'; use one of {string.Join(", ", Methods)}."),
        };
    }
}
