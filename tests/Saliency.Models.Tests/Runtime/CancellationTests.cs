using NUnit.Framework;
using Saliency.Models.Runtime;
using Ort = Microsoft.ML.OnnxRuntime;

namespace Saliency.Models.Tests.Runtime;

/// <summary>
/// Run/RunInto take a CancellationToken whose cancellation sets <c>RunOptions.Terminate</c>; ONNX Runtime then stops
/// between operators and the call throws <see cref="OperationCanceledException"/>. The model is a chain of 2,000
/// 512×512 MatMuls (≈ 540 GFLOP, many seconds on one thread), cancelled from a timer thread shortly after the run starts.
/// What is asserted is the exception — its type, its token and, as inner exception, ONNX Runtime's own error, which
/// shows that the native run was stopped by the flag — never a time.
/// </summary>
[TestFixture]
internal class CancellationTests
{
    private const int N = 512;
    private static readonly Lazy<byte[]> Chain = new(() => RuntimeTestModels.MatMulChain(N, depth: 2_000));

    [Test]
    public void Run_CancelledFromAnotherThread_ThrowsOperationCanceled()
    {
        using var session = InferenceSession.Create(Chain.Value);
        var x = new FloatTensor("x", RuntimeTestModels.RandomData(N * N, seed: 1), [N, N]);
        using var cts = new CancellationTokenSource();
        cts.CancelAfter(TimeSpan.FromMilliseconds(500));

        var ex = Assert.Throws<OperationCanceledException>(() => session.Run([x], cancellationToken: cts.Token));
        Assert.That(ex!.CancellationToken, Is.EqualTo(cts.Token));
        Assert.That(ex.InnerException, Is.InstanceOf<Ort.OnnxRuntimeException>(), "ONNX Runtime itself stopped the run");
        Assert.That(ex.InnerException!.Message, Does.Contain("terminate").IgnoreCase);
    }

    [Test]
    public void RunInto_CancelledFromAnotherThread_ThrowsOperationCanceled_AndTheSessionStillWorks()
    {
        using var session = InferenceSession.Create(Chain.Value);
        float[] data = RuntimeTestModels.RandomData(N * N, seed: 2);
        var x = new FloatTensor("x", data, [N, N]);
        var y = new FloatTensor("y", new float[N * N], [N, N]);
        using var cts = new CancellationTokenSource();
        var canceller = new Thread(() =>
        {
            Thread.Sleep(500);
            cts.Cancel();
        });
        canceller.Start();
        var ex = Assert.Throws<OperationCanceledException>(() => session.RunInto([x], [y], cts.Token));
        canceller.Join();
        Assert.That(ex!.InnerException, Is.InstanceOf<Ort.OnnxRuntimeException>());

        // Terminate was set on that run's own RunOptions only: the same session runs again, here on one row
        // (M is dynamic), and y = x·I^2000 = x exactly (every product has one nonzero term).
        float[] row = RuntimeTestModels.RandomData(N, seed: 3);
        using var fresh = new CancellationTokenSource();
        Assert.That(session.Run([new FloatTensor("x", row, [1, N])], cancellationToken: fresh.Token)[0].Data, Is.EqualTo(row));
    }

    [Test]
    public void AlreadyCancelledToken_ThrowsBeforeAnyNativeCall()
    {
        using var session = InferenceSession.Create(RuntimeTestModels.Mlp());
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var ex = Assert.Throws<OperationCanceledException>(() => session.Run([new FloatTensor("x", new float[4], [1, 4])], cancellationToken: cts.Token));
        Assert.That(ex!.InnerException, Is.Null, "refused before ONNX Runtime was called");
        // Validation still comes first: a bad tensor is reported as such even with a cancelled token.
        Assert.Throws<TensorShapeException>(() => session.Run([new FloatTensor("x", new float[3], [1, 4])], cancellationToken: cts.Token));
    }

    [Test]
    public void CancellableToken_NotCancelled_GivesTheSameResultsAsNoToken()
    {
        using var session = InferenceSession.Create(RuntimeTestModels.Mlp());
        float[] x = RuntimeTestModels.RandomData(5 * 4, seed: 9);
        using var cts = new CancellationTokenSource();
        var a = session.Run([new FloatTensor("x", x, [5, 4])], cancellationToken: cts.Token);
        var y = new float[15];
        session.RunInto([new FloatTensor("x", x, [5, 4])], [new FloatTensor("y", y, [5, 3])], cts.Token);
        InferenceSessionTests.AssertClose(a[0].Data, RuntimeTestModels.MlpReference(x, 5));
        Assert.That(y, Is.EqualTo(a[0].Data));
    }
}
