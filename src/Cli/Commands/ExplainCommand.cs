using System.CommandLine;
using System.Globalization;
using Saliency.Explainers;
using Saliency.Imaging;
using Saliency.Imaging.Preprocessing;
using Saliency.Models.Autodiff;
using Saliency.Models.Caching;
using Saliency.Models.Classifiers;
using Saliency.Models.Data;
using Saliency.Solvers.Caso;
using Saliency.Solvers.Leg;
using Spectre.Console;

namespace Saliency.Cli.Commands;

/// <summary>
/// <c>saliency explain --method gradient|cafo|caso|leg|leg-tv|<see cref="BaselineMethods"/> [--model m.onnx] (--image x.png [--resize] | --digit i) [--target c]
/// [--out map.png] [--overlay over.png [--overlay-alpha a]] [--seed s] [--lambda1 v] [--samples n] [--scale k]</c>: one saliency
/// map of one image, written as a PNG (hot colour map of the normalised map), optionally also blended over the input
/// picture, with a short summary of the prediction and the method's report.
/// </summary>
internal static class ExplainCommand
{
    /// <summary>K_L of LEG-TV's <c>L = K_L · L_max</c> unless <c>--bound-factor</c> says otherwise (the paper's 0.1).</summary>
    internal const double DefaultBoundFactor = 0.1;

    /// <summary>The methods, as <c>--method</c> accepts them.</summary>
    public static readonly string[] Methods = ["gradient", "cafo", "caso", "leg", "leg-tv", .. BaselineMethods.Methods];

