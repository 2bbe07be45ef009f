namespace Saliency.Imaging;

/// <summary>Colour maps for <see cref="MapRenderer.RenderColor"/>.</summary>
internal enum ColorMap
{
    /// <summary>Black → red → yellow → white (matplotlib "hot"): good for non-negative saliency.</summary>
    Hot,
    /// <summary>Perceptually uniform dark blue → green → yellow (matplotlib "viridis", 9 interpolated anchors).</summary>
    Viridis,
    /// <summary>Blue → white → red, for signed maps; white is the middle of the range.</summary>
    BlueWhiteRed,
}

/// <summary>
/// Renders a float map (a saliency map, an image) of <c>height × width</c> values, row-major, as an 8-bit
/// <see cref="ImageBuffer"/> (write it with <see cref="ImageCodec.WritePng"/>): values are mapped linearly from [<c>min</c>, <c>max</c>] to [0, 1] and clipped. By default the range
/// is the map's own minimum and maximum; a constant map renders as 0. Each pixel can be enlarged to a
/// <c>scale × scale</c> block (nearest neighbour) so small maps (28 × 28) are visible; <see cref="Overlay"/> draws a
/// map over a picture.
/// </summary>
internal static class MapRenderer
{
    /// <summary>Renders as 8-bit gray: 0 → black, 1 → white.</summary>
    /// <exception cref="ArgumentException">Size mismatch, non-positive scale, NaN/∞ values, or min ≥ max.</exception>
    public static ImageBuffer RenderGray(ReadOnlySpan<float> map, int width, int height,
        float? min = null, float? max = null, int scale = 1)
    {
        var unit = Normalise(map, width, height, min, max, scale);
        var pixels = new byte[width * scale * height * scale];
        Paint(unit, width, height, scale, 1, pixels, (t, px) => px[0] = ToByte(t));
        return new ImageBuffer(width * scale, height * scale, PixelFormat.Gray, pixels);
    }

    /// <summary>Renders as 8-bit RGB through a colour map.</summary>
    /// <exception cref="ArgumentException">Size mismatch, non-positive scale, NaN/∞ values, or min ≥ max.</exception>
    public static ImageBuffer RenderColor(ReadOnlySpan<float> map, int width, int height, ColorMap colorMap = ColorMap.Hot,
        float? min = null, float? max = null, int scale = 1)
    {
        if (!Enum.IsDefined(colorMap))
            throw new ArgumentOutOfRangeException(nameof(colorMap), colorMap, "Unknown colour map.");
        var unit = Normalise(map, width, height, min, max, scale);
        var pixels = new byte[width * scale * height * scale * 3];
        Paint(unit, width, height, scale, 3, pixels, (t, px) =>
        {
            var (r, g, b) = Lookup(colorMap, t);
            px[0] = ToByte(r); px[1] = ToByte(g); px[2] = ToByte(b);
        });
        return new ImageBuffer(width * scale, height * scale, PixelFormat.Rgb, pixels);
    }

