using Saliency.Models.IO;
using SkiaSharp;

namespace Saliency.Imaging;

/// <summary>
/// Image files through Skia's codecs (SkiaSharp <see cref="SKCodec"/>; libpng, libjpeg-turbo, libwebp and Skia's own
/// BMP/GIF readers): PNG, JPEG, WebP, BMP and GIF (first frame) are read, PNG is written.
/// </summary>
/// <remarks>
/// <para><b>Header first.</b> <see cref="SKCodec.Info"/> is read from the header alone; the size it declares is checked
/// against <see cref="ImageLimits"/> (and for zero/negative values) before the pixel buffer is allocated.</para>
/// <para><b>What comes out.</b> Gray sources (8- or 16-bit gray PNG, gray JPEG) give <see cref="PixelFormat.Gray"/>;
/// opaque colour sources (RGB, palette without transparency, JPEG, opaque WebP/BMP/GIF) give <see cref="PixelFormat.Rgb"/>;
/// anything with alpha gives unpremultiplied <see cref="PixelFormat.Rgba"/>. 16-bit samples are reduced to 8 bits by
/// Skia. No colour management: samples are returned as stored (an embedded ICC profile is ignored, as PIL and
/// torchvision do by default), and the JPEG EXIF orientation is not applied.</para>
/// <para><b>Strict.</b> A truncated file is refused (<see cref="ImageFailure.Truncated"/>) even where Skia could return a
/// partly filled image.</para>
/// </remarks>
internal static class ImageCodec
{
    /// <summary>The formats <see cref="Decode"/> accepts.</summary>
    public static IReadOnlyList<SKEncodedImageFormat> Formats { get; } =
        [SKEncodedImageFormat.Png, SKEncodedImageFormat.Jpeg, SKEncodedImageFormat.Webp, SKEncodedImageFormat.Bmp, SKEncodedImageFormat.Gif];

    /// <summary>Reads and decodes an image file.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="ImageFormatException">Empty, too large, not a supported image, or corrupt.</exception>
    public static ImageBuffer Read(string path, ImageLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        limits ??= ImageLimits.Default;
        limits.Validate();
        var file = new FileInfo(path);
        if (!file.Exists)
            throw new FileNotFoundException($"image file not found: {path}", path);
        if (file.Length > limits.MaxEncodedBytes)
            throw new ImageFormatException(path, ImageFailure.TooLarge,
                $"the file has {file.Length} bytes, more than the limit of {limits.MaxEncodedBytes}");
        return Decode(File.ReadAllBytes(path), limits, path);
    }

