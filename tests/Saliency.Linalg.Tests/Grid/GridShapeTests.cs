using NUnit.Framework;
using Saliency.Kernels.Ops.PrimalDual;
using Saliency.Linalg.Grid;
using Saliency.TestSupport;

namespace Saliency.Linalg.Tests.Grid;

/// <summary>
/// The difference layout's counts (GridShape, which takes m from the TV kernel, and the fused primal-dual kernel's
/// count) against the dense operator D written out independently in <see cref="DenseGridDifference"/>: m is its row
/// count, and its first (p1−1)·p2 rows are the vertical differences (the two columns they touch are p2 apart).
/// </summary>
[TestFixture]
internal sealed class GridShapeTests
{
    [TestCase(1, 1)]
    [TestCase(1, 6)]
    [TestCase(5, 1)]
    [TestCase(3, 4)]
    [TestCase(7, 5)]
    [TestCase(28, 28)]
    public void CountsMatchTheDenseOperator(int p1, int p2)
    {
        var entries = DenseGridDifference.Entries(p1, p2).ToArray();
        int m = entries.Length == 0 ? 0 : entries.Max(e => e.Row) + 1;
        var shape = new GridShape(p1, p2);
        Assert.That(shape.DifferenceCount, Is.EqualTo(m));
        Assert.That(shape.DifferenceCount, Is.EqualTo(2 * p1 * p2 - p1 - p2));
        Assert.That(PrimalDualTvStep.EdgeCount(p1, p2), Is.EqualTo(m));
        var vertical = entries.GroupBy(e => e.Row).Where(g => g.Max(e => e.Col) - g.Min(e => e.Col) == p2).Select(g => g.Key).ToArray();
        Assert.That(shape.VerticalDifferenceCount, Is.EqualTo(vertical.Length));
        Assert.That(vertical, Is.EqualTo(Enumerable.Range(0, vertical.Length)), "vertical differences come first");
        Assert.That(shape.HorizontalDifferenceCount, Is.EqualTo(m - vertical.Length));
    }

    [Test]
    public void AnEmptyShapeHasNoDifferenceCount() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new GridShape(0, 3).DifferenceCount);
}
