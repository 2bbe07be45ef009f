using System.Globalization;
using System.Net;
using System.Text;
using Saliency.Evaluation;
using Saliency.Explainers;
using Saliency.Imaging;
using Saliency.Models.IO;
using Saliency.Reporting;

namespace Saliency.Cli.Report;

/// <summary>
/// Writes a report folder: the data files (<see cref="ReportFiles"/>: report.json and the .npy maps), then PNG pictures
/// and SVG plots under assets/, then index.html — static and self-contained (no script, no external resource), every
/// file through <see cref="AtomicFile"/>. The page's sections have fixed ids (<see cref="Sections"/>) that the browser
/// test looks for; docs/report.md describes the layout.
/// </summary>
internal static class HtmlReport
{
    /// <summary>The ids of index.html's sections, in page order.</summary>
    public static readonly string[] Sections = ["summary", "images", "maps", "sanity", "sensitivity", "caso", "parameters", "versions", "timings", "files"];

    /// <summary>Side, in pixels, that map and image PNGs are enlarged to at least (nearest neighbour, whole multiples).</summary>
    private const int PictureSide = 112;

    /// <summary>Writes the whole report folder for <paramref name="document"/>; shows the maps of its first <paramref name="shown"/> images.</summary>
    public static string Write(string folder, ReportDocument document, int shown = 3)
    {
        folder = Path.GetFullPath(folder);
        Directory.CreateDirectory(Path.Combine(folder, "assets"));
        ReportFiles.Write(folder, document);
        var html = new Page(folder, document, shown).Render();
        string index = Path.Combine(folder, "index.html");
        AtomicFile.WriteAllBytes(index, Encoding.UTF8.GetBytes(html));
        return index;
    }

    private sealed class Page(string folder, ReportDocument d, int shown)
    {
        private readonly StringBuilder html = new();
        private readonly Dictionary<int, ReportImage> images = d.Images.ToDictionary(i => i.Index);

        public string Render()
        {
            var p = d.Parameters;
            string title = $"Saliency report: {p.Model}";
            html.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
                .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
                .Append($"<title>{E(title)}</title>\n<style>\n{Css}\n</style>\n</head>\n<body>\n");
            html.Append($"<h1>{E(title)}</h1>\n");
            Summary();
            Images();
            Maps();
            Sanity();
            SensitivitySection();
            Caso();
            Parameters();
            Versions();
            Timings();
            Files();
            html.Append("</body>\n</html>\n");
            return html.ToString();
        }

        private void Summary()
        {
            Open("summary", "Summary");
            if (d.Partial)
                html.Append("<p class=\"partial\" id=\"partial\"><strong>Partial report:</strong> the run was cancelled; only the ")
                    .Append(d.Images.Count).Append(" image(s) finished before the cancellation are included, each complete.</p>\n");
            var p = d.Parameters;
            string scope = d.Shard is { } s ? $"shard {s.Index}/{s.Count}: images {s.Start}…{s.End - 1} of {p.DataSetSize}"
                : d.MergedShards > 0 ? $"merged from {d.MergedShards} shards" : "single run";
            Table(["", ""], [
                ["status", d.Partial ? "partial" : "complete"],
                ["model", $"{p.Model} (input [{string.Join(", ", p.InputShape)}], {p.Classes} classes, SHA-256 {p.ModelSha256[..Math.Min(12, p.ModelSha256.Length)]}…)"],
                ["data set", p.DataSet],
                ["images in this report", $"{d.Images.Count} of {p.DataSetSize} ({scope})"],
                ["methods", string.Join(", ", p.Methods)],
                ["accuracy (labelled images)", Accuracy()],
            ], showHeader: false);
            Close();
        }

        private string Accuracy()
        {
            var labelled = d.Images.Where(i => i.Label is not null).ToArray();
            return labelled.Length == 0 ? "no labels"
                : F($"{labelled.Count(i => i.Label == i.Predicted)}/{labelled.Length}");
        }

