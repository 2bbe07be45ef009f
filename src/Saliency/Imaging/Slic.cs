namespace Saliency.Imaging;

/// <summary>Settings of <see cref="Slic.Segment"/>.</summary>
public sealed record SlicOptions
{
    /// <summary>K, the desired number of superpixels (the result has about this many: seeds sit on a grid of step S = √(N/K)).</summary>
    public int Segments { get; init; } = 50;

    /// <summary>m, the weight of spatial proximity against colour distance (the paper's range 1–40; 10 as in scikit-image).</summary>
    public double Compactness { get; init; } = 10;

    /// <summary>Iterations of the assignment/update loop (the paper: 10 suffice for most images).</summary>
    public int Iterations { get; init; } = 10;
}

/// <summary>A superpixel segmentation: one label per pixel, 0…Count−1, each label one 4-connected region.</summary>
/// <param name="Labels">Height × Width labels, row-major.</param>
/// <param name="Count">The number of superpixels.</param>
/// <param name="Height">Image height.</param>
/// <param name="Width">Image width.</param>
public sealed record Superpixels(int[] Labels, int Count, int Height, int Width);

/// <summary>
/// SLIC superpixels (Achanta, Shaji, Smith, Lucchi, Fua, Süsstrunk, "SLIC Superpixels Compared to State-of-the-Art
/// Superpixel Methods", TPAMI 34(11), 2012, Algorithm 1): k-means on [l, a, b, x, y] restricted to a 2S×2S window
/// around each centre, with the distance <c>D = √(d_c² + (d_s/S)² m²)</c> (eq. 3), seeds on a grid of step
/// <c>S = √(N/K)</c> moved to the lowest gradient in their 3×3 neighbourhood, then connectivity enforcement.
/// </summary>
/// <remarks>
/// <para>Colour: three channels are taken as sRGB and converted to CIELAB (D65, the paper's space); one channel is
/// intensity scaled to L's range [0, 100]; other channel counts use each channel scaled to [0, 100]. Values must lie
/// in [0, 1]; images outside it (e.g. a model input normalised by a mean and standard deviation) are first rescaled by
/// the image's overall minimum and maximum, which keeps their relative colours.</para>
/// <para>Connectivity (the paper's last step, as in the authors' code <c>EnforceLabelConnectivity</c>): components are
/// relabelled in raster order; a component smaller than N/(4K) pixels joins the label of a 4-neighbour met before it,
/// so every final label is one 4-connected region.</para>
/// </remarks>
public static class Slic
{
    /// <summary>Segments a Channels × Height × Width image (channel-major, row-major).</summary>
    /// <exception cref="ArgumentException">Sizes do not match, a value is not finite, or an option is out of range.</exception>
    public static Superpixels Segment(ReadOnlySpan<float> image, int channels, int height, int width, SlicOptions? options = null)
    {
        options ??= new SlicOptions();
        if (channels < 1 || height < 1 || width < 1)
            throw new ArgumentException($"A {channels}×{height}×{width} image is empty.", nameof(image));
        int n = height * width;
        if (image.Length != (long)channels * n)
            throw new ArgumentException($"A {channels}×{height}×{width} image has {(long)channels * n} values, got {image.Length}.", nameof(image));
        if (options.Segments < 1 || options.Segments > n)
            throw new ArgumentException($"The number of segments must lie in 1..{n} (the pixels), got {options.Segments}.", nameof(options));
        if (!(options.Compactness > 0) || !double.IsFinite(options.Compactness))
            throw new ArgumentException($"The compactness m must be finite and > 0, got {options.Compactness}.", nameof(options));
        if (options.Iterations < 1)
            throw new ArgumentException($"The number of iterations must be ≥ 1, got {options.Iterations}.", nameof(options));
        foreach (float v in image)
            if (!float.IsFinite(v)) throw new ArgumentException("The image has a NaN or infinite value.", nameof(image));

        var (features, dims) = ColourFeatures(image, channels, n);
        double s = Math.Sqrt(n / (double)options.Segments);
        var centres = Seeds(features, dims, height, width, s);
        var labels = Cluster(features, dims, height, width, s, options.Compactness, options.Iterations, centres);
        int count = EnforceConnectivity(labels, height, width, Math.Max(1, n / (4 * options.Segments)));
        return new Superpixels(labels, count, height, width);
    }

