using System.Diagnostics;
using System.Globalization;
using Google.Protobuf;
using Saliency.Explainers;
using Saliency.Models.Autodiff;
using Saliency.Models.Classifiers;
using Saliency.Models.Data;
using Saliency.Models.Onnx.Proto;
using Saliency.Models.Runtime;

namespace Saliency.Bench.ColdStart;

/// <summary>
/// Stopwatch harness (not BenchmarkDotNet: BDN warms and JIT-compiles before it measures, which is exactly what this
/// must not do) for the cold start of issue 13 item 3. Run it once per fresh process:
/// <c>dotnet Saliency.Bench.dll coldstart caso|gradient [repeats]</c>. It prints, in milliseconds, the time from process
/// start to <c>Main</c>, then each start-up step of <c>saliency explain --digit</c> the first time it runs (model read,
/// Jacobian export, forward and Jacobian session creation, <see cref="OnnxClassifier.Create(string, InferenceSessionOptions?, JacobianExportOptions?)"/>),
/// then explanation 1 (cold: JIT, tier 0), 2 and the median of explanations 2..repeats (warm).
/// </summary>
internal static class FirstExplanation
{
    public static int Run(string[] args)
    {
        var sinceStart = DateTime.Now - Process.GetCurrentProcess().StartTime;
        string method = args.Length > 1 ? args[1] : "caso";
        int repeats = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 10;
        string root = FindRoot();
        string modelPath = Path.Combine(root, "models/lenet.onnx");
        var rows = new List<(string Step, double Ms)> { ("process start → Main", sinceStart.TotalMilliseconds) };
        var sw = Stopwatch.StartNew();
        double Lap() { double ms = sw.Elapsed.TotalMilliseconds; sw.Restart(); return ms; }

        var digits = DigitSet.Load(Path.Combine(root, "data/digits-heldout-images.idx3-ubyte"), Path.Combine(root, "data/digits-heldout-labels.idx1-ubyte"));
        var image = digits.ImageFloats(2);
        rows.Add(("read digits", Lap()));
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(modelPath));
        rows.Add(("read + parse ONNX", Lap()));
        var augmented = JacobianExporter.Export(model);
        rows.Add(("export Jacobian graph", Lap()));
        byte[] forwardBytes = model.ToByteArray(), augmentedBytes = augmented.ToByteArray();
        Lap();
        using (InferenceSession.Create(forwardBytes)) rows.Add(("forward session (first ORT use)", Lap()));
        using (InferenceSession.Create(augmentedBytes)) rows.Add(("Jacobian session", Lap()));
        using var classifier = OnnxClassifier.Create(modelPath);
        rows.Add(("OnnxClassifier.Create (2nd time: parse+export+2 sessions)", Lap()));

        IExplainer explainer = method switch
        {
            "gradient" => new GradientExplainer(),
            "caso" => new CasoExplainer(),
            "cafo" => new CasoExplainer(new CasoExplainerOptions { Solver = new Saliency.Solvers.Caso.CasoOptions { Kind = Saliency.Solvers.Caso.CasoObjectiveKind.Cafo } }),
            _ => throw new ArgumentException($"unknown method '{method}'"),
        };
        var times = new double[repeats];
        for (int i = 0; i < repeats; i++)
        {
            Lap();
            explainer.Explain(classifier, image);
            times[i] = Lap();
        }
        rows.Add(($"explanation 1 ({method}, cold)", times[0]));
        if (repeats > 1) rows.Add(($"explanation 2", times[1]));
        if (repeats > 2) rows.Add(($"explanation median of 2..{repeats} (warm)", Median(times[1..])));
        rows.Add(($"explanation {repeats}", times[^1]));
        foreach (var (step, ms) in rows)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{step,-60} {ms,9:0.0} ms"));
        return 0;
    }

    private static double Median(double[] values)
    {
        var s = values.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    /// <summary>The repository root (holds models/lenet.onnx), searched upwards from the working directory.</summary>
    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(Environment.CurrentDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "models/lenet.onnx"))) return dir.FullName;
        throw new FileNotFoundException("models/lenet.onnx not found above the working directory; run from the repository.");
    }
}
