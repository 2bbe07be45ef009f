using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Saliency.Explainers;
using Saliency.Models.Classifiers;
using Saliency.Solvers.Caso;
using Saliency.Solvers.Leg;

namespace Saliency.Bench.EndToEnd;

/// <summary>
/// End-to-end time per image on a 224×224×3 model (issue 13 item 2), one method per process so that the peak RSS
/// (VmHWM of /proc/self/status) belongs to that method alone:
/// <c>dotnet Saliency.Bench.dll e2e MODEL.onnx IMAGE.f32 METHOD [key=value ...] </c>, METHOD one of
/// <c>caso</c>, <c>cafo</c>, <c>leg</c>, <c>legtv</c>; keys <c>k</c> (top-k classes, 0 = all), <c>chunk</c> (classes per
/// Jacobian run when all are kept, default 32), <c>lambda1</c> (fixed λ1; absent = the
/// sweep), <c>iters</c> (FISTA iteration cap; tolerance 0 makes it exact), <c>n</c> (LEG evaluations), <c>batch</c>,
/// <c>repeats</c> (explanations after the first, cold one), <c>map</c> (path for the float32 map), <c>threads</c>
/// (ONNX Runtime intra-op threads, default 0 = one per physical core), <c>profile</c> (ONNX Runtime profile path prefix). The phases come from the
/// explainers' own Stopwatch timings (<see cref="CasoTimings"/>, <see cref="LegTimings"/>); one JSON line per
/// explanation goes to stdout. Stopwatch, not BenchmarkDotNet: one ResNet-50 LEG run takes minutes on 2 cores.
/// </summary>
internal static class EndToEndRun
{
    public static int Run(string[] args)
    {
        if (args.Length < 4) throw new ArgumentException("usage: e2e MODEL.onnx IMAGE.f32 caso|cafo|leg|legtv [key=value ...]");
        string modelPath = args[1], imagePath = args[2], method = args[3];
        var kv = args.Skip(4).Select(a => a.Split('=', 2)).ToDictionary(a => a[0], a => a[1]);
        double? Num(string key) => kv.TryGetValue(key, out var v) ? double.Parse(v, CultureInfo.InvariantCulture) : null;

        var bytes = File.ReadAllBytes(imagePath);
        var image = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, image, 0, bytes.Length);
        var sw = Stopwatch.StartNew();
        // ONNX Runtime threads inside an operator: 0 = its own choice (one per physical core), the peers' setting
        // (PyTorch with all cores); the library's default of 1 suits many concurrent small requests, not one large one.
        int threads = (int)(Num("threads") ?? 0);
        using var classifier = OnnxClassifier.Create(modelPath, new Saliency.Models.Runtime.InferenceSessionOptions
        {
            IntraOpThreads = threads,
            ProfilePathPrefix = kv.GetValueOrDefault("profile"),
        });
        double createMs = sw.Elapsed.TotalMilliseconds;
        long rssAfterLoad = Status("VmRSS");

        IExplainer explainer = method switch
        {
            "caso" or "cafo" => new CasoExplainer(new CasoExplainerOptions
            {
                TopClasses = Num("k") is double k && k > 0 ? (int)k : null,
                JacobianChunk = (int)(Num("chunk") ?? IClassifier.DefaultJacobianChunk),
                Lambda1 = Num("lambda1"),
                Solver = new CasoOptions
                {
                    Kind = method == "caso" ? CasoObjectiveKind.Caso : CasoObjectiveKind.Cafo,
                    MaxIterations = (int)(Num("iters") ?? 1000),
                    Tolerance = Num("iters") is null ? 1e-6 : 0,
                },
            }),
            "leg" or "legtv" => new LegExplainer(new LegExplainerOptions
            {
                TotalVariation = method == "legtv",
                Sampling = new LegOptions
                {
                    SampleCount = (int)(Num("n") ?? 6000),
                    Antithetic = (int)(Num("n") ?? 6000) % 2 == 0,
                    BatchSize = (int)(Num("batch") ?? 50),
                    Seed = 7,
                },
            }),
            _ => throw new ArgumentException($"unknown method '{method}'"),
        };
        int repeats = (int)(Num("repeats") ?? 0);
        for (int r = 0; r <= repeats; r++)
        {
            sw.Restart();
            var e = explainer.Explain(classifier, image);
            double ms = sw.Elapsed.TotalMilliseconds;
            var row = new Dictionary<string, object>
            {
                ["model"] = Path.GetFileNameWithoutExtension(modelPath), ["method"] = method, ["run"] = r == 0 ? "cold" : "warm",
                ["args"] = string.Join(' ', args.Skip(4)), ["threads"] = threads, ["wall_ms"] = ms, ["create_ms"] = createMs, ["target"] = e.Target,
            };
            if (e is CasoExplanation c && c.Timings is { } ct)
            {
                row["phases_ms"] = new Dictionary<string, double>
                {
                    ["forward"] = ct.Forward.TotalMilliseconds, ["jacobian"] = ct.Jacobian.TotalMilliseconds, ["setup"] = ct.Setup.TotalMilliseconds,
                    ["spectrum"] = ct.Spectrum.TotalMilliseconds, ["hvp"] = ct.Hvp.TotalMilliseconds, ["fista"] = ct.Fista.TotalMilliseconds,
                    ["solve"] = ct.Solve.TotalMilliseconds, ["total"] = ct.Total.TotalMilliseconds,
                };
                row["sweep"] = ct.Sweep;
                row["hvp_products"] = ct.HvpProducts;
                row["lambda1"] = c.Result.Lambda1;
                row["lambda2"] = c.Result.Lambda2;
                row["L"] = c.Result.LambdaMax;
                row["fista_iterations"] = c.Result.Iterations;
            }
            if (e is LegExplanation l && l.Timings is { } lt)
            {
                row["phases_ms"] = new Dictionary<string, double>
                {
                    ["predict"] = lt.Predict.TotalMilliseconds, ["sampling"] = lt.Sampling.TotalMilliseconds, ["forward"] = lt.Forward.TotalMilliseconds,
                    ["moments"] = lt.Moments.TotalMilliseconds, ["estimate"] = lt.Estimate.TotalMilliseconds, ["total"] = lt.Total.TotalMilliseconds,
                };
                row["overhead_pct"] = 100 * lt.Overhead / (lt.Forward + lt.Predict);
                row["n"] = l.Moments.SampleCount;
                if (l.Result.Solutions is { } s) row["lp_iterations"] = s.Select(x => x.Iterations).ToArray();
                if (kv.TryGetValue("moments", out var mpath))
                    File.WriteAllBytes(mpath, l.Moments.Y.SelectMany(BitConverter.GetBytes).ToArray());
            }
            row["peak_rss_mb"] = Status("VmHWM") / 1024.0;
            row["rss_after_load_mb"] = rssAfterLoad / 1024.0;
            row["load_avg"] = File.ReadAllText("/proc/loadavg").Split(' ')[0];
            if (kv.TryGetValue("map", out var path))
                File.WriteAllBytes(path, e.Map.Values.SelectMany(BitConverter.GetBytes).ToArray());
            Console.WriteLine(JsonSerializer.Serialize(row));
        }
        return 0;
    }

    /// <summary>A kB field of /proc/self/status (VmHWM = peak resident set, VmRSS = current).</summary>
    private static long Status(string field)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
                return long.Parse(line.AsSpan(field.Length + 1).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);
        return -1;
    }
}
