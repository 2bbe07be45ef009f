using NUnit.Framework;
using MathNet.Numerics.LinearAlgebra;
using Saliency.Linalg.Grid;

namespace Saliency.Linalg.Tests.Grid;

/// <summary>Naive dense references for the grid operators, built straight from their definitions.</summary>
internal static class GridDense
{
    /// <summary>The orthonormal 2-D DCT-II matrix (p×p): entry ((k1,k2),(n1,n2)) = s_k1 s_k2 cos(π(2n1+1)k1/2p1) cos(π(2n2+1)k2/2p2).</summary>
    public static Matrix<double> DctMatrix(GridShape shape)
    {
        int p1 = shape.Rows, p2 = shape.Cols, p = shape.Count;
        var m = Matrix<double>.Build.Dense(p, p);
        for (int k1 = 0; k1 < p1; k1++)
        for (int k2 = 0; k2 < p2; k2++)
        for (int n1 = 0; n1 < p1; n1++)
        for (int n2 = 0; n2 < p2; n2++)
        {
            double s1 = k1 == 0 ? Math.Sqrt(1.0 / p1) : Math.Sqrt(2.0 / p1);
            double s2 = k2 == 0 ? Math.Sqrt(1.0 / p2) : Math.Sqrt(2.0 / p2);
            m[k1 * p2 + k2, n1 * p2 + n2] = s1 * s2
                * Math.Cos(Math.PI * (2 * n1 + 1) * k1 / (2.0 * p1))
                * Math.Cos(Math.PI * (2 * n2 + 1) * k2 / (2.0 * p2));
        }
        return m;
    }

    /// <summary>The dense anisotropic forward-difference matrix D (m×p) in the layout documented on <see cref="GridShape"/>.</summary>
    public static Matrix<double> DifferenceMatrix(GridShape shape) => Fill(Matrix<double>.Build.Dense(shape.DifferenceCount, shape.Count), shape);

    /// <summary>The same D stored sparse (cheap products on 28×28 and larger grids).</summary>
    public static Matrix<double> SparseDifferenceMatrix(GridShape shape) => Fill(Matrix<double>.Build.Sparse(shape.DifferenceCount, shape.Count), shape);

    /// <summary>Dense DᵀD = Σ over edges (a, b) of (e_a − e_b)(e_a − e_b)ᵀ, assembled edge by edge from D's rows.</summary>
    public static Matrix<double> Laplacian(GridShape shape)
    {
        var d = SparseDifferenceMatrix(shape);
        var l = Matrix<double>.Build.Dense(shape.Count, shape.Count);
        foreach (var (row, col, value) in d.EnumerateIndexed(Zeros.AllowSkip))
        {
            foreach (var (row2, col2, value2) in d.Row(row).EnumerateIndexed(Zeros.AllowSkip).Select(t => (row, t.Item1, t.Item2)))
                l[col, col2] += value * value2;
        }
        return l;
    }

    private static Matrix<double> Fill(Matrix<double> d, GridShape shape)
    {
        foreach (var (row, col, value) in Saliency.TestSupport.DenseGridDifference.Entries(shape.Rows, shape.Cols)) d[row, col] = value;
        return d;
    }

    /// <summary>MathNet's SVD pseudo-inverse, with the empty and the all-zero matrix (where MathNet returns ∞ or throws) handled as 0.</summary>
    public static Matrix<double> PseudoInverse(Matrix<double> m)
    {
        if (m.RowCount == 0 || m.ColumnCount == 0 || m.Enumerate().All(v => v == 0))
            return Matrix<double>.Build.Dense(m.ColumnCount, m.RowCount);
        return m.PseudoInverse();
    }

    public static double[] RandomVector(int length, int seed)
    {
        var rng = new Random(seed);
        var v = new double[length];
        for (int i = 0; i < length; i++)
            v[i] = 2 * rng.NextDouble() - 1;
        return v;
    }

    public static double MaxAbsDifference(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        Assert.That(a.Length, Is.EqualTo(b.Length));
        double max = 0;
        for (int i = 0; i < a.Length; i++)
            max = Math.Max(max, Math.Abs(a[i] - b[i]));
        return max;
    }
}
