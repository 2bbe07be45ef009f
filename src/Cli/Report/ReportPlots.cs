using System.Text;
using ScottPlot;

namespace Saliency.Cli.Report;

/// <summary>The report's plots, drawn with ScottPlot and written as standalone SVG documents.</summary>
internal static class ReportPlots
{
    public const int Width = 640;
    public const int Height = 340;

    /// <summary>
    /// The font of every plot. The Skia build used here (NoDependencies) has no fontconfig, so without a registered file
    /// ScottPlot would draw no text at all; Debian's fonts-dejavu-core (tools/setup.sh) provides this one.
    /// </summary>
    private const string FontFile = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

    private const string FontName = "DejaVu Sans";

    private static readonly bool HasFont = RegisterFont();

    private static bool RegisterFont()
    {
        if (!File.Exists(FontFile)) return false;
        Fonts.AddFontFile(FontName, FontFile, bold: false, italic: false);
        return true;
    }

    /// <summary>One named series of (x, y) points.</summary>
    public sealed record Series(string Name, double[] X, double[] Y);

    /// <summary>Lines (with markers) of several series; NaN points are left out of a series.</summary>
    public static byte[] Lines(string title, string xLabel, string yLabel, IEnumerable<Series> series, bool markersOnly = false, double? xStep = null)
    {
        var plot = new Plot();
        if (HasFont) plot.Font.Set(FontName);
        int count = 0;
        foreach (var s in series)
        {
            var keep = Enumerable.Range(0, s.X.Length).Where(i => double.IsFinite(s.X[i]) && double.IsFinite(s.Y[i])).ToArray();
            if (keep.Length == 0) continue;
            var xs = keep.Select(i => s.X[i]).ToArray();
            var ys = keep.Select(i => s.Y[i]).ToArray();
            var scatter = plot.Add.Scatter(xs, ys, plot.Add.Palette.GetColor(count++));
            scatter.LegendText = s.Name;
            scatter.MarkerSize = markersOnly ? 6 : 4;
            scatter.LineWidth = markersOnly ? 0 : 1.5f;
        }
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        // Outside the data area, on the right: inside, a legend of 13 methods hides the curves.
        if (count > 0) plot.ShowLegend(Edge.Right);
        // Whole-number steps (the sanity check's k) get ticks at whole numbers only.
        if (xStep is double step) plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(step);
        return Encoding.UTF8.GetBytes(plot.GetSvgXml(Width, Height));
    }
}