        private void Images()
        {
            Open("images", "Images");
            html.Append("<p>The model's input pictures (first ").Append(Math.Min(shown, d.Images.Count)).Append(" images), with the class explained.</p>\n<div class=\"row\">\n");
            foreach (var image in d.Images.Take(shown))
            {
                string file = Asset($"image-{image.Index:D5}.png", ImageCodec.EncodePng(Picture(image)));
                Figure(file, F($"image {image.Index}: {image.Source}; label {(image.Label?.ToString(CultureInfo.InvariantCulture) ?? "—")}, predicted {image.Predicted} (p = {image.Probabilities[image.Predicted]:0.0000})"));
            }
            html.Append("</div>\n");
            Close();
        }

        private void Maps()
        {
            Open("maps", "Maps");
            html.Append("<p>Each method's map of the predicted class (|·| summed over channels, capped at the 99th percentile, hot colour map), ")
                .Append("and the same map over the picture (opacity 0.5). Raw values: the .npy files under maps/ and <code>maps</code> in report.json.</p>\n");
            foreach (var image in d.Images.Take(shown))
            {
                html.Append(F($"<h3>Image {image.Index} (class {image.Target})</h3>\n<div class=\"grid\">\n"));
                foreach (var method in d.Parameters.Methods)
                {
                    var map = d.Maps.FirstOrDefault(m => m.Image == image.Index && m.Method == method && m.Depth == 0);
                    if (map is null) continue;
                    string mapFile = Asset($"map-{image.Index:D5}-{method}.png", ImageCodec.EncodePng(MapPicture(map)));
                    string overlayFile = Asset($"overlay-{image.Index:D5}-{method}.png", ImageCodec.EncodePng(Overlay(image, map)));
                    html.Append("<figure class=\"map\">")
                        .Append($"<img src=\"{E(mapFile)}\" alt=\"{E(method)} map\"><img src=\"{E(overlayFile)}\" alt=\"{E(method)} over the picture\">")
                        .Append($"<figcaption><b>{E(method)}</b> {E(Brief(map))}</figcaption></figure>\n");
                }
                html.Append("</div>\n");
            }
            Close();
        }