    /// <summary>Decodes an encoded image held in memory; <paramref name="source"/> names it in error messages.</summary>
    /// <exception cref="ImageFormatException">Empty, too large, not a supported image, or corrupt.</exception>
    public static unsafe ImageBuffer Decode(ReadOnlySpan<byte> encoded, ImageLimits? limits = null, string? source = null)
    {
        limits ??= ImageLimits.Default;
        limits.Validate();
        source ??= "image data";
        if (encoded.IsEmpty)
            throw new ImageFormatException(source, ImageFailure.Empty, "the file is empty");
        if (encoded.Length > limits.MaxEncodedBytes)
            throw new ImageFormatException(source, ImageFailure.TooLarge,
                $"{encoded.Length} encoded bytes exceed the limit of {limits.MaxEncodedBytes}");

        // The bytes are copied into native memory (SKData) and decoded from there. Not through a .NET Stream: SkiaSharp's
        // SKManagedStream read callback threw ArgumentOutOfRangeException on a corrupt input in this project's tests,
        // and an exception inside a native callback terminates the process.
        using var data = SKData.CreateCopy(encoded);
        using var codec = SKCodec.Create(data)
            ?? throw new ImageFormatException(source, ImageFailure.UnknownFormat,
                "not a PNG, JPEG, WebP, BMP or GIF image (or its header is damaged or cut short)");
        var format = codec.EncodedFormat;
        string kind = NameOf(format);
        if (!Formats.Contains(format))
            throw new ImageFormatException(source, ImageFailure.UnsupportedFormat,
                $"{kind} images are not supported; use PNG, JPEG, WebP, BMP or GIF");

        var info = codec.Info;
        if (info.Width <= 0 || info.Height <= 0)
            throw new ImageFormatException(source, ImageFailure.InvalidSize, $"the {kind} header declares a size of {info.Width}×{info.Height}");
        if (limits.Check(info.Width, info.Height) is string tooLarge)
            throw new ImageFormatException(source, ImageFailure.TooLarge, $"the {kind} header declares {tooLarge}");

        // Only now is memory allocated, for the size the header declared and the limits allowed.
        bool gray = info.ColorType == SKColorType.Gray8;
        bool opaque = info.AlphaType == SKAlphaType.Opaque;
        var target = gray
            ? new SKImageInfo(info.Width, info.Height, SKColorType.Gray8, SKAlphaType.Opaque)
            : new SKImageInfo(info.Width, info.Height, SKColorType.Rgba8888, opaque ? SKAlphaType.Opaque : SKAlphaType.Unpremul);
        var pixels = new byte[target.BytesSize64];
        SKCodecResult result;
        fixed (byte* p = pixels)
            // Frame 0: the first GIF frame; the buffer is zeroed by the runtime, so Skia may skip clearing it.
            result = codec.GetPixels(target, (IntPtr)p, target.RowBytes, new SKCodecOptions(SKZeroInitialized.Yes));
        switch (result)
        {
            case SKCodecResult.Success:
                break;
            case SKCodecResult.IncompleteInput:
                throw new ImageFormatException(source, ImageFailure.Truncated, $"the {kind} data ends before the image is complete");
            default:
                throw new ImageFormatException(source, ImageFailure.Corrupt, $"the {kind} data is invalid (Skia: {result})");
        }
        if (gray)
            return new ImageBuffer(info.Width, info.Height, PixelFormat.Gray, pixels);
        var rgba = new ImageBuffer(info.Width, info.Height, PixelFormat.Rgba, pixels);
        return opaque ? rgba.ToRgb() : rgba;
    }

    private static string NameOf(SKEncodedImageFormat format) => format switch
    {
        SKEncodedImageFormat.Webp => "WebP",
        _ => format.ToString().ToUpperInvariant(),
    };

    /// <summary>Encodes as PNG: gray as 8-bit gray, RGB as 8-bit RGB, RGBA as 8-bit unpremultiplied RGBA (lossless).</summary>
    public static byte[] EncodePng(ImageBuffer image)
    {
        ArgumentNullException.ThrowIfNull(image);
        return SkiaPixels.With(image, pixmap =>
        {
            using var data = pixmap.Encode(SKPngEncoderOptions.Default)
                ?? throw new InvalidOperationException($"Skia's PNG encoder refused a {image.Width}×{image.Height} {image.Format} image.");
            return data.ToArray();
        });
    }

    /// <summary>
    /// Writes <paramref name="image"/> to <paramref name="path"/> as PNG (see <see cref="EncodePng"/>), atomically:
    /// a failed write (e.g. a full disk) leaves an earlier file at <paramref name="path"/> as it was.
    /// </summary>
    public static void WritePng(string path, ImageBuffer image)
    {
        ArgumentNullException.ThrowIfNull(path);
        AtomicFile.WriteAllBytes(path, EncodePng(image));
    }
}

/// <summary>Views an <see cref="ImageBuffer"/> as a Skia pixmap over pinned memory (RGB is widened to opaque RGBA).</summary>
internal static class SkiaPixels
{
    public static SKImageInfo InfoOf(int width, int height, PixelFormat format) => format switch
    {
        PixelFormat.Gray => new SKImageInfo(width, height, SKColorType.Gray8, SKAlphaType.Opaque),
        PixelFormat.Rgb => new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque),
        _ => new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul),
    };

    public static unsafe T With<T>(ImageBuffer image, Func<SKPixmap, T> body)
    {
        // Skia has no 3-byte pixel type: RGB goes through RGBA with alpha 255, declared opaque.
        var source = image.Format == PixelFormat.Rgb ? image.ToRgba() : image;
        fixed (byte* p = source.Pixels)
        {
            using var pixmap = new SKPixmap(InfoOf(image.Width, image.Height, image.Format), (IntPtr)p);
            return body(pixmap);
        }
    }
}
