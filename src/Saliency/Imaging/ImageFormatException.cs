namespace Saliency.Imaging;

/// <summary>Why <see cref="ImageCodec"/> refused an encoded image.</summary>
internal enum ImageFailure
{
    /// <summary>The file or buffer has no bytes.</summary>
    Empty,
    /// <summary>No decoder recognises the bytes (or they end before the format can be told).</summary>
    UnknownFormat,
    /// <summary>A format Skia reads but this project does not accept (ICO, WBMP, …: only PNG, JPEG, WebP, BMP, GIF are).</summary>
    UnsupportedFormat,
    /// <summary>The header declares a zero or negative size.</summary>
    InvalidSize,
    /// <summary>The header (or the file length) exceeds <see cref="ImageLimits"/>; nothing was allocated for it.</summary>
    TooLarge,
    /// <summary>The data ends before the image is complete.</summary>
    Truncated,
    /// <summary>The decoder found invalid data.</summary>
    Corrupt,
}

/// <summary>
/// An encoded image could not be decoded: the message names the source (a path, or "image data") and the reason;
/// <see cref="Reason"/> classifies it. Thrown for every decoding failure, so callers never see a Skia null or status.
/// </summary>
internal sealed class ImageFormatException : FormatException
{
    public ImageFormatException(string source, ImageFailure reason, string detail)
        : base($"{source}: {detail}")
    {
        SourceName = source;
        Reason = reason;
    }

    /// <summary>The file path, or "image data" for an in-memory buffer.</summary>
    public string SourceName { get; }

    /// <summary>The class of failure.</summary>
    public ImageFailure Reason { get; }
}

/// <summary>
/// Bounds checked against an image header before any pixel memory is allocated, so a forged header that claims a
/// huge size costs nothing. Defaults: 16,384 pixels per side, 64 Mpixel (256 MiB as RGBA), 256 MiB of encoded bytes.
/// </summary>
internal sealed record ImageLimits
{
    /// <summary>The defaults.</summary>
    public static ImageLimits Default { get; } = new();

    /// <summary>Largest width or height accepted.</summary>
    public int MaxSide { get; init; } = 16_384;

    /// <summary>Largest width × height accepted.</summary>
    public long MaxPixels { get; init; } = 64L * 1024 * 1024;

    /// <summary>Largest encoded file accepted (checked before the file is read).</summary>
    public long MaxEncodedBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>Throws unless every bound is positive.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A bound is zero or negative.</exception>
    public void Validate()
    {
        if (MaxSide <= 0) throw new ArgumentOutOfRangeException(nameof(MaxSide), MaxSide, "Must be positive.");
        if (MaxPixels <= 0) throw new ArgumentOutOfRangeException(nameof(MaxPixels), MaxPixels, "Must be positive.");
        if (MaxEncodedBytes <= 0) throw new ArgumentOutOfRangeException(nameof(MaxEncodedBytes), MaxEncodedBytes, "Must be positive.");
    }

    /// <summary>Null when <paramref name="width"/> × <paramref name="height"/> is within the limits, else why not.</summary>
    public string? Check(long width, long height)
    {
        if (width > MaxSide || height > MaxSide)
            return $"{width}×{height} exceeds the limit of {MaxSide} pixels per side";
        if (width * height > MaxPixels)
            return $"{width}×{height} = {width * height} pixels exceeds the limit of {MaxPixels}";
        return null;
    }
}