    /// <summary>
    /// The map (values in [0, 1], clipped; see <see cref="RenderColor"/> with min 0, max 1) in <paramref name="colorMap"/>,
    /// resized to the picture with <paramref name="filter"/> and blended over it:
    /// <c>out = round((1 − α)·picture + α·map)</c> per RGB sample. The picture is taken as RGB (gray replicated, alpha
    /// dropped), so α = 0 gives the picture and α = 1 the resized colour map, exactly.
    /// </summary>
    /// <exception cref="ArgumentException">Map size mismatch or NaN/∞ values.</exception>
    /// <exception cref="ArgumentOutOfRangeException">α outside [0, 1].</exception>
    public static ImageBuffer Overlay(ImageBuffer picture, ReadOnlySpan<float> map, int width, int height, float alpha,
        ColorMap colorMap = ColorMap.Hot, ResizeFilter filter = ResizeFilter.Nearest)
    {
        ArgumentNullException.ThrowIfNull(picture);
        if (!(alpha >= 0f && alpha <= 1f))
            throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "The overlay opacity must lie in [0, 1].");
        var colours = ImageTransforms.Resize(RenderColor(map, width, height, colorMap, 0f, 1f), picture.Width, picture.Height, filter).Pixels;
        var under = picture.ToRgb().Pixels;
        var pixels = new byte[under.Length];
        for (int i = 0; i < pixels.Length; i++)
            pixels[i] = (byte)Math.Clamp((int)MathF.Round((1 - alpha) * under[i] + alpha * colours[i]), 0, 255);
        return new ImageBuffer(picture.Width, picture.Height, PixelFormat.Rgb, pixels);
    }

    /// <summary>The RGB colour (components in [0, 1]) of <paramref name="t"/> ∈ [0, 1] in <paramref name="colorMap"/>.</summary>
    public static (float R, float G, float B) Lookup(ColorMap colorMap, float t)
    {
        t = Math.Clamp(t, 0f, 1f);
        switch (colorMap)
        {
            case ColorMap.Hot:
                // matplotlib's "hot": red ramps over [0, 3/8], green over [3/8, 3/4], blue over [3/4, 1].
                return (Math.Clamp(t / 0.375f, 0f, 1f), Math.Clamp((t - 0.375f) / 0.375f, 0f, 1f), Math.Clamp((t - 0.75f) / 0.25f, 0f, 1f));
            case ColorMap.BlueWhiteRed:
                return t < 0.5f ? (2 * t, 2 * t, 1f) : (1f, 2 * (1 - t), 2 * (1 - t));
            case ColorMap.Viridis:
                float x = t * (ViridisAnchors.Length - 1);
                int i = Math.Min((int)x, ViridisAnchors.Length - 2);
                float f = x - i;
                var (a, b) = (ViridisAnchors[i], ViridisAnchors[i + 1]);
                return (a.R + f * (b.R - a.R), a.G + f * (b.G - a.G), a.B + f * (b.B - a.B));
            default:
                throw new ArgumentOutOfRangeException(nameof(colorMap), colorMap, "Unknown colour map.");
        }
    }

    // matplotlib viridis sampled at t = 0, 1/8, ..., 1.
    private static readonly (float R, float G, float B)[] ViridisAnchors =
    [
        (0.267f, 0.005f, 0.329f), (0.283f, 0.141f, 0.458f), (0.254f, 0.265f, 0.530f),
        (0.207f, 0.372f, 0.553f), (0.164f, 0.471f, 0.558f), (0.128f, 0.567f, 0.551f),
        (0.135f, 0.659f, 0.518f), (0.267f, 0.749f, 0.441f), (0.993f, 0.906f, 0.144f),
    ];

    private static float[] Normalise(ReadOnlySpan<float> map, int width, int height, float? min, float? max, int scale)
    {
        if (width <= 0 || height <= 0)
            throw new ArgumentException($"Map size must be positive, got {width}×{height}.");
        if (scale <= 0 || ImageLimits.Default.Check((long)width * scale, (long)height * scale) is not null)
            throw new ArgumentException(
                $"Scale {scale} must be positive and keep the image within {ImageLimits.Default.MaxSide} pixels per side and {ImageLimits.Default.MaxPixels} pixels.",
                nameof(scale));
        if (map.Length != width * height)
            throw new ArgumentException($"Map holds {map.Length} values but {width}×{height} needs {width * height}.", nameof(map));
        float lo = float.PositiveInfinity, hi = float.NegativeInfinity;
        for (int i = 0; i < map.Length; i++)
        {
            float v = map[i];
            if (!float.IsFinite(v))
                throw new ArgumentException($"Map value {i} (row {i / width}, column {i % width}) is {v}; only finite values can be rendered.", nameof(map));
            lo = Math.Min(lo, v);
            hi = Math.Max(hi, v);
        }
        lo = min ?? lo;
        hi = max ?? hi;
        if (!float.IsFinite(lo) || !float.IsFinite(hi) || hi < lo || (min is not null && max is not null && lo >= hi))
            throw new ArgumentException($"The display range [{lo}, {hi}] must be finite with min < max.");
        var unit = new float[map.Length];
        float span = hi - lo;
        if (span > 0)
            for (int i = 0; i < map.Length; i++)
                unit[i] = Math.Clamp((map[i] - lo) / span, 0f, 1f);
        return unit;
    }

    private delegate void PixelWriter(float t, Span<byte> pixel);

    private static void Paint(float[] unit, int width, int height, int scale, int channels, byte[] pixels, PixelWriter write)
    {
        int outWidth = width * scale;
        for (int y = 0; y < height * scale; y++)
            for (int x = 0; x < outWidth; x++)
                write(unit[(y / scale) * width + x / scale], pixels.AsSpan((y * outWidth + x) * channels, channels));
    }

    private static byte ToByte(float v) => ImageBuffer.ToByte(v);
}
