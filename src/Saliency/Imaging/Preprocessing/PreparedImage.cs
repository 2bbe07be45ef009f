namespace Saliency.Imaging.Preprocessing;

/// <summary>
/// A picture prepared for a model by <see cref="Preprocess"/>: the input tensor [C, H, W], the crop the model saw,
/// and the geometry that maps the model's pixels back onto the original picture.
/// </summary>
/// <param name="Input">The model input, planar [C, H, W].</param>
/// <param name="Original">The picture as decoded.</param>
/// <param name="Crop">The resized, center-cropped picture the model saw (W × H).</param>
/// <param name="ResizedWidth">Width of the picture after resizing, before the crop.</param>
/// <param name="ResizedHeight">Height after resizing.</param>
/// <param name="CropX">Left column of the crop in the resized picture.</param>
/// <param name="CropY">Top row of the crop in the resized picture.</param>
internal sealed record PreparedImage(float[] Input, ImageBuffer Original, ImageBuffer Crop, int ResizedWidth, int ResizedHeight, int CropX, int CropY)
{
    /// <summary>
    /// A map over the model input (<paramref name="width"/> × <paramref name="height"/>, any multiple or fraction of the
    /// crop size) sampled at every pixel of the original picture: the centre of original pixel (u, v) lies at
    /// ((u + ½)·Wr/W₀ − CropX, (v + ½)·Hr/H₀ − CropY) in the crop (Wr × Hr the resized size), and takes the map value of
    /// the map pixel there (nearest). Pixels outside the crop, which the model never saw, get NaN.
    /// </summary>
    public float[] MapToOriginal(ReadOnlySpan<float> map, int width, int height)
    {
        if (map.Length != (long)width * height) throw new ArgumentException($"The map has {map.Length} values, not {width}×{height}.", nameof(map));
        int w0 = Original.Width, h0 = Original.Height;
        var result = new float[(long)w0 * h0];
        double sx = (double)ResizedWidth / w0, sy = (double)ResizedHeight / h0;
        double mx = (double)width / Crop.Width, my = (double)height / Crop.Height;
        for (int v = 0; v < h0; v++)
        {
            double cy = (v + 0.5) * sy - CropY;
            int row = (int)Math.Floor(cy * my);
            for (int u = 0; u < w0; u++)
            {
                double cx = (u + 0.5) * sx - CropX;
                int col = (int)Math.Floor(cx * mx);
                result[(long)v * w0 + u] = cy >= 0 && row < height && cx >= 0 && col < width ? map[row * width + col] : float.NaN;
            }
        }
        return result;
    }

    /// <summary>
    /// The map (values in [0, 1]) over the original picture, blended like <see cref="MapRenderer.Overlay"/> inside the
    /// crop; outside it the picture is shown at half brightness, marking what the model did not see.
    /// </summary>
    public ImageBuffer OverlayOnOriginal(ReadOnlySpan<float> map, int width, int height, float alpha, ColorMap colorMap = ColorMap.Hot)
    {
        if (!(alpha >= 0f && alpha <= 1f)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "The overlay opacity must lie in [0, 1].");
        var sampled = MapToOriginal(map, width, height);
        var under = Original.ToRgb().Pixels;
        var pixels = new byte[under.Length];
        for (int i = 0; i < sampled.Length; i++)
        {
            float t = sampled[i];
            if (float.IsNaN(t))
            {
                for (int c = 0; c < 3; c++) pixels[3 * i + c] = (byte)(under[3 * i + c] / 2);
                continue;
            }
            var (r, g, b) = MapRenderer.Lookup(colorMap, t);
            pixels[3 * i] = Blend(under[3 * i], r, alpha);
            pixels[3 * i + 1] = Blend(under[3 * i + 1], g, alpha);
            pixels[3 * i + 2] = Blend(under[3 * i + 2], b, alpha);
        }
        return new ImageBuffer(Original.Width, Original.Height, PixelFormat.Rgb, pixels);
    }

    private static byte Blend(byte under, float colour, float alpha) =>
        (byte)Math.Clamp((int)MathF.Round((1 - alpha) * under + alpha * ImageBuffer.ToByte(colour)), 0, 255);
}

/// <summary>Applies a <see cref="PreprocessSpec"/> to a picture for a model input of a given size.</summary>
internal static class Preprocess
{
    /// <summary>
    /// Resizes (bilinear) so the shorter side is the spec's (or, without one, so the crop just fits), center-crops to
    /// <paramref name="width"/> × <paramref name="height"/>, and normalises the planes: <c>(v · scale − mean[c]) / std[c]</c>.
    /// </summary>
    /// <exception cref="PreprocessSpecException">The spec's planes do not fit a model of <paramref name="channels"/> channels.</exception>
    public static PreparedImage Apply(ImageBuffer picture, PreprocessSpec spec, int channels, int height, int width)
    {
        ArgumentNullException.ThrowIfNull(picture);
        ArgumentNullException.ThrowIfNull(spec);
        spec.Validate();
        var order = spec.Channels switch
        {
            ChannelOrder.Auto => channels switch
            {
                1 => ChannelOrder.Gray,
                3 => ChannelOrder.Rgb,
                _ => throw new PreprocessSpecException(
                    $"the model input has {channels} channels; pictures give 1 (gray) or 3 (RGB/BGR) planes, so this model does not take pictures as they are."),
            },
            var o => o,
        };
        int planes = order == ChannelOrder.Gray ? 1 : 3;
        if (planes != channels)
            throw new PreprocessSpecException(
                $"the preprocessing '{spec.Source}' gives {planes} plane(s) ({order.ToString().ToUpperInvariant()}) but the model input has {channels} channel(s).");
        if (spec.Mean.Count != 1 && spec.Mean.Count != planes || spec.Std.Count != 1 && spec.Std.Count != planes)
            throw new PreprocessSpecException($"the preprocessing '{spec.Source}' has {spec.Mean.Count} means and {spec.Std.Count} stds for {planes} plane(s).");

        // Resize: the shorter side to the spec's length, but never below what the crop needs.
        double scale = Math.Max((double)width / picture.Width, (double)height / picture.Height);
        if (spec.ShorterSide(height, width) is { } shorter) scale = Math.Max(scale, (double)shorter / Math.Min(picture.Width, picture.Height));
        int rw = Math.Max(width, (int)Math.Round(picture.Width * scale));
        int rh = Math.Max(height, (int)Math.Round(picture.Height * scale));
        if (ImageLimits.Default.Check(rw, rh) is string tooLarge)
            throw new PreprocessSpecException($"the picture resized for the model would be {rw}×{rh}: {tooLarge}.");
        var resized = rw == picture.Width && rh == picture.Height ? picture : ImageTransforms.Resize(picture, rw, rh, ResizeFilter.Linear);
        int x0 = (rw - width) / 2, y0 = (rh - height) / 2;
        var crop = ImageTransforms.Crop(resized, x0, y0, width, height);

        var raw = crop.ToPlanarFloats(planes); // v / 255, luma for gray
        int n = width * height;
        var input = new float[planes * n];
        for (int p = 0; p < planes; p++)
        {
            int from = order == ChannelOrder.Bgr ? 2 - p : p;
            double mean = spec.Mean[spec.Mean.Count == 1 ? 0 : p], std = spec.Std[spec.Std.Count == 1 ? 0 : p];
            double k = spec.Scale * 255;
            for (int i = 0; i < n; i++) input[p * n + i] = (float)((raw[from * n + i] * k - mean) / std);
        }
        return new PreparedImage(input, picture, crop, rw, rh, x0, y0);
    }
}
