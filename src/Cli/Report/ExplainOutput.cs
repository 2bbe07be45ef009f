using System.Text.Json;
using Saliency.Explainers;
using Saliency.Imaging;
using Saliency.Models.IO;
using Saliency.Reporting;

namespace Saliency.Cli.Report;

/// <summary>
/// <c>explain --format png|npy|json</c>: the map as the coloured PNG, as a NumPy .npy of the signed values [C, H, W]
/// (float32, <see cref="Npy"/>), or as JSON with the values and the method's report. Written through
/// <see cref="AtomicFile"/>.
/// </summary>
internal static class ExplainOutput
{
    /// <summary>The formats, as <c>--format</c> accepts them.</summary>
    public static readonly string[] Formats = ["png", "npy", "json"];

    /// <summary>Writes <paramref name="explanation"/> to <paramref name="path"/> in <paramref name="format"/>.</summary>
    public static void Write(string format, string path, Explanation explanation, string source, ImageBuffer png)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var map = explanation.Map;
        int[] shape = [map.Channels, map.Height, map.Width];
        switch (format)
        {
            case "npy":
                AtomicFile.WriteAllBytes(path, Npy.Encode(map.Values, shape));
                break;
            case "json":
                var p = explanation.Scores.ProbabilitiesOf(0);
                AtomicFile.WriteAllBytes(path, JsonSerializer.SerializeToUtf8Bytes(new
                {
                    method = explanation.Method,
                    image = source,
                    target = explanation.Target,
                    predictedClass = explanation.PredictedClass,
                    probabilities = p.ToArray(),
                    report = explanation.Details.ToDictionary(kv => kv.Key, kv => kv.Value),
                    shape,
                    values = map.Values,
                }, ReportFiles.JsonOptions));
                break;
            default:
                ImageCodec.WritePng(path, png);
                break;
        }
    }

    /// <summary>What the summary's "written" row says about the file.</summary>
    public static string Describe(string format, Explanation explanation, ImageBuffer png) => format == "png"
        ? $"{png.Width}×{png.Height}"
        : $"{format}, {explanation.Map.Channels}×{explanation.Map.Height}×{explanation.Map.Width} values";
}