    public static Command Create()
    {
        var method = new Option<string>("--method")
        {
            Description = "Saliency method: gradient (∇ target logit), cafo, caso (λ1 sweep unless --lambda1), leg, leg-tv, " + BaselineMethods.Description + ".",
            Required = true,
        };
        method.AcceptOnlyFromAmong(Methods);
        var models = new ModelOptions();
        var image = new Option<FileInfo>("--image") { Description = CommandSupport.ImageOptionDescription };
        var resize = new Option<bool>("--resize") { Description = CommandSupport.ResizeOptionDescription };
        var digit = new Option<int?>("--digit") { Description = "Index of a bundled held-out digit (instead of --image)." };
        var target = new Option<int?>("--target") { Description = "Class to explain (default: the predicted class); for a sigmoid (multi-label) output, the label (default: the most probable)." };
        var output = new Option<FileInfo>("--out") { Description = "Where to write the map (default: out/explain-<method>.<format>)." };
        var format = new Option<string>("--format")
        {
            Description = "png (coloured map), npy (signed values [C, H, W], float32) or json (values and the method's report).",
            DefaultValueFactory = _ => "png",
        };
        format.AcceptOnlyFromAmong(Report.ExplainOutput.Formats);
        var overlay = new Option<FileInfo>("--overlay")
        {
            Description = "Also write the map over the input picture to this PNG: over the original picture when it was resized or cropped for the model "
                          + "(the parts the model did not see at half brightness), else over the picture times --scale.",
        };
        var overlayAlpha = new Option<float>("--overlay-alpha")
        {
            Description = "Opacity of the map in --overlay: 0 shows the picture, 1 the map.",
            DefaultValueFactory = _ => 0.5f,
        };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the LEG perturbations.", DefaultValueFactory = _ => 0 };
        var lambda1 = new Option<double?>("--lambda1") { Description = "CAFO/CASO: a fixed λ1 instead of the sparsity sweep." };
        var samples = new Option<int?>("--samples")
        {
            Description = "LEG: model evaluations n (default 1000); smoothgrad: noisy copies (50); lime: samples (1000); kernelshap: sampled coalitions (2048); smooth-caso/cafo: copies (16).",
        };
        var baselines = new BaselineMethods();
        var boundFactor = new Option<double>("--bound-factor")
        {
            Description = "LEG-TV: K_L of the constraint level L = K_L · L_max (paper: 0.05 or 0.1).",
            DefaultValueFactory = _ => DefaultBoundFactor,
        };
        var scale = new Option<int>("--scale") { Description = "Each pixel of the model input becomes a scale×scale block in the map PNG (a map on a coarser grid is enlarged to the input first).", DefaultValueFactory = _ => 8 };
        // Opt-in: since the exporter's node schedule made session creation linear, exporting afresh is cheaper than a
        // cache hit on large models (ResNet-18: 42 ms export vs 292 ms hit, bench/Saliency.Bench/Jacobian/RESULTS.md).
        var useCache = new Option<bool>("--cache") { Description = "Reuse the exported Jacobian model from the cache ($SALIENCY_CACHE_DIR, else $XDG_CACHE_HOME/saliency or ~/.cache/saliency) instead of exporting it afresh." };
        var backendName = BackendOption.Create();
        var command = new Command("explain", "Explain one image's prediction with a saliency method and write the map as a PNG.")
        {
            method, image, resize, digit, target, output, format, overlay, overlayAlpha, seed, lambda1, samples, boundFactor, scale, useCache, backendName,
        };
        foreach (var option in baselines.All.Concat(models.All)) command.Options.Add(option);
        command.SetAction(parseResult => CommandSupport.Run(parseResult, console =>
        {
            string name = parseResult.GetValue(method)!;
            int k = parseResult.GetValue(scale);
            if (k < 1 || k > 64) throw new UserInputException($"--scale must be between 1 and 64, got {k}.");
            int n = parseResult.GetValue(samples) ?? BaselineMethods.DefaultSamples(name);
            if (n < 2) throw new UserInputException($"--samples must be ≥ 2, got {n}.");
            string outFormat = parseResult.GetValue(format)!;
            string outPath = parseResult.GetValue(output)?.FullName ?? Path.GetFullPath(Path.Combine("out", $"explain-{name}.{outFormat}"));
            string? overlayPath = parseResult.GetValue(overlay)?.FullName;
            float alpha = parseResult.GetValue(overlayAlpha);
            if (!(alpha >= 0 && alpha <= 1)) throw new UserInputException($"--overlay-alpha must lie in [0, 1], got {alpha}.");
            double kl = parseResult.GetValue(boundFactor);
            if (!(kl >= 0 && kl <= 1)) throw new UserInputException($"--bound-factor must lie in [0, 1], got {kl}.");
            // The backend before any model work: asking for one that cannot run here fails at once.
            using var backend = BackendOption.Open(parseResult.GetValue(backendName));

            using var opened = models.Open(parseResult, useCache: parseResult.GetValue(useCache));
            var full = opened.Classifier;
            var (input, source, prepared, picture) = LoadImage(opened, parseResult.GetValue(image), parseResult.GetValue(resize), parseResult.GetValue(digit));
            bool onOriginal = prepared is not null && (prepared.Original.Width != picture.Width || prepared.Original.Height != picture.Height);
            if (overlayPath is not null && !onOriginal && ImageLimits.Default.Check((long)picture.Width * k, (long)picture.Height * k) is string tooLarge)
                throw new UserInputException($"--overlay at --scale {k}: {tooLarge}; use a smaller --scale.");
            if (NeedsJacobian(name))
            {
                try
                {
                    full.EnsureJacobian();
                }
                catch (JacobianExportException e)
                {
                    throw new UserInputException($"cannot explain this model with {name}: {e.Message} The forward-only methods (leg, leg-tv, occlusion, lime, kernelshap) need no Jacobian.");
                }
            }

            // One score alone: --channel, or a sigmoid output's label (--target, else the most probable).
            int? targetClass = parseResult.GetValue(target);
            if (opened.Channel is not null && targetClass is not null) throw new UserInputException("--channel explains one score; leave out --target.");
            if (opened.Channel is null && full.OutputKind == OutputKind.Sigmoid && targetClass is { } label && (label < 0 || label >= full.ClassCount))
                throw new UserInputException($"--target must be between 0 and {full.ClassCount - 1} (the labels of '{Terminal.Escape(full.OutputName)}'), got {label}.");
            // The view does not own the classifier: `opened` disposes it.
            IClassifier classifier = full;
            int? single = null;
            if (SingleScoreClassifier.ForRequest(full, full.OutputKind, input, opened.Channel, targetClass) is var (view, index, _))
                (classifier, single, targetClass) = (view, index, 1);

            var explainer = BaselineMethods.Handles(name)
                ? baselines.Explainer(name, parseResult, parseResult.GetValue(seed), n, parseResult.GetValue(lambda1), backend)
                : Explainer(name, parseResult.GetValue(lambda1), parseResult.GetValue(seed), n, kl, backend);
            Explanation explanation;
            try
            {
                explanation = explainer.Explain(classifier, input, targetClass);
            }
            catch (Exception e) when (e is ExplainerInputException or CasoInputException or ArgumentOutOfRangeException)
            {
                throw new UserInputException(e.Message);
            }

            var map = explanation.Map;
            if (map.Normalized.Any(v => !float.IsFinite(v)))
                throw new ClassifierOutputException("the map has NaN or infinite values: the model's scores or gradients are not finite at this image (NaN or infinite weights?).");
            // At the model's input resolution (times --scale): a map on a coarser grid (LEG's 28×28 cells on 224²) is
            // enlarged by whole cells when the input is a multiple of it.
            int block = k * (picture.Width % map.Width == 0 && picture.Height % map.Height == 0 && picture.Width / map.Width == picture.Height / map.Height
                ? picture.Width / map.Width : 1);
            if (ImageLimits.Default.Check((long)map.Width * block, (long)map.Height * block) is not null) block = k;
            var png = MapRenderer.RenderColor(map.Normalized, map.Width, map.Height, ColorMap.Hot, 0f, 1f, block);
            Report.ExplainOutput.Write(outFormat, outPath, explanation, source, png);
            if (overlayPath is not null)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(overlayPath)!);
                if (onOriginal)
                {
                    // The map at the model's resolution, mapped back through the crop and resize onto the original picture.
                    ImageCodec.WritePng(overlayPath, prepared!.OverlayOnOriginal(map.Normalized, map.Width, map.Height, alpha));
                }
                else
                {
                    // The picture the model saw, enlarged like the map (nearest), under the map resized to it (nearest).
                    var enlarged = ImageTransforms.Resize(picture, picture.Width * k, picture.Height * k, ResizeFilter.Nearest);
                    ImageCodec.WritePng(overlayPath, MapRenderer.Overlay(enlarged, map.Normalized, map.Width, map.Height, alpha));
                }
            }
            var modelLines = ModelRows(opened, single);
            Render(console, explanation, source, outPath, png, overlayPath, outFormat, modelLines, single);
            if (explanation is CasoExplanation { Sweep: { } sweep }) console.Write(SweepPathTable.Create(sweep));
            return 0;
        }));
        return command;
    }

    /// <summary>The explainer for a method name, with the CLI's settings.</summary>
    internal static IExplainer Explainer(string method, double? lambda1, ulong seed, int samples, double boundFactor = DefaultBoundFactor,
        Saliency.Kernels.Backends.IComputeBackend? backend = null) => method switch
    {
        "gradient" => new GradientExplainer(),
        "cafo" => new CasoExplainer(new CasoExplainerOptions { Solver = new CasoOptions { Kind = CasoObjectiveKind.Cafo }, Lambda1 = lambda1, Backend = backend }),
        "caso" => new CasoExplainer(new CasoExplainerOptions { Solver = new CasoOptions { Kind = CasoObjectiveKind.Caso }, Lambda1 = lambda1, Backend = backend }),
        "leg" or "leg-tv" => new LegExplainer(new LegExplainerOptions
        {
            TotalVariation = method == "leg-tv",
            SampleCount = samples,
            Seed = seed,
            TvOptions = new LegTvOptions { BoundFactor = boundFactor },
        }),
        _ => throw new UserInputException($"unknown method '{method}'; use one of {string.Join(", ", Methods)}."),
    };

    /// <summary>
    /// Opens the classifier (forward and Jacobian sessions), the Jacobian model from the per-user cache when
    /// <paramref name="useCache"/> is set (<c>--cache</c>); a model that cannot be differentiated is a user error.
    /// </summary>
    internal static OnnxClassifier OpenClassifier(string modelPath, bool useCache = false)
    {
        try
        {
            return OnnxClassifier.Create(modelPath, cache: useCache ? JacobianModelCache.CreateDefault() : null);
        }
        catch (JacobianExportException e)
        {
            throw new UserInputException($"cannot explain this model: {e.Message}");
        }
    }

    /// <summary>The methods that run only forward passes; every other one needs the Jacobian model.</summary>
    internal static readonly string[] ForwardOnlyMethods = ["leg", "leg-tv", "occlusion", "lime", "kernelshap"];

    /// <summary>Whether <paramref name="method"/> needs the exported Jacobian model (checked before any work).</summary>
    internal static bool NeedsJacobian(string method) => !ForwardOnlyMethods.Contains(method);

    /// <summary>
    /// The image to explain, from exactly one of an image file and a bundled digit index: the model input, a
    /// description, the prepared picture (file input only, for the overlay on the original) and the picture at the
    /// model's size.
    /// </summary>
    private static (float[] Image, string Source, PreparedImage? Prepared, ImageBuffer Picture) LoadImage(OpenedModel opened, FileInfo? image, bool resize, int? digit)
    {
        if ((image is null) == (digit is null))
            throw new UserInputException("give exactly one of --image and --digit.");
        if (image is not null)
        {
            var prepared = opened.LoadPicture(image, resize);
            return (prepared.Input, image.FullName, prepared, prepared.Crop);
        }
        var shape = opened.Classifier.InputShape;
        var digits = LoadDigits();
        int index = digit!.Value;
        if (index < 0 || index >= digits.Count)
            throw new UserInputException($"--digit must be between 0 and {digits.Count - 1}, got {index}.");
        if (shape.Count != 3 || shape[0] != 1 || shape[1] != digits.Rows || shape[2] != digits.Cols)
            throw new UserInputException(
                $"the model takes [{string.Join(", ", shape)}] inputs but the digits are 1×{digits.Rows}×{digits.Cols}.");
        var pixels = digits.ImageFloats(index);
        return (pixels, $"bundled digit {index} (label {digits.Label(index)})", null,
            ImageBuffer.FromFloats(digits.Cols, digits.Rows, PixelFormat.Gray, pixels));
    }

    /// <summary>The report rows about the model: its output, what it holds, the score explained alone, and the preprocessing.</summary>
    private static List<(string Key, string Value)> ModelRows(OpenedModel opened, int? single)
    {
        var c = opened.Classifier;
        string kind = c.OutputKind switch
        {
            OutputKind.Probabilities => "probabilities (explained through their logits)",
            OutputKind.LogProbabilities => "log-probabilities",
            OutputKind.Sigmoid => "sigmoid, multi-label",
            _ => "logits",
        };
        var rows = new List<(string, string)> { ("output", $"{c.OutputName} [{c.ClassCount} scores], {kind}") };
        if (single is { } i)
            rows.Add(("alone", c.OutputKind == OutputKind.Sigmoid
                ? $"label {i} (a two-class view: logit {i} against 0, so p = σ(z))"
                : $"channel {i} (a two-class view: score {i} against its value on this image, so p = σ(z − z₀) = ½ there)"));
        rows.Add(("preprocessing", opened.DescribePreprocessing()));
        return rows;
    }

    private static DigitSet LoadDigits()
    {
        try { return BundledAssets.LoadDigits(); }
        catch (FileNotFoundException e) { throw new UserInputException(e.Message); }
    }

    /// <summary>Writes the summary: input, prediction, explained class, method report, output file.</summary>
    internal static void Render(IAnsiConsole console, Explanation explanation, string source, string outPath, ImageBuffer png, string? overlayPath = null, string format = "png",
        IEnumerable<(string Key, string Value)>? modelRows = null, int? singleScore = null)
    {
        var p = explanation.Scores.ProbabilitiesOf(0);
        int predicted = explanation.PredictedClass;
        var table = new Table().AddColumn("").AddColumn("");
        table.HideHeaders();
        void Row(string key, string value) => table.AddRow(Markup.Escape(Terminal.Escape(key)), Markup.Escape(Terminal.Escape(value)));
        Row("method", explanation.Method);
        Row("image", source);
        foreach (var (key, value) in modelRows ?? []) Row(key, value);
        if (singleScore is { } i)
        {
            // The two-class view [b, z_i] (SingleScoreClassifier): its class 1 is score i; p₁ = σ(z_i − b).
            float z = explanation.Scores.LogitsOf(0)[1];
            Row("explained score", string.Create(CultureInfo.InvariantCulture, $"{i}: z = {z:0.0000}, p = {p[1]:0.0000}"));
        }
        else
        {
            Row("predicted class", string.Create(CultureInfo.InvariantCulture, $"{predicted} (p = {p[predicted]:0.0000})"));
            Row("explained class", string.Create(CultureInfo.InvariantCulture, $"{explanation.Target} (p = {p[explanation.Target]:0.0000})"));
        }
        foreach (var (key, value) in explanation.Details) Row(key, value);
        Row("map", string.Create(CultureInfo.InvariantCulture, $"{explanation.Map.Channels}×{explanation.Map.Height}×{explanation.Map.Width}"));
        Row("written", $"{outPath} ({Report.ExplainOutput.Describe(format, explanation, png)})");
        if (overlayPath is not null) Row("overlay", overlayPath);
        console.Write(table);
    }

    /// <summary>Folder of the demo's saliency pictures (git-ignored <c>out/</c>), relative to the working directory.</summary>
    internal const string DemoOutputFolder = "out/demo";

    /// <summary>
    /// The demo's saliency section: explains the first digit with CASO (λ1 sweep) and LEG-TV
    /// (<see cref="LegExplainerOptions.DigitDemo"/>: n = 4000 antithetic evaluations on a 14×14 grid of 2×2-pixel cells,
    /// L = 0.5·L_max), writes the digit and both maps as PNGs to
    /// <see cref="DemoOutputFolder"/> and prints the solvers' reports and where the files are.
    /// </summary>
    internal static void DemoSection(DemoCommand.DemoContext c)
    {
        if (c.Digits.Count == 0) return;
        string folder = Path.GetFullPath(DemoOutputFolder);
        Directory.CreateDirectory(folder);
        using var classifier = OpenClassifier(c.ModelPath);
        int index = PickInformativeDigit(classifier, c.Digits);
        var image = c.Digits.ImageFloats(index);
        int height = c.Digits.Rows, width = c.Digits.Cols;
        string digitPath = Path.Combine(folder, $"digit-{index}.png");
        ImageCodec.WritePng(digitPath, MapRenderer.RenderGray(image, width, height, 0f, 1f, scale: 8));

        var table = new Table().AddColumn("method").AddColumn("report").AddColumn("picture");
        // LEG-TV on the paper's coarse-grid scheme scaled to a digit (cells of 2×2 pixels) at K_L = 0.5: on one-pixel
        // cells at K_L = 0.1 the map was ~75 % separate regions, i.e. noise (see LegExplainerOptions.DigitDemo).
        IExplainer[] explainers = [new CasoExplainer(new CasoExplainerOptions { Backend = c.Backend }), new LegExplainer(LegExplainerOptions.DigitDemo(height, width))];
        Explanation? last = null;
        Lambda1SweepResult? casoSweep = null;
        foreach (var explainer in explainers)
        {
            var started = System.Diagnostics.Stopwatch.StartNew();
            var explanation = explainer.Explain(classifier, image);
            var elapsed = started.Elapsed;
            var map = explanation.Map;
            string path = Path.Combine(folder, $"digit-{index}-{explanation.Method}.png");
            ImageCodec.WritePng(path, MapRenderer.RenderColor(map.Normalized, map.Width, map.Height, ColorMap.Hot, 0f, 1f, 8 * width / map.Width));
            var report = string.Join("\n", explanation.Details.Select(d => $"{d.Key}: {d.Value}"))
                + string.Create(CultureInfo.InvariantCulture, $"\ntime: {elapsed.TotalSeconds:0.00} s");
            table.AddRow(Markup.Escape(explanation.Method), Markup.Escape(report), Markup.Escape(path));
            last = explanation;
            casoSweep ??= (explanation as CasoExplanation)?.Sweep;
        }
        if (last is not null)
        {
            var p = last.Scores.ProbabilitiesOf(0);
            c.Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Digit {index} (label {c.Digits.Label(index)}): predicted {last.PredictedClass} (p = {p[last.PredictedClass]:0.0000}); explaining class {last.Target}. Input picture: {digitPath}"));
        }
        c.Console.Write(table);
        if (casoSweep is not null) c.Console.Write(SweepPathTable.Create(casoSweep));
    }

    /// <summary>
    /// The least confident correctly classified digit among the first 50. A saturated prediction (p ≈ 1) leaves the
    /// target probability almost flat, so LEG's black-box estimate is mostly sampling noise and the loss gradient is
    /// tiny; a digit near the decision boundary shows what the methods do.
    /// </summary>
    private static int PickInformativeDigit(IClassifier classifier, DigitSet digits)
    {
        int count = Math.Min(50, digits.Count);
        var scores = classifier.Predict(digits.Batch(0, count));
        int best = 0;
        float bestTop = float.PositiveInfinity;
        for (int i = 0; i < count; i++)
        {
            int predicted = scores.PredictedClass(i);
            float top = scores.ProbabilitiesOf(i)[predicted];
            if (predicted == digits.Label(i) && top < bestTop) { best = i; bestTop = top; }
        }
        return best;
    }
}
