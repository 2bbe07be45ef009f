using System.Diagnostics;
using System.Numerics.Tensors;
using Saliency.Linalg.Covariance;
using Saliency.Linalg.Grid;
using Saliency.Solvers.Lp;

namespace Saliency.Solvers.Leg;

/// <summary>A black-box function returned NaN or ±∞ for a (perturbed) input.</summary>
internal sealed class NonFiniteFunctionValueException : InvalidOperationException
{
    /// <summary>Creates the exception.</summary>
    public NonFiniteFunctionValueException(string message) : base(message) { }
}

/// <summary>
/// The sampling stage of LEG: <c>y_c = (1/n) Σᵢ ỹᵢ z_{i,c}</c> per channel c, with <c>ỹᵢ = f(x₀ + U zᵢ) − f(x₀)</c>
/// (Luo, Barut, Jin: the moment whose Σ⁻¹-transform is the empirical LEG, and the data of the LEG-TV program).
/// </summary>
/// <param name="Grid">The grid of the perturbations.</param>
/// <param name="Channels">Number of channels C.</param>
/// <param name="Y">C×p moments, channel-major.</param>
/// <param name="SampleCount">n, the number of perturbed evaluations.</param>
/// <param name="BaselineValue">f(x₀).</param>
/// <param name="Covariance">The covariance the perturbations were drawn from.</param>
internal sealed record LegMoments(GridShape Grid, int Channels, double[] Y, int SampleCount, double BaselineValue, ICovarianceOperator Covariance)
{
    /// <summary>Where <see cref="LegEstimator.EstimateMoments"/> spent its time (null for moments built otherwise).</summary>
    public LegSamplingTimings? Timings { get; init; }

    /// <summary>The moment of channel <paramref name="channel"/> (length p).</summary>
    public ReadOnlySpan<double> Channel(int channel) => Y.AsSpan(channel * Grid.Count, Grid.Count);
}

/// <summary>
/// Wall-clock phases of the sampling stage (Stopwatch, disjoint: their sum is at most the stage's time).
/// <see cref="Forward"/> is the black box itself; the rest is LEG's overhead around it.
/// </summary>
/// <param name="Sampling">Drawing z ~ N(0, Σ) on the grid, upsampling and forming x₀ ± Uz.</param>
/// <param name="Forward">The n + 1 evaluations of f (the model's forward passes and the probability read-out).</param>
/// <param name="Moments">Accumulating y = (1/n) Σ ỹᵢ zᵢ.</param>
internal sealed record LegSamplingTimings(TimeSpan Sampling, TimeSpan Forward, TimeSpan Moments);

/// <summary>A LEG or LEG-TV saliency estimate on the grid.</summary>
/// <param name="Grid">The grid.</param>
/// <param name="Channels">Number of channels C.</param>
/// <param name="PerChannel">C×p signed estimates γ_c, channel-major.</param>
/// <param name="Map">The saliency map Σ_c |γ_c| (length p).</param>
/// <param name="Bounds">LEG-TV: the constraint level L used per channel (null for empirical LEG).</param>
/// <param name="Solutions">LEG-TV: the LP solutions with their certificates, one per channel (null for empirical LEG).</param>
internal sealed record LegResult(GridShape Grid, int Channels, double[] PerChannel, double[] Map, double[]? Bounds, TvLpSolution[]? Solutions)
{
    /// <summary>The estimate of channel <paramref name="channel"/> (length p).</summary>
    public ReadOnlySpan<double> Channel(int channel) => PerChannel.AsSpan(channel * Grid.Count, Grid.Count);
}