        private void Sanity()
        {
            Open("sanity", "Sanity check: cascading randomization");
            html.Append("<p>Adebayo et al. (2018), as the LEG paper runs it: the model's layers are re-drawn from the logits down (step k re-draws the top k), ")
                .Append("and each map is compared with the original one by Spearman ρ (signed and |·|) and SSIM. A map that stays similar does not depend on the weights.</p>\n");
            if (d.Sanity.Count == 0)
            {
                html.Append("<p>No sanity check in this report (no image with index below the sanity count).</p>\n");
                Close();
                return;
            }
            int first = d.Sanity.Min(r => r.Image);
            int depth = d.SanityLayers.Count;
            html.Append(F($"<h3>Grid: image {first}</h3>\n<table class=\"sanity\"><tr><th>method</th><th>original</th>"));
            for (int k = 1; k <= depth; k++) html.Append($"<th>step {k}<br><small>{E(d.SanityLayers[k - 1])}</small></th>");
            html.Append("</tr>\n");
            foreach (var method in d.Parameters.Methods)
            {
                html.Append($"<tr><th>{E(method)}</th>");
                for (int k = 0; k <= depth; k++)
                {
                    var map = k == 0
                        ? d.Maps.FirstOrDefault(m => m.Image == first && m.Method == method)
                        : d.SanityMaps.FirstOrDefault(m => m.Image == first && m.Method == method && m.Depth == k);
                    var row = d.Sanity.FirstOrDefault(r => r.Image == first && r.Method == method && r.Depth == k);
                    if (map is null) { html.Append("<td></td>"); continue; }
                    string file = Asset($"sanity-{first:D5}-{method}-step{k}.png", ImageCodec.EncodePng(MapPicture(map, 64)));
                    html.Append($"<td><img src=\"{E(file)}\" alt=\"{E(method)} step {k}\">")
                        .Append(row is null ? "" : F($"<br><small>ρ|·| {N(row.SpearmanAbsolute)} · SSIM {N(row.Ssim)}</small>")).Append("</td>");
                }
                html.Append("</tr>\n");
            }
            html.Append("</table>\n");
            var summary = d.Summary.Sanity;
            var steps = Enumerable.Range(0, depth + 1).Select(k => (double)k).ToArray();
            IEnumerable<ReportPlots.Series> Curve(Func<SanityCheckSummary, double> value) => d.Parameters.Methods.Select(m =>
                new ReportPlots.Series(m, steps, steps.Select(k => summary.FirstOrDefault(s => s.Method == m && s.Depth == (int)k) is { } s ? value(s) : double.NaN).ToArray()));
            html.Append(F($"<p>Means over {summary.Select(s => s.Images).DefaultIfEmpty(0).Max()} image(s); ρ is undefined (left out) where a map is constant.</p>\n<div class=\"row\">\n"));
            Plot("sanity-spearman-abs.svg", ReportPlots.Lines("Spearman ρ of |map| vs original", "randomization step k", "ρ (|·|)", Curve(s => s.SpearmanAbsolute), xStep: 1), "Spearman ρ, absolute values");
            Plot("sanity-spearman-signed.svg", ReportPlots.Lines("Spearman ρ of signed map vs original", "randomization step k", "ρ (signed)", Curve(s => s.SpearmanSigned), xStep: 1), "Spearman ρ, signed values");
            Plot("sanity-ssim.svg", ReportPlots.Lines("SSIM vs original", "randomization step k", "SSIM", Curve(s => s.Ssim), xStep: 1), "SSIM");
            html.Append("</div>\n");
            Table(["method", "step", "images", "ρ signed", "ρ |·|", "undefined ρ", "SSIM", "mean max|map|", "zero maps"],
                summary.Select(s => new[] { s.Method, I(s.Depth), I(s.Images), N(s.SpearmanSigned), N(s.SpearmanAbsolute), I(s.UndefinedCorrelations), N(s.Ssim), N(s.MaxAbs), I(s.ZeroMaps) }));
            Close();
        }

        private void SensitivitySection()
        {
            Open("sensitivity", "Sensitivity, deletion and insertion");
            var p = d.Parameters;
            html.Append(F($"<p>LEG paper §5.2 and RISE (Petsiuk et al. 2018): the image is cut into {p.CellSize}×{p.CellSize}-pixel cells, ranked by Σ|map|; "))
                .Append($"deletion replaces the top-k cells by the canvas ({E(p.DeletionFill)}), insertion puts them back on the canvas ({E(p.InsertionFill)}). ")
                .Append("Curves and areas (trapezoid / K) are means over the images; a low deletion AUC and a high insertion AUC are better.</p>\n<div class=\"row\">\n");
            var summary = d.Summary.Sensitivity.Where(s => s.Images > 0).ToArray();
            ReportPlots.Series S(SensitivitySummary s, double[] y) => new(s.Method, Enumerable.Range(0, y.Length).Select(k => (double)k).ToArray(), y);
            Plot("sensitivity-logodds.svg", ReportPlots.Lines("Deletion: log-odds of the class", "cells masked k", "log(p/(1−p))", summary.Select(s => S(s, s.DeletionLogOdds))), "Sensitivity (log-odds)");
            Plot("deletion.svg", ReportPlots.Lines("Deletion: p of the class", "cells masked k", "p", summary.Select(s => S(s, s.DeletionProbabilities))), "Deletion");
            Plot("insertion.svg", ReportPlots.Lines("Insertion: p of the class", "cells inserted k", "p", summary.Select(s => S(s, s.InsertionProbabilities))), "Insertion");
            html.Append("</div>\n");
            Table(["method", "images", "log-odds AUC (deletion)", "deletion AUC (p)", "insertion AUC (p)"],
                summary.OrderBy(s => s.DeletionLogOddsAuc).Select(s => new[] { s.Method, I(s.Images), N(s.DeletionLogOddsAuc), N(s.DeletionAuc), N(s.InsertionAuc) }));
            Close();
        }

