using NUnit.Framework;
using Saliency.Linalg.Grid;
using Saliency.Solvers.Fista;
using Saliency.Solvers.Lp;
using Saliency.Solvers.Tests.Lp;

namespace Saliency.Solvers.Tests.Fista;

/// <summary>
/// Cancellation reaches the iterative solvers: a token cancelled from inside the n-th product (curvature pass for
/// FISTA, constraint operator for PDHG) stops the solve with OperationCanceledException within one iteration (FISTA)
/// or one check window (PDHG), counted in products — no timing.
/// </summary>
[TestFixture]
public sealed class SolverCancellationTests
{
    [Test]
    public void FistaStopsAtTheNextIterationAfterCancellation()
    {
        var f = DenseQuadratic.Random(40, 1e-3, seed: 3);
        var full = FistaSolver.Solve(f, [0.01], new FistaOptions { Tolerance = 1e-12, MaxIterations = 400 });
        int uncancelledCalls = f.Calls;
        Assert.That(uncancelledCalls, Is.GreaterThan(50), "the uncancelled solve must run long enough to be cut");

        using var cts = new CancellationTokenSource();
        var counting = new CancellingQuadratic(DenseQuadratic.Random(40, 1e-3, seed: 3), cts, cancelAt: 20);
        Assert.Throws<OperationCanceledException>(() =>
            FistaSolver.Solve(counting, [0.01], new FistaOptions { Tolerance = 1e-12, MaxIterations = 400, CancellationToken = cts.Token }));
        // The 20th pass cancels; at most the backtracking trials of that same iteration may follow it.
        Assert.That(counting.Calls, Is.InRange(20, 20 + 4));
        Assert.That(full[0].Iterations, Is.GreaterThan(counting.Calls));
    }

    [Test]
    public void FistaWithACancelledTokenRunsNoPass()
    {
        var f = DenseQuadratic.Random(10, 0.1, seed: 4);
        Assert.Throws<OperationCanceledException>(() =>
            FistaSolver.Solve(f, [0.0], new FistaOptions { CancellationToken = new CancellationToken(canceled: true) }));
        Assert.That(f.Calls, Is.Zero);
    }

    [Test]
    public void PdhgStopsWithinOneCheckWindowAfterCancellation()
    {
        var shape = new GridShape(20, 17);
        var (b, _) = LpReference.Instance(shape, 8, structured: true, 0.1);
        double bound = 0.1 * b.Max(Math.Abs);
        var options = new TvLpOptions { RelativeTolerance = 1e-10, CheckInterval = 16 };

        var plain = new CountingOperator(new ScaledDifferenceOperator(shape, 0.1), null, int.MaxValue);
        TvLpSolver.Solve(TvLpProblem.ForOperator(shape, b, bound, plain), options);

        using var cts = new CancellationTokenSource();
        const int cancelAt = 100;
        var counting = new CountingOperator(new ScaledDifferenceOperator(shape, 0.1), cts, cancelAt);
        Assert.Throws<OperationCanceledException>(() =>
            TvLpSolver.Solve(TvLpProblem.ForOperator(shape, b, bound, counting), options with { CancellationToken = cts.Token }));
        // One window of 16 iterations (each a product with K and Kᵀ) plus its check's products, at most.
        Assert.That(counting.Applications, Is.InRange(cancelAt, cancelAt + 4 * (options.CheckInterval + 2)));
        Assert.That(plain.Applications, Is.GreaterThan(counting.Applications + 4 * (options.CheckInterval + 2)),
            "the uncancelled solve must run well past the cancellation point");
    }

    private sealed class CancellingQuadratic(DenseQuadratic inner, CancellationTokenSource cts, int cancelAt) : IBatchedQuadratic
    {
        public int Calls { get; private set; }
        public int Dimension => inner.Dimension;
        public ReadOnlySpan<double> Linear => inner.Linear;
        public double? LipschitzBound => inner.LipschitzBound;

        public void MultiplyCurvature(ReadOnlySpan<double> x, Span<double> qx, int count)
        {
            inner.MultiplyCurvature(x, qx, count);
            if (++Calls == cancelAt) cts.Cancel();
        }
    }

    private sealed class CountingOperator(ITvConstraintOperator inner, CancellationTokenSource? cts, int cancelAt) : ITvConstraintOperator
    {
        public int Applications { get; private set; }
        public int InputLength => inner.InputLength;
        public int OutputLength => inner.OutputLength;

        public void Apply(ReadOnlySpan<double> g, Span<double> result)
        {
            inner.Apply(g, result);
            Count();
        }

        public void ApplyTranspose(ReadOnlySpan<double> v, Span<double> result)
        {
            inner.ApplyTranspose(v, result);
            Count();
        }

        private void Count()
        {
            if (++Applications == cancelAt) cts?.Cancel();
        }
    }
}
