using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Saliency.Server.Hosting;
using Saliency.Server.Telemetry;

namespace Saliency.Server.Inference;

/// <summary>One instance waiting for, or being given, its answer.</summary>
internal abstract class WorkItem(ServedModel model, float[] image, CancellationToken cancellationToken)
{
    public ServedModel Model { get; } = model;

    public float[] Image { get; } = image;

    /// <summary>The client's disconnect and the request's deadline.</summary>
    public CancellationToken CancellationToken { get; } = cancellationToken;

    /// <summary>Instances with equal keys may share a batch.</summary>
    public abstract string BatchKey { get; }

    /// <summary>Completes with the prediction or explanation, or the exception; continuations run off the worker.</summary>
    public TaskCompletionSource<object> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

internal sealed class PredictItem(ServedModel model, float[] image, CancellationToken cancellationToken)
    : WorkItem(model, image, cancellationToken)
{
    public override string BatchKey => "predict|" + Model.Name;
}

internal sealed class ExplainItem(ServedModel model, float[] image, int? target, MethodSettings settings, CancellationToken cancellationToken)
    : WorkItem(model, image, cancellationToken)
{
    public int? Target { get; } = target;

    public MethodSettings Settings { get; } = settings;

    public override string BatchKey { get; } = "explain|" + model.Name + "|" + settings.Key;
}

/// <summary>
/// The bounded work queue and dynamic batcher. Requests put their instances into a bounded
/// <see cref="Channel{T}"/>; when it is full <see cref="TryEnqueue"/> fails at once (the endpoint answers 503 with
/// Retry-After), so the queue, and the memory it holds, never grows past <see cref="ServeOptions.QueueCapacity"/>.
/// One dispatcher reads the channel only when one of <see cref="ServeOptions.Workers"/> execution slots is free,
/// then gathers compatible instances (same model, same kind and method settings) up to
/// <see cref="ServeOptions.MaxBatch"/>, waiting at most <see cref="ServeOptions.MaxBatchDelay"/> for them — the
/// dynamic batching of TF-Serving and Triton. An incompatible instance closes the batch and starts the next one,
/// which keeps arrival order. Instances whose client left or whose deadline passed are dropped unread.
/// </summary>
internal sealed class WorkScheduler : IAsyncDisposable
{
    private readonly Channel<WorkItem> _queue;
    private readonly IExplanationService _service;
    private readonly ServeOptions _options;
    private readonly ServerMetrics _metrics;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _slots;
    private readonly Task _dispatcher;
    private readonly CancellationTokenSource _abort = new();
    private int _running; // batches executing
    private volatile bool _stopping;
    private Task<bool>? _drain;

    public WorkScheduler(IExplanationService service, ServeOptions options, ServerMetrics metrics, ILogger logger)
    {
        _service = service;
        _options = options;
        _metrics = metrics;
        _logger = logger;
        _slots = new SemaphoreSlim(options.Workers, options.Workers);
        _queue = Channel.CreateBounded<WorkItem>(new BoundedChannelOptions(options.QueueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait, // TryWrite then fails instead of dropping anything
        });
        _dispatcher = Task.Run(DispatchAsync);
    }

    /// <summary>False once shutdown started: new work is refused, accepted work still runs.</summary>
    public bool Accepting => !_stopping;

    /// <summary>Queues <paramref name="item"/>; false (nothing queued) when the queue is full or the server is stopping.</summary>
    public bool TryEnqueue(WorkItem item)
    {
        if (_stopping) return false;
        _metrics.QueuedDelta(1);
        if (_queue.Writer.TryWrite(item))
        {
            _metrics.Accepted();
            return true;
        }
        _metrics.QueuedDelta(-1);
        return false;
    }

    private async Task DispatchAsync()
    {
        var reader = _queue.Reader;
        WorkItem? carry = null;
        var wait = new CancellationTokenSource();
        while (true)
        {
            await _slots.WaitAsync().ConfigureAwait(false);
            var first = carry ?? await ReadLiveAsync(reader).ConfigureAwait(false);
            carry = null;
            if (first is null)
            {
                _slots.Release();
                wait.Dispose();
                return; // completed and empty: shutdown
            }
            var batch = new List<WorkItem> { first };
            long deadline = Stopwatch.GetTimestamp() + (long)(_options.MaxBatchDelay.TotalSeconds * Stopwatch.Frequency);
            while (batch.Count < _options.MaxBatch)
            {
                if (reader.TryRead(out var next))
                {
                    _metrics.QueuedDelta(-1);
                    if (next.CancellationToken.IsCancellationRequested) { Drop(next, "queued"); continue; }
                    if (next.BatchKey != first.BatchKey) { carry = next; break; }
                    batch.Add(next);
                    continue;
                }
                var remaining = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
                if (remaining <= TimeSpan.Zero) break;
                if (!wait.TryReset())
                {
                    // The previous batch's delay fired: a cancelled source cannot be reset.
                    wait.Dispose();
                    wait = new CancellationTokenSource();
                }
                wait.CancelAfter(remaining);
                try
                {
                    if (!await reader.WaitToReadAsync(wait.Token).ConfigureAwait(false)) break;
                }
                catch (OperationCanceledException)
                {
                    break; // the batch delay is over
                }
            }
            Interlocked.Increment(ref _running);
            _ = Task.Run(() => ExecuteAsync(batch));
        }
    }

