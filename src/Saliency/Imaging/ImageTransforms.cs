using SkiaSharp;

namespace Saliency.Imaging;

/// <summary>How <see cref="ImageTransforms.Resize"/> samples the source.</summary>
internal enum ResizeFilter
{
    /// <summary>Nearest pixel: blocks when enlarging (maps shown at their true resolution).</summary>
    Nearest,
    /// <summary>Bilinear, with linear mipmaps so that shrinking averages over the footprint instead of aliasing.</summary>
    Linear,
    /// <summary>Bicubic, Mitchell–Netravali B = C = 1/3 (Mitchell &amp; Netravali, SIGGRAPH 1988).</summary>
    Cubic,
}

/// <summary>
/// Preprocessing for classifiers: resizing through Skia (<see cref="SKPixmap.ScalePixels(SKPixmap, SKSamplingOptions)"/>),
/// exact crops, and the usual "resize the shorter side, then center-crop" (torchvision's <c>Resize</c> + <c>CenterCrop</c>).
/// Colour/alpha conversions are on <see cref="ImageBuffer"/> itself.
/// </summary>
internal static class ImageTransforms
{
    /// <summary>Skia's sampling options for a filter.</summary>
    public static SKSamplingOptions Sampling(ResizeFilter filter) => filter switch
    {
        ResizeFilter.Nearest => new SKSamplingOptions(SKFilterMode.Nearest, SKMipmapMode.None),
        ResizeFilter.Linear => new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear),
        ResizeFilter.Cubic => new SKSamplingOptions(SKCubicResampler.Mitchell),
        _ => throw new ArgumentOutOfRangeException(nameof(filter), filter, "Unknown resize filter."),
    };

    /// <summary>The image resampled to <paramref name="width"/> × <paramref name="height"/> (same pixel format).</summary>
    /// <exception cref="ArgumentException">A non-positive size, or one beyond <see cref="ImageLimits.Default"/>.</exception>
    public static unsafe ImageBuffer Resize(ImageBuffer image, int width, int height, ResizeFilter filter = ResizeFilter.Linear)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (width <= 0 || height <= 0)
            throw new ArgumentException($"The target size must be positive, got {width}×{height}.");
        if (ImageLimits.Default.Check(width, height) is string tooLarge)
            throw new ArgumentException($"The target size {tooLarge}.");
        var sampling = Sampling(filter);
        if (width == image.Width && height == image.Height)
            return new ImageBuffer(width, height, image.Format, (byte[])image.Pixels.Clone());

        var info = SkiaPixels.InfoOf(width, height, image.Format);
        var pixels = new byte[info.BytesSize64];
        bool ok = SkiaPixels.With(image, source =>
        {
            fixed (byte* p = pixels)
            {
                using var target = new SKPixmap(info, (IntPtr)p);
                return source.ScalePixels(target, sampling);
            }
        });
        if (!ok)
            throw new InvalidOperationException($"Skia could not resize a {image.Width}×{image.Height} {image.Format} image to {width}×{height}.");
        var resized = new ImageBuffer(width, height, image.Format == PixelFormat.Gray ? PixelFormat.Gray : PixelFormat.Rgba, pixels);
        return image.Format == PixelFormat.Rgb ? resized.ToRgb() : resized;
    }

    /// <summary>The <paramref name="width"/> × <paramref name="height"/> block whose top-left pixel is (<paramref name="x"/>, <paramref name="y"/>), copied exactly.</summary>
    /// <exception cref="ArgumentException">The rectangle is empty or not inside the image.</exception>
    public static ImageBuffer Crop(ImageBuffer image, int x, int y, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (width <= 0 || height <= 0 || x < 0 || y < 0 || (long)x + width > image.Width || (long)y + height > image.Height)
            throw new ArgumentException(
                $"The crop {width}×{height} at ({x}, {y}) is not a non-empty rectangle inside the {image.Width}×{image.Height} image.");
        int c = image.Channels;
        var pixels = new byte[width * height * c];
        for (int row = 0; row < height; row++)
            image.Pixels.AsSpan(((y + row) * image.Width + x) * c, width * c).CopyTo(pixels.AsSpan(row * width * c));
        return new ImageBuffer(width, height, image.Format, pixels);
    }

    /// <summary>
    /// The central <paramref name="width"/> × <paramref name="height"/> block; an odd margin puts the extra pixel on
    /// the right/bottom (offset ⌊(W − w)/2⌋).
    /// </summary>
    /// <exception cref="ArgumentException">The crop is empty or larger than the image.</exception>
    public static ImageBuffer CenterCrop(ImageBuffer image, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (width > image.Width || height > image.Height)
            throw new ArgumentException($"A {width}×{height} center crop does not fit in the {image.Width}×{image.Height} image.");
        return Crop(image, (image.Width - width) / 2, (image.Height - height) / 2, width, height);
    }

    /// <summary>
    /// Scales the image by s = max(w / W, h / H) — for a square target, the shorter side becomes the target side —
    /// then takes the central <paramref name="width"/> × <paramref name="height"/> block. The aspect ratio is kept;
    /// what falls outside the crop is lost. An image of the target size is returned as a copy, unresampled.
    /// </summary>
    public static ImageBuffer ResizeAndCenterCrop(ImageBuffer image, int width, int height, ResizeFilter filter = ResizeFilter.Linear)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (width <= 0 || height <= 0)
            throw new ArgumentException($"The target size must be positive, got {width}×{height}.");
        double scale = Math.Max((double)width / image.Width, (double)height / image.Height);
        int w = Math.Max(width, (int)Math.Round(image.Width * scale));
        int h = Math.Max(height, (int)Math.Round(image.Height * scale));
        return CenterCrop(Resize(image, w, h, filter), width, height);
    }
}
