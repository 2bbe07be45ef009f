namespace Saliency.Imaging;

/// <summary>The pixel layouts of <see cref="ImageBuffer"/>; the value is the number of interleaved channels.</summary>
internal enum PixelFormat
{
    /// <summary>One gray sample per pixel.</summary>
    Gray = 1,
    /// <summary>Red, green, blue.</summary>
    Rgb = 3,
    /// <summary>Red, green, blue, alpha (unpremultiplied: the colour is stored as is, whatever the alpha).</summary>
    Rgba = 4,
}

/// <summary>What colour conversions do with an alpha channel.</summary>
internal enum AlphaMode
{
    /// <summary>Ignore alpha: use the stored colour as is (what the old PNG path did, and the CLI's choice).</summary>
    Drop,
    /// <summary>Composite over an opaque white background: <c>c·a + 255·(1 − a)</c>, a = alpha / 255.</summary>
    CompositeOnWhite,
}

/// <summary>
/// An 8-bit image: <see cref="Height"/> rows of <see cref="Width"/> pixels, each pixel <see cref="Channels"/>
/// interleaved bytes (row-major, top row first, no padding). Decoded by <see cref="ImageCodec"/>, transformed by
/// <see cref="ImageTransforms"/>, turned into model input by <see cref="ToGrayFloats"/> / <see cref="ToPlanarFloats"/>.
/// </summary>
internal sealed class ImageBuffer
{
    /// <summary>Wraps <paramref name="pixels"/> (not copied); its length must be width × height × channels.</summary>
    /// <exception cref="ArgumentException">Non-positive size, unknown format, or a pixel buffer of the wrong length.</exception>
    public ImageBuffer(int width, int height, PixelFormat format, byte[] pixels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        if (width <= 0 || height <= 0)
            throw new ArgumentException($"Image size must be positive, got {width}×{height}.");
        if (!Enum.IsDefined(format))
            throw new ArgumentException($"Unknown pixel format {(int)format}.", nameof(format));
        long expected = (long)width * height * (int)format;
        if (pixels.LongLength != expected)
            throw new ArgumentException(
                $"Pixel buffer holds {pixels.LongLength} bytes but a {width}×{height} {format} image needs {expected}.",
                nameof(pixels));
        Width = width;
        Height = height;
        Format = format;
        Pixels = pixels;
    }

    /// <summary>
    /// An image from samples in [0, 1] (interleaved like <see cref="Pixels"/>), stored as <c>round(255·v)</c>.
    /// Values outside [0, 1] are clipped.
    /// </summary>
    /// <exception cref="ArgumentException">Wrong length or a NaN/∞ sample.</exception>
    public static ImageBuffer FromFloats(int width, int height, PixelFormat format, ReadOnlySpan<float> samples)
    {
        if (width <= 0 || height <= 0)
            throw new ArgumentException($"Image size must be positive, got {width}×{height}.");
        long expected = (long)width * height * (int)format;
        if (samples.Length != expected)
            throw new ArgumentException($"{samples.Length} samples given but a {width}×{height} {format} image needs {expected}.", nameof(samples));
        var pixels = new byte[samples.Length];
        for (int i = 0; i < samples.Length; i++)
        {
            if (!float.IsFinite(samples[i]))
                throw new ArgumentException($"Sample {i} is {samples[i]}; only finite values can be stored.", nameof(samples));
            pixels[i] = ToByte(samples[i]);
        }
        return new ImageBuffer(width, height, format, pixels);
    }

    /// <summary>Pixels per row.</summary>
    public int Width { get; }
    /// <summary>Number of rows.</summary>
    public int Height { get; }
    /// <summary>Pixel layout, which fixes the number of channels.</summary>
    public PixelFormat Format { get; }
    /// <summary>Interleaved 8-bit samples, row-major.</summary>
    public byte[] Pixels { get; }
    /// <summary>Samples per pixel: 1 (gray), 3 (RGB) or 4 (RGBA).</summary>
    public int Channels => (int)Format;

