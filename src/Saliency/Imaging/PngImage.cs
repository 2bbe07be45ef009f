namespace Saliency.Imaging;

/// <summary>The 8-bit colour types this codec reads and writes (values are the PNG IHDR colour-type codes).</summary>
public enum PngColorType : byte
{
    /// <summary>One gray sample per pixel.</summary>
    Gray = 0,
    /// <summary>Red, green, blue.</summary>
    Rgb = 2,
    /// <summary>Gray and alpha.</summary>
    GrayAlpha = 4,
    /// <summary>Red, green, blue, alpha.</summary>
    Rgba = 6,
}

/// <summary>
/// An 8-bit image: <see cref="Height"/> rows of <see cref="Width"/> pixels, each pixel
/// <see cref="Channels"/> interleaved bytes (row-major, top row first, no padding).
/// </summary>
public sealed class PngImage
{
    /// <summary>Wraps <paramref name="pixels"/> (not copied); its length must be width × height × channels.</summary>
    /// <exception cref="ArgumentException">Non-positive size, or a pixel buffer of the wrong length.</exception>
    public PngImage(int width, int height, PngColorType colorType, byte[] pixels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        if (width <= 0 || height <= 0)
            throw new ArgumentException($"Image size must be positive, got {width}×{height}.");
        if (!Enum.IsDefined(colorType))
            throw new ArgumentException($"Unsupported colour type {(int)colorType}.", nameof(colorType));
        long expected = (long)width * height * ChannelsOf(colorType);
        if (pixels.LongLength != expected)
            throw new ArgumentException(
                $"Pixel buffer holds {pixels.LongLength} bytes but a {width}×{height} {colorType} image needs {expected}.",
                nameof(pixels));
        Width = width;
        Height = height;
        ColorType = colorType;
        Pixels = pixels;
    }

    /// <summary>Pixels per row.</summary>
    public int Width { get; }
    /// <summary>Number of rows.</summary>
    public int Height { get; }
    /// <summary>Colour type, which fixes the number of channels.</summary>
    public PngColorType ColorType { get; }
    /// <summary>Interleaved 8-bit samples, row-major.</summary>
    public byte[] Pixels { get; }
    /// <summary>Samples per pixel: 1 (gray), 2 (gray+alpha), 3 (RGB) or 4 (RGBA).</summary>
    public int Channels => ChannelsOf(ColorType);

    /// <summary>Samples per pixel of a colour type.</summary>
    public static int ChannelsOf(PngColorType colorType) => colorType switch
    {
        PngColorType.Gray => 1,
        PngColorType.GrayAlpha => 2,
        PngColorType.Rgb => 3,
        PngColorType.Rgba => 4,
        _ => throw new ArgumentOutOfRangeException(nameof(colorType), colorType, "Unsupported colour type."),
    };

    /// <summary>
    /// Gray intensities in [0, 1] (sample / 255), row-major, one value per pixel. Colour is reduced with the
    /// ITU-R BT.601 luma weights 0.299, 0.587, 0.114; alpha is ignored (the stored colour is used as is).
    /// </summary>
    public float[] ToGrayFloats()
    {
        int n = Width * Height, c = Channels;
        var result = new float[n];
        for (int i = 0; i < n; i++)
        {
            int o = i * c;
            float v = c <= 2
                ? Pixels[o]
                : 0.299f * Pixels[o] + 0.587f * Pixels[o + 1] + 0.114f * Pixels[o + 2];
            result[i] = v / 255f;
        }
        return result;
    }

    /// <summary>
    /// Colour planes in [0, 1] (sample / 255) in channel-major (CHW) order, as image classifiers take them:
    /// gray images give one plane, colour images three (R, G, B); alpha is dropped.
    /// </summary>
    public float[] ToPlanarFloats()
    {
        int n = Width * Height, c = Channels;
        int planes = c <= 2 ? 1 : 3;
        var result = new float[planes * n];
        for (int p = 0; p < planes; p++)
            for (int i = 0; i < n; i++)
                result[p * n + i] = Pixels[i * c + p] / 255f;
        return result;
    }
}
