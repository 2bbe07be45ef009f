namespace Saliency.Solvers.Tests.Leg;

using NUnit.Framework;
using Saliency.Solvers.Leg;

/// <summary>f(x) = aᵀx (+ q·(1ᵀx)² when <paramref name="quadratic"/> ≠ 0) over C×H×W images, evaluated in double.</summary>
internal sealed class LinearFunction(int channels, int height, int width, double[] a, double quadratic = 0) : IBatchedScalarFunction
{
    public int Channels => channels;
    public int Height => height;
    public int Width => width;
    public int Calls { get; private set; }
    public int MaxBatch { get; private set; }

    public void Evaluate(ReadOnlySpan<float> batch, int count, Span<double> values)
    {
        Calls++;
        MaxBatch = Math.Max(MaxBatch, count);
        int d = channels * height * width;
        Assert.That(batch.Length, Is.EqualTo(count * d));
        for (int i = 0; i < count; i++)
        {
            double dot = 0, sum = 0;
            var x = batch.Slice(i * d, d);
            for (int k = 0; k < d; k++)
            {
                dot += a[k] * x[k];
                sum += x[k];
            }
            values[i] = dot + quadratic * sum * sum;
        }
    }
}

internal sealed class NaNFunction(int channels, int height, int width) : IBatchedScalarFunction
{
    public int Channels => channels;
    public int Height => height;
    public int Width => width;
    private int _calls;

    public void Evaluate(ReadOnlySpan<float> batch, int count, Span<double> values)
    {
        for (int i = 0; i < count; i++) values[i] = 1.0;
        if (_calls++ > 0) values[count - 1] = double.NaN; // the baseline is fine, a perturbed value is not
    }
}
