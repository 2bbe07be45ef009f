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
/// <c>dotnet Saliency.Bench.dll coldstart caso|gradient [repeats [split]]</c>. It prints, in milliseconds, the time from process
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
        // Per step: wall time, and the JIT's share of it (System.Runtime.JitInfo: compile time and methods compiled,
        // all threads) — what ReadyToRun and tiering settings can change.
        var rows = new List<(string Step, double Ms, double JitMs, long Methods)>
        {
            ("process start → Main", sinceStart.TotalMilliseconds, System.Runtime.JitInfo.GetCompilationTime().TotalMilliseconds, System.Runtime.JitInfo.GetCompiledMethodCount()),
        };
        var sw = Stopwatch.StartNew();
        var jit = System.Runtime.JitInfo.GetCompilationTime();
        long methods = System.Runtime.JitInfo.GetCompiledMethodCount();
        (double, double, long) Step()
        {
            double ms = sw.Elapsed.TotalMilliseconds;
            var j = System.Runtime.JitInfo.GetCompilationTime();
            long m = System.Runtime.JitInfo.GetCompiledMethodCount();
            var result = (ms, (j - jit).TotalMilliseconds, m - methods);
            (jit, methods) = (j, m);
            sw.Restart();
            return result;
        }
        double Lap() => Step().Item1;
        void Add(string step) { var (ms, jitMs, n) = Step(); rows.Add((step, ms, jitMs, n)); }

        var digits = DigitSet.Load(Path.Combine(root, "data/digits-heldout-images.idx3-ubyte"), Path.Combine(root, "data/digits-heldout-labels.idx1-ubyte"));
        var image = digits.ImageFloats(2);
        Add("read digits");
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(modelPath));
        Add("read + parse ONNX");
        var augmented = JacobianExporter.Export(model);
        Add("export Jacobian graph");
        byte[] forwardBytes = model.ToByteArray(), augmentedBytes = augmented.ToByteArray();
        Lap();
        using (InferenceSession.Create(forwardBytes)) Add("forward session (first ORT use)");
        using (InferenceSession.Create(augmentedBytes)) Add("Jacobian session");
        using var classifier = OnnxClassifier.Create(modelPath);
        Add("OnnxClassifier.Create (2nd time: parse+export+2 sessions)");

        IExplainer explainer = method switch
        {
            "gradient" => new GradientExplainer(),
            "caso" => new CasoExplainer(),
            "cafo" => new CasoExplainer(new CasoExplainerOptions { Solver = new Saliency.Solvers.Caso.CasoOptions { Kind = Saliency.Solvers.Caso.CasoObjectiveKind.Cafo } }),
            _ => throw new ArgumentException($"unknown method '{method}'"),
        };
        if (args.Length > 3 && args[3] == "split")
        {
            // Optional: the first forward and Jacobian runs alone (explanation 1 is then no longer fully cold).
            Lap();
            int predicted = classifier.Predict(image).PredictedClass();
            Add("first Predict (forward run)");
            classifier.Jacobian(image, [predicted]);
            Add("first Jacobian column run");
            classifier.Jacobian(image);
            Add("first all-class Jacobian run");
        }
        var times = new double[repeats];
        Lap();
        for (int i = 0; i < repeats; i++)
        {
            explainer.Explain(classifier, image);
            var (ms, jitMs, n) = Step();
            times[i] = ms;
            if (i == 0) rows.Add(($"explanation 1 ({method}, cold)", ms, jitMs, n));
            if (i == 1) rows.Add(("explanation 2", ms, jitMs, n));
        }
        if (repeats > 2) rows.Add(($"explanation median of 2..{repeats} (warm)", Median(times[1..]), double.NaN, 0));
        Console.WriteLine($"{"step",-60} {"wall ms",9} {"JIT ms",9} {"methods",8}");
        foreach (var (step, ms, jitMs, n) in rows)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{step,-60} {ms,9:0.0} {jitMs,9:0.0} {n,8}"));
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
