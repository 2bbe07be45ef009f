using NUnit.Framework;
using Saliency.Models.Runtime;
using Ort = Microsoft.ML.OnnxRuntime;

namespace Saliency.Models.Tests.Runtime;

/// <summary>A host's own SessionOptions or InferenceSession (official binding) used through our façade, and who disposes what.</summary>
[TestFixture]
internal class HostObjectsTests
{
    private static readonly float[] X = RuntimeTestModels.RandomData(3 * 4, seed: 21);

    private static float[] RunMlp(InferenceSession session) => session.Run([new FloatTensor("x", X, [3, 4])])[0].Data;

    [Test]
    public void HostSessionOptions_AreUsedAndStayTheHosts()
    {
        using var hostOptions = new Ort.SessionOptions { IntraOpNumThreads = 1 };
        hostOptions.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        using (var first = InferenceSession.Create(RuntimeTestModels.Mlp(), hostOptions))
            InferenceSessionTests.AssertClose(RunMlp(first), RuntimeTestModels.MlpReference(X, 3));

        // Not disposed by the façade: the host can go on using them, here for a session from a file.
        string path = Path.Combine(Path.GetTempPath(), $"saliency-host-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(path, RuntimeTestModels.Mlp());
        try
        {
            using var second = InferenceSession.Create(path, hostOptions);
            InferenceSessionTests.AssertClose(RunMlp(second), RuntimeTestModels.MlpReference(X, 3));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void HostSessionOptions_BadModel_IsStillATypedError()
    {
        using var hostOptions = new Ort.SessionOptions();
        var ex = Assert.Throws<OrtException>(() => InferenceSession.Create(new byte[] { 1, 2, 3 }, hostOptions));
        Assert.That(ex!.ErrorCode, Is.EqualTo(OrtErrorCode.InvalidProtobuf));
        Assert.Throws<ArgumentNullException>(() => InferenceSession.Create(RuntimeTestModels.Mlp(), (Ort.SessionOptions)null!));
    }

    [Test]
    public void Wrap_WithoutOwnership_LeavesTheHostsSessionAlive()
    {
        using var host = new TrackedSession(RuntimeTestModels.Mlp());
        var wrapper = InferenceSession.Wrap(host);
        Assert.That(wrapper.Inputs[0].Shape, Is.EqualTo(new long[] { -1, 4 }));
        Assert.That(wrapper.OrtSession, Is.SameAs(host));
        InferenceSessionTests.AssertClose(RunMlp(wrapper), RuntimeTestModels.MlpReference(X, 3));
        // Our validation applies to the host's session too.
        Assert.Throws<TensorShapeException>(() => wrapper.Run([new FloatTensor("x", new float[5], [1, 5])]));
        wrapper.Dispose();
        Assert.Throws<ObjectDisposedException>(() => RunMlp(wrapper));
        Assert.That(host.Disposed, Is.False);

        // The host's session still runs: wrap it again.
        using var again = InferenceSession.Wrap(host);
        InferenceSessionTests.AssertClose(RunMlp(again), RuntimeTestModels.MlpReference(X, 3));
    }

    [Test]
    public void Wrap_WithOwnership_DisposesTheHostsSession_AfterTheLastRun()
    {
        var host = new TrackedSession(RuntimeTestModels.Mlp());
        var wrapper = InferenceSession.Wrap(host, takeOwnership: true);
        InferenceSessionTests.AssertClose(RunMlp(wrapper), RuntimeTestModels.MlpReference(X, 3));
        Assert.That(host.Disposed, Is.False);
        wrapper.Dispose();
        Assert.That(host.Disposed, Is.True);
        wrapper.Dispose(); // idempotent: the session is disposed once
        Assert.That(host.DisposeCount, Is.EqualTo(1));
    }

    /// <summary>An official session that records its disposal (so that no test touches a released native session).</summary>
    private sealed class TrackedSession(byte[] model) : Ort.InferenceSession(model)
    {
        public int DisposeCount { get; private set; }
        public bool Disposed => DisposeCount > 0;

        protected override void Dispose(bool disposing)
        {
            if (disposing) DisposeCount++;
            base.Dispose(disposing);
        }
    }
}
