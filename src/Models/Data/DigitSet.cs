using System.Buffers.Binary;

namespace Saliency.Models.Data;

/// <summary>
/// Labelled gray digit images in the MNIST IDX format (the format of the bundled <c>data/digits-heldout-*</c>
/// files; see <c>data/README.md</c>). Images are kept as bytes (0 = background, 255 = ink) and handed to a
/// model as floats <c>byte / 255</c> in NCHW layout <c>[n, 1, rows, cols]</c>, the normalisation the bundled
/// LeNet was trained with.
/// </summary>
internal sealed class DigitSet
{
    /// <summary>IDX magic of an unsigned-byte 3-dimensional array (images).</summary>
    public const uint ImagesMagic = 0x00000803;
    /// <summary>IDX magic of an unsigned-byte 1-dimensional array (labels).</summary>
    public const uint LabelsMagic = 0x00000801;

    private readonly byte[] _pixels;
    private readonly byte[] _labels;

    private DigitSet(int rows, int cols, byte[] pixels, byte[] labels)
    {
        Rows = rows;
        Cols = cols;
        _pixels = pixels;
        _labels = labels;
    }

    /// <summary>Number of digits.</summary>
    public int Count => _labels.Length;
    /// <summary>Image height in pixels.</summary>
    public int Rows { get; }
    /// <summary>Image width in pixels.</summary>
    public int Cols { get; }
    /// <summary>Pixels per image (<see cref="Rows"/> × <see cref="Cols"/>).</summary>
    public int PixelsPerImage => Rows * Cols;
    /// <summary>All labels, one byte (0–9) per digit.</summary>
    public ReadOnlySpan<byte> Labels => _labels;

    /// <summary>Label (0–9) of digit <paramref name="index"/>.</summary>
    public int Label(int index) => _labels[CheckIndex(index)];

    /// <summary>Raw bytes of digit <paramref name="index"/>, row-major.</summary>
    public ReadOnlySpan<byte> ImageBytes(int index) =>
        _pixels.AsSpan(CheckIndex(index) * PixelsPerImage, PixelsPerImage);

    /// <summary>Digit <paramref name="index"/> as floats in [0, 1] (byte / 255), row-major.</summary>
    public float[] ImageFloats(int index) => Batch(index, 1);

    /// <summary>
    /// Digits <paramref name="start"/> … <paramref name="start"/> + <paramref name="count"/> − 1 as one float
    /// buffer in NCHW layout <c>[count, 1, rows, cols]</c>, values byte / 255.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">The range leaves the set.</exception>
    public float[] Batch(int start, int count)
    {
        if (start < 0 || count < 0 || start > Count - count)
            throw new ArgumentOutOfRangeException(nameof(start),
                $"Digits {start} … {start + count - 1} are outside the set of {Count}.");
        int n = count * PixelsPerImage;
        var result = new float[n];
        var source = _pixels.AsSpan(start * PixelsPerImage, n);
        for (int i = 0; i < n; i++)
            result[i] = source[i] / 255f;
        return result;
    }

    /// <summary>Loads an IDX image file and its IDX label file.</summary>
    /// <exception cref="FileNotFoundException">Either file is missing.</exception>
    /// <exception cref="DigitSetFormatException">Either file is malformed, or they disagree on the count.</exception>
    public static DigitSet Load(string imagesPath, string labelsPath)
    {
        ArgumentNullException.ThrowIfNull(imagesPath);
        ArgumentNullException.ThrowIfNull(labelsPath);
        foreach (var path in new[] { imagesPath, labelsPath })
            if (!File.Exists(path))
                throw new FileNotFoundException($"Digit file not found: {path}", path);
        return Parse(File.ReadAllBytes(imagesPath), File.ReadAllBytes(labelsPath), imagesPath, labelsPath);
    }

