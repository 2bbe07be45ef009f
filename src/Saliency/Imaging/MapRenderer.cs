namespace Saliency.Imaging;

/// <summary>Colour maps for <see cref="MapRenderer.RenderColor"/>.</summary>
public enum ColorMap
{
    /// <summary>Black → red → yellow → white (matplotlib "hot"): good for non-negative saliency.</summary>
    Hot,
    /// <summary>Perceptually uniform dark blue → green → yellow (matplotlib "viridis", 9 interpolated anchors).</summary>
    Viridis,
    /// <summary>Blue → white → red, for signed maps; white is the middle of the range.</summary>
    BlueWhiteRed,
}

/// <summary>
/// Renders a float map (a saliency map, an image) of <c>height × width</c> values, row-major, as an 8-bit PNG
/// image: values are mapped linearly from [<c>min</c>, <c>max</c>] to [0, 1] and clipped. By default the range
/// is the map's own minimum and maximum; a constant map renders as 0. Each pixel can be enlarged to a
/// <c>scale × scale</c> block (nearest neighbour) so small maps (28 × 28) are visible.
/// </summary>
public static class MapRenderer
{
    /// <summary>Renders as 8-bit gray: 0 → black, 1 → white.</summary>
    /// <exception cref="ArgumentException">Size mismatch, non-positive scale, NaN/∞ values, or min ≥ max.</exception>
    public static PngImage RenderGray(ReadOnlySpan<float> map, int width, int height,
        float? min = null, float? max = null, int scale = 1)
    {
        var unit = Normalise(map, width, height, min, max, scale);
        var pixels = new byte[width * scale * height * scale];
        Paint(unit, width, height, scale, 1, pixels, (t, px) => px[0] = ToByte(t));
        return new PngImage(width * scale, height * scale, PngColorType.Gray, pixels);
    }

    /// <summary>Renders as 8-bit RGB through a colour map.</summary>
    /// <exception cref="ArgumentException">Size mismatch, non-positive scale, NaN/∞ values, or min ≥ max.</exception>
    public static PngImage RenderColor(ReadOnlySpan<float> map, int width, int height, ColorMap colorMap = ColorMap.Hot,
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
        return new PngImage(width * scale, height * scale, PngColorType.Rgb, pixels);
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
        if (scale <= 0 || (long)width * scale * height * scale * 3 > PngCodec.MaxPixelBytes)
            throw new ArgumentException($"Scale {scale} must be positive and keep the image under {PngCodec.MaxPixelBytes} bytes.", nameof(scale));
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

    private static byte ToByte(float v) => (byte)Math.Clamp((int)MathF.Round(v * 255f), 0, 255);
}