    /// <summary>Per-pixel colour features, pixel-major (dims values per pixel): CIELAB, scaled intensity, or scaled channels.</summary>
    private static (double[] Features, int Dims) ColourFeatures(ReadOnlySpan<float> image, int channels, int n)
    {
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        foreach (float v in image) { min = Math.Min(min, v); max = Math.Max(max, v); }
        // Values in [0, 1] are used as they are; otherwise rescale by the image's range (a constant image maps to 0).
        double offset = 0, scale = 1;
        if (min < 0 || max > 1) { offset = min; scale = max > min ? 1.0 / (max - min) : 0; }
        var f = new double[n * channels];
        if (channels == 3)
        {
            for (int i = 0; i < n; i++)
            {
                var (l, a, b) = SrgbToLab((image[i] - offset) * scale, (image[n + i] - offset) * scale, (image[2 * n + i] - offset) * scale);
                (f[3 * i], f[3 * i + 1], f[3 * i + 2]) = (l, a, b);
            }
        }
        else
        {
            for (int c = 0; c < channels; c++)
                for (int i = 0; i < n; i++) f[i * channels + c] = 100 * (image[c * n + i] - offset) * scale;
        }
        return (f, channels);
    }

    /// <summary>sRGB in [0, 1] → CIELAB (IEC 61966-2-1 transfer curve, sRGB→XYZ matrix, D65 white, CIE 1976 L*a*b*).</summary>
    public static (double L, double A, double B) SrgbToLab(double r, double g, double b)
    {
        static double Linear(double c) => c <= 0.04045 ? c / 12.92 : Math.Pow((c + 0.055) / 1.055, 2.4);
        double rl = Linear(r), gl = Linear(g), bl = Linear(b);
        double x = (0.4124564 * rl + 0.3575761 * gl + 0.1804375 * bl) / 0.95047;
        double y = 0.2126729 * rl + 0.7151522 * gl + 0.0721750 * bl;
        double z = (0.0193339 * rl + 0.1191920 * gl + 0.9503041 * bl) / 1.08883;
        static double F(double t) => t > 216.0 / 24389 ? Math.Cbrt(t) : (24389.0 / 27 * t + 16) / 116;
        double fx = F(x), fy = F(y), fz = F(z);
        return (116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz));
    }

    /// <summary>Centres [colour…, y, x] on a grid of step S (offset S/2), each moved to the lowest gradient of its 3×3 neighbourhood.</summary>
    private static List<double[]> Seeds(double[] f, int dims, int height, int width, double s)
    {
        double Gradient(int y, int x)
        {
            if (y < 1 || x < 1 || y >= height - 1 || x >= width - 1) return double.PositiveInfinity;
            double g = 0;
            for (int d = 0; d < dims; d++)
            {
                double dx = f[(y * width + x + 1) * dims + d] - f[(y * width + x - 1) * dims + d];
                double dy = f[((y + 1) * width + x) * dims + d] - f[((y - 1) * width + x) * dims + d];
                g += dx * dx + dy * dy;
            }
            return g;
        }
        var centres = new List<double[]>();
        for (double cy = s / 2; cy < height; cy += s)
            for (double cx = s / 2; cx < width; cx += s)
            {
                int y0 = (int)cy, x0 = (int)cx, by = y0, bx = x0;
                double best = Gradient(y0, x0);
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++)
                    {
                        double g = Gradient(y0 + dy, x0 + dx);
                        if (g < best) (best, by, bx) = (g, y0 + dy, x0 + dx);
                    }
                var c = new double[dims + 2];
                for (int d = 0; d < dims; d++) c[d] = f[(by * width + bx) * dims + d];
                (c[dims], c[dims + 1]) = (by, bx);
                centres.Add(c);
            }
        return centres;
    }

    /// <summary>Algorithm 1's loop: assign each pixel in a centre's 2S×2S window to the nearest centre by D, then move centres to their means.</summary>
    private static int[] Cluster(double[] f, int dims, int height, int width, double s, double m, int iterations, List<double[]> centres)
    {
        int n = height * width;
        var labels = new int[n];
        var distance = new double[n];
        double spatial = m * m / (s * s);
        int reach = (int)Math.Ceiling(s);
        for (int it = 0; it < iterations; it++)
        {
            Array.Fill(labels, -1);
            Array.Fill(distance, double.PositiveInfinity);
            for (int k = 0; k < centres.Count; k++)
            {
                var c = centres[k];
                int cy = (int)Math.Round(c[dims]), cx = (int)Math.Round(c[dims + 1]);
                for (int y = Math.Max(0, cy - reach); y <= Math.Min(height - 1, cy + reach); y++)
                    for (int x = Math.Max(0, cx - reach); x <= Math.Min(width - 1, cx + reach); x++)
                    {
                        int i = y * width + x;
                        double dc = 0;
                        for (int d = 0; d < dims; d++) { double t = f[i * dims + d] - c[d]; dc += t * t; }
                        double ds = (y - c[dims]) * (y - c[dims]) + (x - c[dims + 1]) * (x - c[dims + 1]);
                        // D² = d_c² + (d_s/S)² m² (eq. 3); comparing squares is enough.
                        double dist = dc + ds * spatial;
                        if (dist < distance[i]) { distance[i] = dist; labels[i] = k; }
                    }
            }
            // A pixel beyond every window (possible only at the borders of tiny images) joins the nearest centre in space.
            for (int i = 0; i < n; i++)
                if (labels[i] < 0)
                {
                    int y = i / width, x = i % width;
                    labels[i] = Enumerable.Range(0, centres.Count).MinBy(k =>
                        (y - centres[k][dims]) * (y - centres[k][dims]) + (x - centres[k][dims + 1]) * (x - centres[k][dims + 1]));
                }
            var sums = new double[centres.Count, dims + 2];
            var counts = new int[centres.Count];
            for (int i = 0; i < n; i++)
            {
                int k = labels[i];
                counts[k]++;
                for (int d = 0; d < dims; d++) sums[k, d] += f[i * dims + d];
                sums[k, dims] += i / width;
                sums[k, dims + 1] += i % width;
            }
            for (int k = 0; k < centres.Count; k++)
                if (counts[k] > 0)
                    for (int d = 0; d < dims + 2; d++) centres[k][d] = sums[k, d] / counts[k];
        }
        return labels;
    }

    /// <summary>
    /// Relabels 4-connected components in raster order; a component below <paramref name="minSize"/> pixels takes the
    /// label of an already relabelled 4-neighbour (its first pixel's left or upper neighbour). Returns the label count.
    /// </summary>
    private static int EnforceConnectivity(int[] labels, int height, int width, int minSize)
    {
        int n = height * width;
        var result = new int[n];
        Array.Fill(result, -1);
        var component = new List<int>();
        int next = 0;
        for (int start = 0; start < n; start++)
        {
            if (result[start] >= 0) continue;
            int y0 = start / width, x0 = start % width;
            // The adjacent label: a 4-neighbour already relabelled (left or above in raster order).
            int adjacent = x0 > 0 && result[start - 1] >= 0 ? result[start - 1] : y0 > 0 && result[start - width] >= 0 ? result[start - width] : -1;
            component.Clear();
            component.Add(start);
            result[start] = next;
            for (int head = 0; head < component.Count; head++)
            {
                int i = component[head], y = i / width, x = i % width;
                Span<int> neighbours = [x > 0 ? i - 1 : -1, x < width - 1 ? i + 1 : -1, y > 0 ? i - width : -1, y < height - 1 ? i + width : -1];
                foreach (int j in neighbours)
                    if (j >= 0 && result[j] < 0 && labels[j] == labels[start])
                    {
                        result[j] = next;
                        component.Add(j);
                    }
            }
            if (component.Count < minSize && adjacent >= 0)
                foreach (int i in component) result[i] = adjacent;
            else
                next++;
        }
        Array.Copy(result, labels, n);
        return next;
    }
}