/// <summary>
/// LEG and LEG-TV saliency for a black-box batched function (Luo, Barut, Jin, <i>Statistically Consistent Saliency
/// Estimation</i>, 2019): <c>γ = Σ⁻¹ E[(f(x₀+z) − f(x₀)) z]</c>, its empirical estimate <c>Σ⁻¹y</c>, and the
/// total-variation-regularised LEG-TV <c>min ‖Dg‖₁ s.t. ‖D⁺ᵀ(y − Σg)‖∞ ≤ L</c>.
/// </summary>
/// <remarks>
/// <para>Perturbations are drawn per channel on the coarse grid from <c>N(0, Σ)</c> (independently for each channel),
/// upsampled to the image and added to x₀; the moments are accumulated batch by batch, so only
/// <see cref="LegOptions.BatchSize"/> perturbed inputs exist at any time. Draw i of channel c is draw number
/// <c>i·C + c</c> of the seeded Philox stream (<see cref="CovarianceSampling"/>), so the estimate depends on the seed
/// only, not on the batch size.</para>
/// <para>The final map sums absolute values over channels.</para>
/// </remarks>
internal static class LegEstimator
{
    /// <summary>Runs the sampling stage: n evaluations of f around <paramref name="x0"/> (C×H×W).</summary>
    /// <exception cref="ArgumentException">x0 does not have C·H·W entries, or the covariance/grid do not match.</exception>
    /// <exception cref="ArgumentOutOfRangeException">Invalid options or function sizes.</exception>
    /// <exception cref="Saliency.Kernels.Backends.NonFiniteValueException">x0 contains NaN or ±∞.</exception>
    /// <exception cref="NonFiniteFunctionValueException">f returned NaN or ±∞.</exception>
    public static LegMoments EstimateMoments(IBatchedScalarFunction f, ReadOnlySpan<float> x0, LegOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(f);
        options ??= new LegOptions();
        options.Validate();
        int channels = f.Channels, height = f.Height, width = f.Width;
        if (channels < 1 || height < 1 || width < 1)
            throw new ArgumentOutOfRangeException(nameof(f), $"The function reports an input of {channels}×{height}×{width}.");
        int pixels = checked(height * width);
        int inputLength = checked(channels * pixels);
        GridGuards.Length(x0.Length, inputLength, nameof(x0));
        GridGuards.Finite(x0, nameof(x0));

        var covariance = options.ResolveCovariance();
        var grid = options.Grid;
        int p = grid.Count;
        var upsampler = new PerturbationUpsampler(grid, height, width, options.Upsampling);

        long sampling = 0, forward = 0, accumulate = 0, mark = Stopwatch.GetTimestamp();
        var baseline = new double[1];
        f.Evaluate(x0, 1, baseline);
        forward += Stopwatch.GetTimestamp() - mark;
        CheckFinite(baseline, "f(x₀)");
        double f0 = baseline[0];

        int n = options.SampleCount;
        int sign = options.Antithetic ? 2 : 1;      // evaluations per draw
        int draws = n / sign;
        int drawsPerBatch = Math.Max(1, options.BatchSize / sign);
        var y = new double[channels * p];
        var z = new double[drawsPerBatch * channels * p];
        var zSingle = new float[drawsPerBatch * channels * p];
        var upsampled = new float[drawsPerBatch * inputLength];
        var inputs = new float[drawsPerBatch * sign * inputLength];
        var values = new double[drawsPerBatch * sign];

        for (int first = 0; first < draws; first += drawsPerBatch)
        {
            int count = Math.Min(drawsPerBatch, draws - first);
            mark = Stopwatch.GetTimestamp();
            var zBatch = z.AsSpan(0, count * channels * p);
            covariance.SampleBatchInto(options.Seed, (long)first * channels, zBatch);

            // U z for every (draw, channel) grid in one kernel call, then x₀ ± Uz per image.
            var zf = zSingle.AsSpan(0, zBatch.Length);
            TensorPrimitives.ConvertTruncating<double, float>(zBatch, zf);
            upsampler.Upsample(zf, upsampled.AsSpan(0, count * inputLength));
            for (int i = 0; i < count; i++)
                for (int s = 0; s < sign; s++)
                    PerturbationUpsampler.Combine(x0, upsampled.AsSpan(i * inputLength, inputLength), negate: s == 1,
                        inputs.AsSpan((i * sign + s) * inputLength, inputLength));

            long now = Stopwatch.GetTimestamp();
            sampling += now - mark;
            mark = now;
            var batchValues = values.AsSpan(0, count * sign);
            f.Evaluate(inputs.AsSpan(0, count * sign * inputLength), count * sign, batchValues);
            CheckFinite(batchValues, "f(x₀ + z)");
            now = Stopwatch.GetTimestamp();
            forward += now - mark;
            mark = now;

            for (int i = 0; i < count; i++)
            {
                // ỹ z for +z, plus ỹ(−z)(−z) for the antithetic partner: (ỹ₊ − ỹ₋) z.
                double weight = batchValues[i * sign] - f0;
                if (sign == 2) weight -= batchValues[i * sign + 1] - f0;
                for (int c = 0; c < channels; c++)
                {
                    var yc = y.AsSpan(c * p, p);
                    TensorPrimitives.MultiplyAdd(zBatch.Slice((i * channels + c) * p, p), weight, yc, yc);
                }
            }
            accumulate += Stopwatch.GetTimestamp() - mark;
        }
        TensorPrimitives.Multiply(y, 1.0 / n, y);
        static TimeSpan Span(long ticks) => TimeSpan.FromSeconds((double)ticks / Stopwatch.Frequency);
        return new LegMoments(grid, channels, y, n, f0, covariance)
        {
            Timings = new LegSamplingTimings(Span(sampling), Span(forward), Span(accumulate)),
        };
    }

