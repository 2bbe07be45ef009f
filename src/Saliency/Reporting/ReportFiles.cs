using System.Text.Json;
using System.Text.Json.Serialization;
using Saliency.Evaluation;
using Saliency.Models.IO;

namespace Saliency.Reporting;

/// <summary>A report folder or <c>report.json</c> that cannot be read: missing, malformed, or of another schema.</summary>
public sealed class ReportFormatException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The data files of a report folder: <c>report.json</c> (every raw number, each map's values included) and one NumPy
/// <c>.npy</c> per input image and map, at the paths the rows name. Every file goes through <see cref="AtomicFile"/>.
/// </summary>
public static class ReportFiles
{
    /// <summary>The JSON file's name in a report folder.</summary>
    public const string JsonName = "report.json";

    /// <summary>camelCase names; NaN and ±∞ as the literals "NaN", "Infinity" (ρ is NaN for constant maps); enums by name.
    /// Floats are written in their shortest round-trip form, so values read back are bit-identical.</summary>
    public static JsonSerializerOptions JsonOptions { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        PropertyNameCaseInsensitive = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>Writes the .npy files and then <c>report.json</c> into <paramref name="folder"/> (created if needed).</summary>
    public static void Write(string folder, ReportDocument document)
    {
        ArgumentNullException.ThrowIfNull(document);
        foreach (var image in document.Images)
            WriteNpy(folder, image.File, Npy.Encode(image.Pixels, image.Shape));
        foreach (var map in document.Maps.Concat(document.SanityMaps))
            WriteNpy(folder, map.File, Npy.Encode(map.Values, map.Shape));
        AtomicFile.WriteAllBytes(Path.Combine(Directory.CreateDirectory(folder).FullName, JsonName), Serialize(document));
    }

    /// <summary>The document as UTF-8 JSON.</summary>
    public static byte[] Serialize(ReportDocument document) => JsonSerializer.SerializeToUtf8Bytes(document, JsonOptions);

    /// <summary>Reads <c>report.json</c> from a report folder.</summary>
    /// <exception cref="ReportFormatException">No such file, malformed JSON, or another schema.</exception>
    public static ReportDocument Read(string folder)
    {
        string path = Path.Combine(folder, JsonName);
        if (!File.Exists(path)) throw new ReportFormatException($"{path} does not exist; is '{folder}' a report folder?");
        ReportDocument? document;
        try
        {
            document = JsonSerializer.Deserialize<ReportDocument>(File.ReadAllBytes(path), JsonOptions);
        }
        catch (JsonException e)
        {
            throw new ReportFormatException($"{path} is not a valid report: {e.Message}", e);
        }
        if (document is null || document.Schema != ReportDocument.CurrentSchema)
            throw new ReportFormatException($"{path} has schema '{document?.Schema}'; this version reads '{ReportDocument.CurrentSchema}'.");
        return document;
    }

    private static void WriteNpy(string folder, string relative, byte[] bytes)
    {
        string path = Path.GetFullPath(Path.Combine(folder, relative));
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        AtomicFile.WriteAllBytes(path, bytes);
    }
}

/// <summary>Joins the documents of <c>--shard i/N</c> runs into the document one run over the whole data set gives.</summary>
public static class ReportMerge
{
    /// <summary>
    /// Checks that the documents are shards 0…N−1 of one run (same N, same parameters, each shard once), concatenates
    /// their rows in data-set order and recomputes the summary. Timings are summed; versions are the first shard's.
    /// </summary>
    /// <exception cref="EvaluationInputException">The documents are not the complete shards of one run.</exception>
    public static ReportDocument Merge(IReadOnlyList<ReportDocument> shards)
    {
        ArgumentNullException.ThrowIfNull(shards);
        if (shards.Count == 0) throw new EvaluationInputException("Give at least one shard to merge.", nameof(shards));
        if (shards.Any(s => s.Shard is null)) throw new EvaluationInputException("A document to merge is not a shard (it has no 'shard' entry).", nameof(shards));
        int n = shards[0].Shard!.Count;
        var ordered = shards.OrderBy(s => s.Shard!.Index).ToArray();
        if (ordered.Any(s => s.Shard!.Count != n) || ordered.Select(s => s.Shard!.Index).Distinct().Count() != shards.Count || shards.Count != n)
            throw new EvaluationInputException(
                $"Got shards {string.Join(", ", ordered.Select(s => $"{s.Shard!.Index}/{s.Shard.Count}"))}; a merge needs each of 0/{n} … {n - 1}/{n} once.", nameof(shards));
        string parameters = JsonSerializer.Serialize(ordered[0].Parameters, ReportFiles.JsonOptions);
        foreach (var s in ordered.Skip(1))
            if (JsonSerializer.Serialize(s.Parameters, ReportFiles.JsonOptions) != parameters)
                throw new EvaluationInputException($"Shard {s.Shard!.Index}/{n} was run with other parameters (model, data set, methods or settings) than shard {ordered[0].Shard!.Index}/{n}.", nameof(shards));

        static IReadOnlyDictionary<string, double> Sum(IEnumerable<IReadOnlyDictionary<string, double>> parts)
        {
            var sum = new Dictionary<string, double>();
            foreach (var part in parts)
                foreach (var (key, value) in part) sum[key] = sum.GetValueOrDefault(key) + value;
            return sum;
        }

        var merged = new ReportDocument
        {
            Partial = ordered.Any(s => s.Partial),
            Shard = null,
            MergedShards = n,
            Parameters = ordered[0].Parameters,
            Versions = ordered[0].Versions,
            Timings = new ReportTimings { Stages = Sum(ordered.Select(s => s.Timings.Stages)), Methods = Sum(ordered.Select(s => s.Timings.Methods)) },
            Images = ordered.SelectMany(s => s.Images).ToArray(),
            Maps = ordered.SelectMany(s => s.Maps).ToArray(),
            SanityLayers = ordered[0].SanityLayers,
            Sanity = ordered.SelectMany(s => s.Sanity).ToArray(),
            SanityMaps = ordered.SelectMany(s => s.SanityMaps).ToArray(),
            Sensitivity = ordered.SelectMany(s => s.Sensitivity).ToArray(),
            CasoVersusCafo = ordered.SelectMany(s => s.CasoVersusCafo).ToArray(),
            RankOne = ordered.SelectMany(s => s.RankOne).ToArray(),
            Sweep = ordered.Select(s => s.Sweep).FirstOrDefault(s => s is not null),
        };
        return merged with { Summary = ReportSummaries.Compute(merged) };
    }
}