        private void Caso()
        {
            Open("caso", "CASO diagnostics");
            var rows = d.CasoVersusCafo;
            html.Append(F($"<p>Singla et al. (2019). Theorem 5: CASO and CAFO (same λ1 = {(rows.Count > 0 ? N(rows[0].Lambda1) : "—")}, same λ2) align as the confidence p_y grows; "))
                .Append(F($"Spearman ρ(p_y, cosine) over {rows.Count(r => double.IsFinite(r.Cosine))} image(s) = <b>{N(d.Summary.ConfidenceCosineSpearman)}</b>. "))
                .Append(F($"Theorem 4: the Hessian is close to rank one, H ≈ ggᵀ/κ; mean relative error ‖H − ggᵀ/κ‖_F/‖H‖_F = <b>{N(d.Summary.MeanRankOneError)}</b>.</p>\n<div class=\"row\">\n"));
            Plot("caso-cosine.svg", ReportPlots.Lines("cos(CASO, CAFO) vs confidence", "p_y", "cosine",
                [new ReportPlots.Series("images", rows.Select(r => r.Confidence).ToArray(), rows.Select(r => r.Cosine).ToArray())], markersOnly: true), "Theorem 5");
            Plot("rank-one.svg", ReportPlots.Lines("Rank-one relative error vs confidence", "p_y", "‖H − ggᵀ/κ‖_F / ‖H‖_F", [
                new ReportPlots.Series("ggᵀ/κ", d.RankOne.Select(r => r.Confidence).ToArray(), d.RankOne.Select(r => r.RelativeError).ToArray()),
                new ReportPlots.Series("best rank one", d.RankOne.Select(r => r.Confidence).ToArray(), d.RankOne.Select(r => r.BestRankOneRelativeError).ToArray()),
            ], markersOnly: true), "Theorem 4");
            if (d.Sweep is { } sweep)
                Plot("sweep-path.svg", ReportPlots.Lines(F($"λ1 sweep path, image {sweep.Image}"), "sparsity η", "modelled loss", [
                    new ReportPlots.Series("CASO", sweep.Caso.Select(q => q.SparsityRatio).ToArray(), sweep.Caso.Select(q => q.Loss).ToArray()),
                    new ReportPlots.Series("CAFO", sweep.Cafo.Select(q => q.SparsityRatio).ToArray(), sweep.Cafo.Select(q => q.Loss).ToArray()),
                ]), "λ1 sweep path");
            html.Append("</div>\n");
            if (d.Sweep is { } s2)
            {
                html.Append(F($"<h3>λ1 sweep path (image {s2.Image}, class {s2.Target}, p = {N(s2.Confidence)})</h3>\n"));
                Table(["objective", "λ1", "η", "non-zero", "loss", "FISTA", "stage", ""],
                    s2.Caso.Select(q => ("CASO", q)).Concat(s2.Cafo.Select(q => ("CAFO", q))).Select(t => new[]
                    {
                        t.Item1, N(t.q.Lambda1), F($"{t.q.SparsityRatio:0.0000}"), I(t.q.NonZeros), N(t.q.Loss), F($"{t.q.Iterations} it, {t.q.Status}"),
                        F($"{t.q.Phase} {t.q.Round}"), t.q.Selected ? "← chosen" : t.q.InRange ? "in range" : "",
                    }));
            }
            html.Append("<h3>Per image</h3>\n");
            Table(["image", "class", "p_y", "cos(CASO, CAFO)", "‖Δ_CASO − Δ_CAFO‖/‖Δ_CAFO‖", "rank-one error", "best rank-one", "converged"],
                rows.Select(r =>
                {
                    var one = d.RankOne.FirstOrDefault(o => o.Index == r.Index);
                    return new[] { I(r.Index), I(r.Target), N(r.Confidence), N(r.Cosine), N(r.RelativeDifference), N(one?.RelativeError ?? double.NaN),
                        N(one?.BestRankOneRelativeError ?? double.NaN), r.Converged ? "yes" : "no" };
                }));
            Close();
        }