    /// <summary>The next instance whose client still waits, or null when the channel is completed and empty.</summary>
    private async Task<WorkItem?> ReadLiveAsync(ChannelReader<WorkItem> reader)
    {
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
            while (reader.TryRead(out var item))
            {
                _metrics.QueuedDelta(-1);
                if (!item.CancellationToken.IsCancellationRequested) return item;
                Drop(item, "queued");
            }
        return null;
    }

    private void Drop(WorkItem item, string stage)
    {
        _metrics.Cancelled(stage);
        item.Completion.TrySetCanceled(item.CancellationToken);
    }

    private async Task ExecuteAsync(List<WorkItem> batch)
    {
        _metrics.InFlightDelta(batch.Count);
        try
        {
            var model = batch[0].Model;
            if (batch[0] is PredictItem)
            {
                _metrics.Batch("predict", batch.Count);
                await PredictAsync(model, batch).ConfigureAwait(false);
            }
            else
            {
                _metrics.Batch("explain", batch.Count);
                await ExplainAsync(model, batch.Cast<ExplainItem>().ToList()).ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            // A failure of the whole batch (e.g. ONNX Runtime refused the run): every instance gets it.
            foreach (var item in batch) item.Completion.TrySetException(e);
        }
        finally
        {
            _metrics.InFlightDelta(-batch.Count);
            _slots.Release();
            Interlocked.Decrement(ref _running);
        }
    }

    private async Task PredictAsync(ServedModel model, List<WorkItem> batch)
    {
        // One ORT run: the instances side by side along the batch axis.
        int d = model.InputSize;
        var images = new float[batch.Count * d];
        for (int i = 0; i < batch.Count; i++) batch[i].Image.CopyTo(images, i * d);
        var results = await _service.PredictAsync(model, images, batch.Count, _abort.Token).ConfigureAwait(false);
        for (int i = 0; i < batch.Count; i++) batch[i].Completion.TrySetResult(results[i]);
    }

    private async Task ExplainAsync(ServedModel model, List<ExplainItem> batch)
    {
        var inputs = batch.Select(i => new ExplainInput(i.Image, i.Target, i.CancellationToken)).ToArray();
        var outcomes = await _service.ExplainBatchAsync(model, batch[0].Settings, inputs, _abort.Token).ConfigureAwait(false);
        for (int i = 0; i < batch.Count; i++)
        {
            var (result, error) = outcomes[i];
            if (result is not null) batch[i].Completion.TrySetResult(result);
            else if (error is OperationCanceledException && batch[i].CancellationToken.IsCancellationRequested)
            {
                _metrics.Cancelled("running");
                batch[i].Completion.TrySetCanceled(batch[i].CancellationToken);
            }
            else batch[i].Completion.TrySetException(error ?? new InvalidOperationException("The explanation service returned neither a result nor an error."));
        }
    }

    /// <summary>
    /// Graceful stop: refuse new work, let the dispatcher empty the queue and the workers finish, within
    /// <paramref name="timeout"/>; whatever is left then is cancelled. Returns whether everything finished in time.
    /// </summary>
    public Task<bool> DrainAsync(TimeSpan timeout)
    {
        lock (_queue) return _drain ??= DrainCoreAsync(timeout);
    }

    private async Task<bool> DrainCoreAsync(TimeSpan timeout)
    {
        _stopping = true;
        _queue.Writer.TryComplete();
        var all = Task.Run(async () =>
        {
            await _dispatcher.ConfigureAwait(false);
            while (Volatile.Read(ref _running) > 0) await Task.Delay(10).ConfigureAwait(false);
        });
        bool finished = await all.WaitAsync(timeout).ContinueWith(t => t.IsCompletedSuccessfully, TaskScheduler.Default).ConfigureAwait(false);
        if (!finished)
        {
            _logger.LogWarning("Shutdown: work still running after {Timeout}; cancelling it.", timeout);
            _abort.Cancel();
            await all.ConfigureAwait(false);
        }
        return finished;
    }

    public async ValueTask DisposeAsync()
    {
        await DrainAsync(TimeSpan.Zero).ConfigureAwait(false);
        _abort.Dispose();
        _slots.Dispose();
    }
}