    /// <summary>
    /// One gray byte per pixel. Colour is reduced with the ITU-R BT.601 luma weights 0.299, 0.587, 0.114 (as PIL's
    /// <c>convert("L")</c> and torchvision's <c>Grayscale</c>), rounded to the nearest byte; alpha as <paramref name="alpha"/> says.
    /// </summary>
    public ImageBuffer ToGray(AlphaMode alpha = AlphaMode.Drop)
    {
        if (Format == PixelFormat.Gray) return this;
        var result = new byte[Width * Height];
        for (int i = 0; i < result.Length; i++)
            result[i] = (byte)Math.Clamp((int)MathF.Round(Luma(i, alpha)), 0, 255);
        return new ImageBuffer(Width, Height, PixelFormat.Gray, result);
    }

    /// <summary>Three bytes per pixel: gray is replicated, alpha dropped or composited as <paramref name="alpha"/> says.</summary>
    public ImageBuffer ToRgb(AlphaMode alpha = AlphaMode.Drop)
    {
        if (Format == PixelFormat.Rgb) return this;
        int n = Width * Height, c = Channels;
        var result = new byte[n * 3];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < 3; k++)
            {
                int o = i * c;
                result[i * 3 + k] = c == 1 ? Pixels[o] : (byte)MathF.Round(Composite(Pixels[o + k], o, alpha));
            }
        return new ImageBuffer(Width, Height, PixelFormat.Rgb, result);
    }

    /// <summary>Four bytes per pixel (alpha 255 where the image has none).</summary>
    public ImageBuffer ToRgba()
    {
        if (Format == PixelFormat.Rgba) return this;
        int n = Width * Height, c = Channels;
        var result = new byte[n * 4];
        for (int i = 0; i < n; i++)
        {
            for (int k = 0; k < 3; k++)
                result[i * 4 + k] = Pixels[i * c + (c == 1 ? 0 : k)];
            result[i * 4 + 3] = 255;
        }
        return new ImageBuffer(Width, Height, PixelFormat.Rgba, result);
    }

    /// <summary>
    /// Gray intensities in [0, 1], row-major, one value per pixel: luma / 255 with the weights of <see cref="ToGray"/>,
    /// not rounded to a byte first.
    /// </summary>
    public float[] ToGrayFloats(AlphaMode alpha = AlphaMode.Drop)
    {
        var result = new float[Width * Height];
        for (int i = 0; i < result.Length; i++) result[i] = Luma(i, alpha) / 255f;
        return result;
    }

    /// <summary>
    /// Colour planes in [0, 1] (sample / 255) in channel-major (CHW) order, as image classifiers take them:
    /// <paramref name="planes"/> = 1 gives the luma plane, 3 the R, G, B planes (gray replicated).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="planes"/> is not 1 or 3.</exception>
    public float[] ToPlanarFloats(int planes, AlphaMode alpha = AlphaMode.Drop)
    {
        if (planes == 1) return ToGrayFloats(alpha);
        if (planes != 3) throw new ArgumentOutOfRangeException(nameof(planes), planes, "Models take 1 (gray) or 3 (RGB) planes.");
        var rgb = ToRgb(alpha).Pixels;
        int n = Width * Height;
        var result = new float[3 * n];
        for (int p = 0; p < 3; p++)
            for (int i = 0; i < n; i++)
                result[p * n + i] = rgb[i * 3 + p] / 255f;
        return result;
    }

    // BT.601 luma of pixel i in [0, 255] (the gray sample itself for gray images).
    private float Luma(int i, AlphaMode alpha)
    {
        int o = i * Channels;
        if (Format == PixelFormat.Gray) return Pixels[o];
        return 0.299f * Composite(Pixels[o], o, alpha) + 0.587f * Composite(Pixels[o + 1], o, alpha)
            + 0.114f * Composite(Pixels[o + 2], o, alpha);
    }

    // Colour sample v of the pixel at offset o, with its alpha applied as the mode says (gray/RGB have none).
    private float Composite(byte v, int o, AlphaMode alpha)
    {
        if (Format != PixelFormat.Rgba || alpha == AlphaMode.Drop) return v;
        float a = Pixels[o + 3] / 255f;
        return v * a + 255f * (1 - a);
    }

    internal static byte ToByte(float v) => (byte)Math.Clamp((int)MathF.Round(v * 255f), 0, 255);
}
