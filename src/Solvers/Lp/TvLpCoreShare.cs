namespace Saliency.Solvers.Lp;

/// <summary>
/// The cores of a batch (<see cref="TvLpSolver.SolveBatch"/>) shared among the LPs running at the moment: while fewer
/// workers are busy than the batch has cores (the queue is empty and some have finished, or a worker has not started
/// yet), each running LP splits its steps into row blocks over its share of the idle cores.
/// </summary>
/// <remarks>
/// Why: a batch is bound by its slowest LP. Three 224² LPs on two cores run two, then the third alone on one core while
/// the other idles (disc batch: 14,208 + 24,384 iterations of wall time for 54,784 iterations of work). The row-blocked
/// step gives the same iterates for every block count, so the answer may change from step to step without changing
/// the result.
/// </remarks>
internal sealed class TvLpCoreShare(int cores)
{
    private int _busy;

    /// <summary>Cores of the batch.</summary>
    public int Cores { get; } = Math.Max(1, cores);

    /// <summary>A worker starts taking LPs from the queue.</summary>
    public void Enter() => Interlocked.Increment(ref _busy);

    /// <summary>A worker found the queue empty and stops.</summary>
    public void Leave() => Interlocked.Decrement(ref _busy);

    /// <summary>Row blocks for one LP's next step: the cores over the busy workers, rounded down (at least 1).</summary>
    public int RowBlocks() => Math.Max(1, Cores / Math.Max(1, Volatile.Read(ref _busy)));
}