        private void Parameters()
        {
            Open("parameters", "Parameters");
            var p = d.Parameters;
            var rows = new List<string[]>
            {
                new[] { "seed (per image: seed + index·0x9E3779B97F4A7C15)", p.Seed.ToString(CultureInfo.InvariantCulture) },
                new[] { "sanity check", F($"images with index < {p.SanityImages}; depth {(p.SanityDepth?.ToString(CultureInfo.InvariantCulture) ?? "all layers")}; weight seed {p.SanitySeed}") },
                new[] { "masking cells", F($"{p.CellSize}×{p.CellSize} px") },
                new[] { "deletion canvas", p.DeletionFill },
                new[] { "insertion canvas", p.InsertionFill },
                new[] { "λ1 sweep image", I(p.SweepImage) },
            };
            rows.AddRange(p.MethodSettings.Select(kv => new[] { kv.Key, kv.Value }));
            Table(["parameter", "value"], rows);
            html.Append("<h3>Method reports (first image)</h3>\n");
            int? firstImage = d.Images.Count > 0 ? d.Images[0].Index : null;
            Table(["method", "report"], d.Maps.Where(m => m.Image == firstImage && m.Depth == 0)
                .Select(m => new[] { m.Method, string.Join("; ", m.Details.Select(kv => $"{kv.Key}: {kv.Value}")) }));
            Close();
        }

        private void Versions()
        {
            Open("versions", "Versions");
            Table(["component", "version"], d.Versions.Select(kv => new[] { kv.Key, kv.Value }));
            Close();
        }

        private void Timings()
        {
            Open("timings", "Timings");
            html.Append("<p>Wall-clock seconds (summed over shards for a merged report).</p>\n");
            Table(["stage", "seconds"], d.Timings.Stages.Select(kv => new[] { kv.Key, F($"{kv.Value:0.00}") }));
            int images = Math.Max(1, d.Images.Count);
            Table(["method", "explain seconds (all images)", "per image"], d.Timings.Methods.Select(kv => new[] { kv.Key, F($"{kv.Value:0.00}"), F($"{kv.Value / images:0.000}") }));
            Close();
        }

        private void Files()
        {
            Open("files", "Data files");
            html.Append($"<p><a href=\"{ReportFiles.JsonName}\">{ReportFiles.JsonName}</a> holds every number above and each map's values; ")
                .Append("each map and input image is also a NumPy .npy file (<code>numpy.load(\"maps/image-00000-caso.npy\")</code>): ")
                .Append("images/, maps/ and sanity/ (the randomized models' maps).</p>\n<ul>\n");
            foreach (var file in d.Images.Select(i => i.File).Concat(d.Maps.Select(m => m.File)).Take(12))
                html.Append($"<li><a href=\"{E(file)}\">{E(file)}</a></li>\n");
            html.Append(F($"<li>… {d.Images.Count + d.Maps.Count + d.SanityMaps.Count} .npy files in all</li>\n</ul>\n"));
            Close();
        }

        private void Open(string id, string heading) => html.Append($"<section id=\"{id}\">\n<h2>{E(heading)}</h2>\n");

        private void Close() => html.Append("</section>\n");

        private void Figure(string file, string caption) =>
            html.Append($"<figure><img src=\"{E(file)}\" alt=\"{E(caption)}\"><figcaption>{E(caption)}</figcaption></figure>\n");

        private void Plot(string name, byte[] svg, string caption) => Figure(Asset(name, svg), caption);

