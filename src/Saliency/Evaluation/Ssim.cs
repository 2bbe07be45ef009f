namespace Saliency.Evaluation;

/// <summary>
/// The structural similarity index (Wang, Bovik, Sheikh, Simoncelli, IEEE TIP 2004, eq. 13) between two
/// single-channel pictures with values in [0, 1] (the maps' visualisations), as scikit-image's
/// <c>structural_similarity</c> computes it by default: a <b>uniform</b> w×w window (w = 7), sample statistics
/// (covariances normalised by N − 1, N = w²), data range 1, K1 = 0.01, K2 = 0.03, and the mean of the local index
/// over every window that lies fully inside the picture.
/// </summary>
/// <remarks>
/// Per window, with means μ, sample variances σ² and covariance σ_xy:
/// <c>SSIM = (2μxμy + C1)(2σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2))</c>, <c>C1 = (K1·R)²</c>, <c>C2 = (K2·R)²</c>, R = 1.
/// Identical pictures give exactly 1. A uniform window rather than Wang et al.'s 11×11 Gaussian (σ = 1.5) because maps
/// on coarse grids (LEG) can be smaller than 11 a side; a picture smaller than w uses w = min(H, W).
/// </remarks>
internal static class Ssim
{
    /// <summary>K1 of Wang et al.</summary>
    public const double K1 = 0.01;

    /// <summary>K2 of Wang et al.</summary>
    public const double K2 = 0.03;

    /// <summary>The default window side.</summary>
    public const int DefaultWindow = 7;

    /// <summary>Mean SSIM of <paramref name="x"/> and <paramref name="y"/>, both <paramref name="height"/>×<paramref name="width"/> row-major.</summary>
    /// <param name="x">First picture.</param>
    /// <param name="y">Second picture.</param>
    /// <param name="height">Rows.</param>
    /// <param name="width">Columns.</param>
    /// <param name="window">Window side w (≥ 2); min(w, H, W) is used.</param>
    /// <param name="dataRange">R, the dynamic range of the values (1 for [0, 1] pictures).</param>
    /// <exception cref="EvaluationInputException">Sizes do not match, the picture is smaller than 2×2, the window is below 2, R ≤ 0, or a value is NaN/∞.</exception>
    public static double Compute(ReadOnlySpan<float> x, ReadOnlySpan<float> y, int height, int width, int window = DefaultWindow, double dataRange = 1)
    {
        if (height < 2 || width < 2)
            throw new EvaluationInputException($"SSIM needs a picture of at least 2×2, got {height}×{width}.", nameof(height));
        if (x.Length != (long)height * width || y.Length != (long)height * width)
            throw new EvaluationInputException($"SSIM of {height}×{width} pictures needs {(long)height * width} values each, got {x.Length} and {y.Length}.", nameof(x));
        if (window < 2)
            throw new EvaluationInputException($"The SSIM window must be at least 2, got {window}.", nameof(window));
        if (!(dataRange > 0) || !double.IsFinite(dataRange))
            throw new EvaluationInputException($"The data range must be finite and > 0, got {dataRange}.", nameof(dataRange));
        for (int i = 0; i < x.Length; i++)
            if (!float.IsFinite(x[i]) || !float.IsFinite(y[i]))
                throw new EvaluationInputException($"Value {i} is NaN or infinite ({x[i]}, {y[i]}).", nameof(x));

        int w = Math.Min(window, Math.Min(height, width));
        double n = (double)w * w;
        double c1 = K1 * dataRange * (K1 * dataRange), c2 = K2 * dataRange * (K2 * dataRange);
        double total = 0;
        int count = 0;
        for (int r = 0; r + w <= height; r++)
            for (int c = 0; c + w <= width; c++)
            {
                // Two passes per window (means, then centred sums): no cancellation, and x = y gives σx² = σy² = σxy
                // bit for bit, hence exactly 1. O(HW·w²) is nothing next to the model runs that made the maps.
                double mx = 0, my = 0;
                for (int i = r; i < r + w; i++)
                    for (int j = c; j < c + w; j++)
                    {
                        mx += x[i * width + j];
                        my += y[i * width + j];
                    }
                mx /= n;
                my /= n;
                double vx = 0, vy = 0, cxy = 0;
                for (int i = r; i < r + w; i++)
                    for (int j = c; j < c + w; j++)
                    {
                        double a = x[i * width + j] - mx, b = y[i * width + j] - my;
                        vx += a * a;
                        vy += b * b;
                        cxy += a * b;
                    }
                // Sample statistics (N − 1), as scikit-image's use_sample_covariance.
                vx /= n - 1;
                vy /= n - 1;
                cxy /= n - 1;
                total += (2 * mx * my + c1) * (2 * cxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2));
                count++;
            }
        return total / count;
    }
}
