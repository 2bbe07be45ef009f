using System.Collections.Concurrent;

namespace Saliency;

/// <summary>
/// The engine's own threads for its blocking work: ONNX Runtime runs, solver loops, sampling. At most
/// <c>count</c> threads, started on first demand and kept; the engine's concurrency limit ensures no more than
/// <c>count</c> work items are ever posted at once, so none waits here.
/// </summary>
/// <remarks>
/// Why not the thread pool (<c>Task.Run</c>): an explanation holds its thread for up to seconds inside synchronous
/// native and numerical code. The pool starts with one thread per core and adds more only about twice a second, so on a
/// small host a few explanations take all of it, and everything else that needs a pool thread waits behind them — a
/// server's request parsing, and the timers behind <see cref="CancellationTokenSource.CancelAfter(TimeSpan)"/>. A
/// request's deadline then fires late and its work runs on past it, and clients that leave are noticed late. On these
/// threads the pool stays free for the host. Work posted here sees <see cref="TaskScheduler.Default"/> as its current
/// scheduler, so the solvers' <c>Parallel.For</c> loops still spread over the pool as before.
/// </remarks>
internal sealed class ComputeThreads : IDisposable
{
    private readonly BlockingCollection<Action> _work = new();
    private readonly int _count;
    private readonly string _name;
    private int _started;

    public ComputeThreads(int count, string name)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        _count = count;
        _name = name;
    }

    /// <summary>
    /// Runs <paramref name="work"/> on one of the threads. The task ends with its result, or faults with the exception
    /// <paramref name="work"/> threw (awaiting rethrows it as it was, an <see cref="OperationCanceledException"/> too); it
    /// is cancelled without running when <paramref name="cancellationToken"/> is cancelled before a thread picks it up.
    /// </summary>
    public Task<T> Run<T>(Func<T> work, CancellationToken cancellationToken)
    {
        var completion = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (cancellationToken.IsCancellationRequested)
        {
            completion.SetCanceled(cancellationToken);
            return completion.Task;
        }
        void Execute()
        {
            if (cancellationToken.IsCancellationRequested)
            {
                completion.TrySetCanceled(cancellationToken);
                return;
            }
            try
            {
                completion.TrySetResult(work());
            }
            catch (Exception e)
            {
                completion.TrySetException(e);
            }
        }
        try
        {
            _work.Add(Execute);
        }
        catch (InvalidOperationException)
        {
            // Added after Dispose (CompleteAdding).
            completion.SetException(new ObjectDisposedException(nameof(SaliencyEngine)));
            return completion.Task;
        }
        StartThreadIfNeeded();
        return completion.Task;
    }

    private void StartThreadIfNeeded()
    {
        // One more thread per post until there are _count; posts never outnumber _count (the engine's slots).
        if (Volatile.Read(ref _started) >= _count) return;
        int index = Interlocked.Increment(ref _started);
        if (index > _count) return;
        var thread = new Thread(Loop) { IsBackground = true, Name = $"{_name} {index}" };
        thread.Start();
    }

    private void Loop()
    {
        foreach (var execute in _work.GetConsumingEnumerable()) execute();
    }

    /// <summary>Lets the threads finish what they run and end; later posts fail with <see cref="ObjectDisposedException"/>.</summary>
    public void Dispose() => _work.CompleteAdding();
}