    /// <summary>Parses IDX image and label files held in memory. The names only label error messages.</summary>
    /// <exception cref="DigitSetFormatException">Either buffer is malformed, or they disagree on the count.</exception>
    public static DigitSet Parse(ReadOnlySpan<byte> images, ReadOnlySpan<byte> labels,
        string imagesName = "images", string labelsName = "labels")
    {
        // The magic number first: it tells a swapped or foreign file apart from a truncated one.
        if (images.Length >= 4 && BinaryPrimitives.ReadUInt32BigEndian(images) is var magic && magic != ImagesMagic)
            throw new DigitSetFormatException(
                $"{imagesName}: IDX magic 0x{magic:X8}, expected 0x{ImagesMagic:X8} (unsigned bytes, 3 dimensions).");
        if (images.Length < 16)
            throw new DigitSetFormatException($"{imagesName}: {images.Length} bytes is too short for an IDX image header (16 bytes).");
        uint count = BinaryPrimitives.ReadUInt32BigEndian(images[4..]);
        uint rows = BinaryPrimitives.ReadUInt32BigEndian(images[8..]);
        uint cols = BinaryPrimitives.ReadUInt32BigEndian(images[12..]);
        if (rows == 0 || cols == 0 || rows > 4096 || cols > 4096)
            throw new DigitSetFormatException($"{imagesName}: image size {rows}×{cols} is not in 1 … 4096.");
        long expected = 16 + (long)count * rows * cols;
        if (images.Length != expected)
            throw new DigitSetFormatException(
                $"{imagesName}: {images.Length} bytes, but the header ({count} images of {rows}×{cols}) needs {expected}" +
                (images.Length < expected ? " (truncated file)." : " (trailing data)."));

        if (labels.Length >= 4 && BinaryPrimitives.ReadUInt32BigEndian(labels) is var labelMagic && labelMagic != LabelsMagic)
            throw new DigitSetFormatException(
                $"{labelsName}: IDX magic 0x{labelMagic:X8}, expected 0x{LabelsMagic:X8} (unsigned bytes, 1 dimension).");
        if (labels.Length < 8)
            throw new DigitSetFormatException($"{labelsName}: {labels.Length} bytes is too short for an IDX label header (8 bytes).");
        uint labelCount = BinaryPrimitives.ReadUInt32BigEndian(labels[4..]);
        if (labels.Length != 8 + (long)labelCount)
            throw new DigitSetFormatException(
                $"{labelsName}: {labels.Length} bytes, but the header ({labelCount} labels) needs {8 + (long)labelCount}" +
                (labels.Length < 8 + (long)labelCount ? " (truncated file)." : " (trailing data)."));
        if (labelCount != count)
            throw new DigitSetFormatException($"{imagesName} holds {count} images but {labelsName} holds {labelCount} labels.");
        var labelBytes = labels[8..].ToArray();
        for (int i = 0; i < labelBytes.Length; i++)
            if (labelBytes[i] > 9)
                throw new DigitSetFormatException($"{labelsName}: label {i} is {labelBytes[i]}, not a digit 0–9.");
        return new DigitSet((int)rows, (int)cols, images[16..].ToArray(), labelBytes);
    }

    /// <summary>Encodes images and labels as IDX files (the inverse of <see cref="Parse"/>).</summary>
    public static (byte[] Images, byte[] Labels) ToIdx(int rows, int cols, ReadOnlySpan<byte> pixels, ReadOnlySpan<byte> labels)
    {
        if (rows <= 0 || cols <= 0 || pixels.Length != labels.Length * rows * cols)
            throw new ArgumentException($"{pixels.Length} pixel bytes do not make {labels.Length} images of {rows}×{cols}.");
        var images = new byte[16 + pixels.Length];
        BinaryPrimitives.WriteUInt32BigEndian(images, ImagesMagic);
        BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(4), labels.Length);
        BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(8), rows);
        BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(12), cols);
        pixels.CopyTo(images.AsSpan(16));
        var labelFile = new byte[8 + labels.Length];
        BinaryPrimitives.WriteUInt32BigEndian(labelFile, LabelsMagic);
        BinaryPrimitives.WriteInt32BigEndian(labelFile.AsSpan(4), labels.Length);
        labels.CopyTo(labelFile.AsSpan(8));
        return (images, labelFile);
    }

    private int CheckIndex(int index)
    {
        if ((uint)index >= (uint)Count)
            throw new ArgumentOutOfRangeException(nameof(index), $"Digit {index} is outside the set of {Count}.");
        return index;
    }
}
