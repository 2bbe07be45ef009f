namespace Saliency.Imaging;

/// <summary>
/// A PNG file is malformed (bad signature, bad CRC, truncated, inconsistent header, corrupt image data)
/// or uses a feature this codec refuses (16-bit samples, palette images, interlacing).
/// The message names the problem; <see cref="Exception.InnerException"/> carries a zlib error where there is one.
/// </summary>
public sealed class PngFormatException : Exception
{
    public PngFormatException(string message) : base(message) { }
    public PngFormatException(string message, Exception inner) : base(message, inner) { }
}