    /// <summary>Empirical LEG <c>γ̂_c = Σ⁻¹ y_c</c> per channel, map <c>Σ_c |γ̂_c|</c>.</summary>
    public static LegResult EmpiricalLeg(LegMoments moments)
    {
        ArgumentNullException.ThrowIfNull(moments);
        int p = moments.Grid.Count;
        var gamma = new double[moments.Channels * p];
        for (int c = 0; c < moments.Channels; c++)
            moments.Covariance.Solve(moments.Channel(c), gamma.AsSpan(c * p, p));
        return new LegResult(moments.Grid, moments.Channels, gamma, AbsoluteSumOverChannels(gamma, moments.Channels, p), null, null);
    }

    /// <summary>
    /// The theoretical constraint level <c>L = √(2‖D⁺‖₁ log(p/ε)/n)</c>. <c>‖D⁺‖₁</c> (largest column absolute sum) is
    /// exact up to p = <see cref="NeumannLaplacian.ExactL1NormMaxCount"/> and an upper bound above (a more
    /// conservative L); see <see cref="NeumannLaplacian.DPseudoInverseL1Norm"/>.
    /// </summary>
    public static double TheoreticalBound(GridShape grid, int sampleCount, double epsilon)
    {
        grid.Validate(nameof(grid));
        ArgumentOutOfRangeException.ThrowIfLessThan(sampleCount, 1);
        if (!(epsilon > 0 && epsilon < 1)) throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "ε must lie in (0, 1).");
        double norm = NeumannLaplacian.For(grid).DPseudoInverseL1Norm(out _);
        return Math.Sqrt(2 * norm * Math.Log(grid.Count / epsilon) / sampleCount);
    }

    /// <summary>
    /// The LEG-TV program for one channel: <c>b = D⁺ᵀy_c</c> and <c>K = D⁺ᵀΣ</c> (the stencil <c>σ²D</c> for the paper's
    /// covariance), at level <paramref name="bound"/>.
    /// </summary>
    public static TvLpProblem BuildProblem(LegMoments moments, int channel, double bound)
    {
        ArgumentNullException.ThrowIfNull(moments);
        ArgumentOutOfRangeException.ThrowIfNegative(channel);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(channel, moments.Channels);
        var grid = moments.Grid;
        var b = new double[grid.DifferenceCount];
        NeumannLaplacian.For(grid).ApplyDPseudoInverseTranspose(moments.Channel(channel), b);
        return moments.Covariance is TvCovariance tv
            ? TvLpProblem.ForPaperCovariance(grid, b, bound, tv.Variance)
            : TvLpProblem.ForOperator(grid, b, bound, new CovarianceConstraint(moments.Covariance));
    }

    /// <summary>
    /// LEG-TV per channel, solved by the primal-dual LP solver (<see cref="TvLpSolver"/>), with L chosen by
    /// <paramref name="options"/>; the LP leaves the constant of g free, and it is fixed to the mean of the empirical
    /// LEG of the channel (the paper's consistent mean estimate). Channels are solved in parallel. Each channel's
    /// <see cref="TvLpSolution"/> (status and duality certificate) is returned in <see cref="LegResult.Solutions"/>;
    /// a solve that stops at the iteration cap is reported there, not hidden.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Invalid options, or a grid of a single pixel.</exception>
    public static LegResult LegTv(LegMoments moments, LegTvOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(moments);
        options ??= new LegTvOptions();
        options.Validate();
        int p = moments.Grid.Count, channels = moments.Channels;
        var empirical = EmpiricalLeg(moments);
        var solutions = new TvLpSolution[channels];
        var bounds = new double[channels];
        double theoretical = options.BoundRule == LegTvBoundRule.Theoretical
            ? TheoreticalBound(moments.Grid, moments.SampleCount, options.Epsilon) : 0;

        var problems = new TvLpProblem[channels];
        for (int c = 0; c < channels; c++)
        {
            var atZero = BuildProblem(moments, c, 0);
            bounds[c] = options.BoundRule switch
            {
                LegTvBoundRule.RelativeToMax => options.BoundFactor * TvLpSolver.MaxBound(atZero),
                LegTvBoundRule.Theoretical => theoretical,
                _ => options.Bound,
            };
            problems[c] = atZero.WithBound(bounds[c]);
        }
        // One batch: its workers lend their cores to the channels' LPs still running (a cancelled LP surfaces as one
        // OperationCanceledException, not an AggregateException).
        var means = new double[channels];
        for (int c = 0; c < channels; c++) means[c] = TensorPrimitives.Sum(empirical.Channel(c)) / p;
        TvLpSolver.SolveBatch(problems, options.Solver, targetMeans: means).CopyTo(solutions, 0);

        var g = new double[channels * p];
        for (int c = 0; c < channels; c++)
            solutions[c].G.AsSpan().CopyTo(g.AsSpan(c * p, p));
        return new LegResult(moments.Grid, channels, g, AbsoluteSumOverChannels(g, channels, p), bounds, solutions);
    }

    /// <summary>
    /// The LEG-TV solution path over several levels <c>L = K_L · L_max</c> (one result per factor, in input order):
    /// per channel, the LPs are solved from the largest L down, each warm-started from the previous one
    /// (<see cref="TvLpSolver.SolvePath"/>) — the paper's way of choosing L by inspecting the path.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A factor is negative or not finite.</exception>
    public static LegResult[] LegTvPath(LegMoments moments, IReadOnlyList<double> boundFactors, TvLpOptions? solver = null)
    {
        ArgumentNullException.ThrowIfNull(moments);
        ArgumentNullException.ThrowIfNull(boundFactors);
        foreach (double k in boundFactors)
            if (!(k >= 0) || !double.IsFinite(k))
                throw new ArgumentOutOfRangeException(nameof(boundFactors), k, "Every K_L must be finite and ≥ 0.");
        solver ??= new TvLpOptions();
        LegTvOptions.CheckSolver(solver, nameof(solver));
        int p = moments.Grid.Count, channels = moments.Channels, count = boundFactors.Count;
        var empirical = EmpiricalLeg(moments);
        var perChannel = new TvLpSolution[channels][];
        var bounds = new double[channels][];
        Parallel.For(0, channels, new ParallelOptions { CancellationToken = solver.CancellationToken }, c =>
        {
            var atZero = BuildProblem(moments, c, 0);
            double lMax = TvLpSolver.MaxBound(atZero);
            bounds[c] = boundFactors.Select(k => k * lMax).ToArray();
            double mean = TensorPrimitives.Sum(empirical.Channel(c)) / p;
            perChannel[c] = TvLpSolver.SolvePath(atZero, bounds[c], solver with { TargetMean = mean });
        });

        var results = new LegResult[count];
        for (int j = 0; j < count; j++)
        {
            var g = new double[channels * p];
            var solutions = new TvLpSolution[channels];
            var levels = new double[channels];
            for (int c = 0; c < channels; c++)
            {
                solutions[c] = perChannel[c][j];
                levels[c] = bounds[c][j];
                solutions[c].G.AsSpan().CopyTo(g.AsSpan(c * p, p));
            }
            results[j] = new LegResult(moments.Grid, channels, g, AbsoluteSumOverChannels(g, channels, p), levels, solutions);
        }
        return results;
    }

    private static double[] AbsoluteSumOverChannels(double[] values, int channels, int p)
    {
        var map = new double[p];
        for (int c = 0; c < channels; c++)
            for (int k = 0; k < p; k++)
                map[k] += Math.Abs(values[c * p + k]);
        return map;
    }

    private static void CheckFinite(ReadOnlySpan<double> values, string what)
    {
        for (int i = 0; i < values.Length; i++)
            if (!double.IsFinite(values[i]))
                throw new NonFiniteFunctionValueException($"The function returned {values[i]} for {what} (batch entry {i}).");
    }

    /// <summary>K = D⁺ᵀΣ of a general covariance operator for the LP solver's operator form.</summary>
    private sealed class CovarianceConstraint(ICovarianceOperator covariance) : ITvConstraintOperator
    {
        public int InputLength => covariance.Shape.Count;

        public int OutputLength => covariance.Shape.DifferenceCount;

        public void Apply(ReadOnlySpan<double> g, Span<double> result) => covariance.ApplyDPseudoInverseTransposeSigma(g, result);

        public void ApplyTranspose(ReadOnlySpan<double> v, Span<double> result) => covariance.ApplySigmaDPseudoInverse(v, result);
    }
}