        private void Table(string[] header, IEnumerable<string[]> rows, bool showHeader = true)
        {
            html.Append("<table>");
            if (showHeader) html.Append("<tr>").AppendJoin("", header.Select(h => $"<th>{E(h)}</th>")).Append("</tr>");
            foreach (var row in rows) html.Append("<tr>").AppendJoin("", row.Select(c => $"<td>{E(c)}</td>")).Append("</tr>");
            html.Append("</table>\n");
        }

        private string Asset(string name, byte[] bytes)
        {
            AtomicFile.WriteAllBytes(Path.Combine(folder, "assets", name), bytes);
            return "assets/" + name;
        }

        private static string Brief(ReportMap map)
        {
            var interesting = map.Details.Where(kv => kv.Key is "sparsity η" or "λ1" or "completeness gap" or "constant regions" or "status").Take(2);
            return string.Join("; ", interesting.Select(kv => $"{kv.Key} {kv.Value}"));
        }

        /// <summary>The input as the model saw it: gray, or RGB from the planar channels.</summary>
        private static ImageBuffer Picture(ReportImage image, int side = PictureSide)
        {
            int c = image.Shape[0], h = image.Shape[1], w = image.Shape[2];
            int scale = Math.Max(1, (side + Math.Max(h, w) - 1) / Math.Max(h, w));
            ImageBuffer picture;
            if (c == 3)
            {
                var interleaved = new float[h * w * 3];
                for (int ch = 0; ch < 3; ch++)
                    for (int i = 0; i < h * w; i++) interleaved[3 * i + ch] = Math.Clamp(image.Pixels[ch * h * w + i], 0f, 1f);
                picture = ImageBuffer.FromFloats(w, h, PixelFormat.Rgb, interleaved);
            }
            else
                picture = ImageBuffer.FromFloats(w, h, PixelFormat.Gray, image.Pixels.AsSpan(0, h * w).ToArray().Select(v => Math.Clamp(v, 0f, 1f)).ToArray());
            return scale == 1 ? picture : ImageTransforms.Resize(picture, w * scale, h * scale, ResizeFilter.Nearest);
        }

        private static ImageBuffer MapPicture(ReportMap map, int side = PictureSide)
        {
            var s = new SaliencyMap(map.Values, map.Shape[0], map.Shape[1], map.Shape[2]);
            int scale = Math.Max(1, (side + Math.Max(s.Height, s.Width) - 1) / Math.Max(s.Height, s.Width));
            return MapRenderer.RenderColor(s.Normalized, s.Width, s.Height, ColorMap.Hot, 0f, 1f, scale);
        }

        private static ImageBuffer Overlay(ReportImage image, ReportMap map)
        {
            var s = new SaliencyMap(map.Values, map.Shape[0], map.Shape[1], map.Shape[2]);
            return MapRenderer.Overlay(Picture(image), s.Normalized, s.Width, s.Height, 0.5f);
        }

        private static string E(string s) => WebUtility.HtmlEncode(s);

        private static string I(int v) => v.ToString(CultureInfo.InvariantCulture);

        private static string N(double v) => double.IsNaN(v) ? "n/a" : v.ToString("G4", CultureInfo.InvariantCulture);

        private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
    }

    private const string Css = """
        body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1400px; color: #222; padding: 0 1em; }
        h1 { font-size: 1.5em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 1.6em; } h3 { font-size: 1.05em; }
        table { border-collapse: collapse; margin: .6em 0; font-size: .9em; }
        th, td { border: 1px solid #ddd; padding: .25em .5em; text-align: left; vertical-align: top; }
        .row { display: flex; flex-wrap: wrap; gap: 1em; }
        .grid { display: flex; flex-wrap: wrap; gap: .8em; }
        figure { margin: 0; } figcaption { font-size: .8em; max-width: 260px; }
        figure.map img { width: 112px; height: 112px; image-rendering: pixelated; margin-right: 2px; }
        table.sanity img { width: 64px; height: 64px; image-rendering: pixelated; }
        .partial { background: #fde2e1; border: 1px solid #d9534f; padding: .6em; }
        """;
}
