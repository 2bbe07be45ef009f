using NUnit.Framework;
using Saliency.Models.Runtime;

namespace Saliency.Models.Tests.Runtime;

/// <summary>Session creation, metadata and Run against double-precision references.</summary>
[TestFixture]
internal class InferenceSessionTests
{
    [Test]
    public void Runtime_IsTheNuGetOnnxRuntime_1_31()
    {
        // 1.31.1 (CPU package) or 1.31.0 (Gpu.Linux with -p:SaliencyOrtGpu=true).
        Assert.That(InferenceSession.RuntimeVersion, Does.StartWith("1.31."));
        // The library the process mapped is the package's runtime asset that the build copied next to the tests.
        Assert.That(InferenceSession.RuntimeLibraryPath, Does.EndWith("libonnxruntime.so"));
        Assert.That(File.Exists(InferenceSession.RuntimeLibraryPath), Is.True);
        Assert.That(InferenceSession.AvailableProviders, Does.Contain("CPUExecutionProvider"));
    }

    [Test]
    public void Metadata_ReportsNamesTypesAndDynamicDims()
    {
        // The binding's NodeMetadata, read into our TensorMetadata (symbolic dimensions → -1).
        using var session = InferenceSession.Create(RuntimeTestModels.Mlp());
        Assert.That(session.Inputs, Has.Count.EqualTo(1));
        Assert.That(session.Inputs[0].Name, Is.EqualTo("x"));
        Assert.That(session.Inputs[0].ElementType, Is.EqualTo(TensorElementType.Float));
        Assert.That(session.Inputs[0].Shape, Is.EqualTo(new long[] { -1, 4 }));
        Assert.That(session.Inputs[0].IsStatic, Is.False);
        Assert.That(session.Outputs.Select(o => o.Name), Is.EqualTo(new[] { "y" }));
        Assert.That(session.Outputs[0].Shape, Is.EqualTo(new long[] { -1, 3 }));

        using var cast = InferenceSession.Create(RuntimeTestModels.Int64Input());
        Assert.That(cast.Inputs[0].ElementType, Is.EqualTo(TensorElementType.Int64));
        Assert.That(cast.Inputs[0].Shape, Is.EqualTo(new long[] { 3 }));

        using var two = InferenceSession.Create(RuntimeTestModels.TwoInputsTwoOutputs());
        Assert.That(two.Inputs.Select(i => i.Name), Is.EqualTo(new[] { "a", "b" }));
        Assert.That(two.Outputs.Select(o => o.Name), Is.EqualTo(new[] { "sum", "product" }));
        Assert.That(two.Outputs[1].IsStatic, Is.True);
    }

    [TestCase(1)]
    [TestCase(5)]
    [TestCase(64)]
    public void Run_MatchesDoubleReference_AnyBatchSize(int batch)
    {
        using var session = InferenceSession.Create(RuntimeTestModels.Mlp());
        float[] x = RuntimeTestModels.RandomData(batch * 4, seed: batch);
        var result = session.Run([new FloatTensor("x", x, [batch, 4])]);

        Assert.That(result, Has.Count.EqualTo(1));
        Assert.That(result[0].Name, Is.EqualTo("y"));
        Assert.That(result[0].Shape, Is.EqualTo(new long[] { batch, 3 }));
        AssertClose(result[0].Data, RuntimeTestModels.MlpReference(x, batch));
        Assert.That(result.Diagnostics.NonFiniteInputCount, Is.EqualTo(0));
    }

    [Test]
    public void Create_FromFile_GivesSameResultsAsFromBytes()
    {
        string path = Path.Combine(Path.GetTempPath(), $"saliency-ort-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(path, RuntimeTestModels.Mlp());
        try
        {
            using var fromFile = InferenceSession.Create(path);
            using var fromBytes = InferenceSession.Create(RuntimeTestModels.Mlp());
            float[] x = RuntimeTestModels.RandomData(12, seed: 7);
            var a = fromFile.Run([new FloatTensor("x", x, [3, 4])]);
            var b = fromBytes.Run([new FloatTensor("x", x, [3, 4])]);
            Assert.That(a[0].Data, Is.EqualTo(b[0].Data));
            AssertClose(a[0].Data, RuntimeTestModels.MlpReference(x, 3));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Test]
    public void Run_InputsInAnyOrder_OutputsAsRequested()
    {
        using var session = InferenceSession.Create(RuntimeTestModels.TwoInputsTwoOutputs());
        float[] a = [1, 2, 3, 4, 5, 6], b = [0.5f, -1, 2, 0, 3, -2];
        var result = session.Run([new FloatTensor("b", b, [2, 3]), new FloatTensor("a", a, [2, 3])], ["product", "sum"]);
        Assert.That(result.Select(r => r.Name), Is.EqualTo(new[] { "product", "sum" }));
        Assert.That(result["product"].Data, Is.EqualTo(a.Zip(b, (p, q) => p * q).ToArray()));
        Assert.That(result["sum"].Data, Is.EqualTo(a.Zip(b, (p, q) => p + q).ToArray()));

        var onlySum = session.Run([new FloatTensor("a", a, [2, 3]), new FloatTensor("b", b, [2, 3])], ["sum"]);
        Assert.That(onlySum, Has.Count.EqualTo(1));
        Assert.Throws<TensorNameException>(() => _ = onlySum["product"]);
    }

    [Test]
    public void RunInto_WritesCallerBuffers()
    {
        using var session = InferenceSession.Create(RuntimeTestModels.Mlp());
        float[] x = RuntimeTestModels.RandomData(8 * 4, seed: 3);
        var y = new float[8 * 3];
        Array.Fill(y, float.NaN);
        var diagnostics = session.RunInto([new FloatTensor("x", x, [8, 4])], [new FloatTensor("y", y, [8, 3])]);
        AssertClose(y, RuntimeTestModels.MlpReference(x, 8));
        Assert.That(diagnostics.NonFiniteOutputCount, Is.EqualTo(0), "every NaN placeholder was overwritten");
    }

    [Test]
    public void RunInto_OutputShapeWrongInDynamicDim_IsOrtException()
    {
        using var session = InferenceSession.Create(RuntimeTestModels.Mlp());
        float[] x = RuntimeTestModels.RandomData(8 * 4, seed: 3);
        // The batch dimension of "y" is dynamic, so only ONNX Runtime can tell that 5 ≠ 8.
        var ex = Assert.Throws<OrtException>(() =>
            session.RunInto([new FloatTensor("x", x, [8, 4])], [new FloatTensor("y", new float[15], [5, 3])]));
        Assert.That(ex!.OrtMessage, Is.Not.Empty);
    }

    [Test]
    public void Options_ThreadsSpinningAndOptimisationLevels_GiveSameResults()
    {
        float[] x = RuntimeTestModels.RandomData(16 * 4, seed: 11);
        double[] reference = RuntimeTestModels.MlpReference(x, 16);
        foreach (var level in Enum.GetValues<GraphOptimizationLevel>())
        foreach (int threads in new[] { 0, 1, 2 })
        foreach (bool spinning in new[] { false, true })
        {
            var options = new InferenceSessionOptions
            {
                IntraOpThreads = threads, InterOpThreads = threads, AllowSpinning = spinning, GraphOptimizationLevel = level,
            };
            using var session = InferenceSession.Create(RuntimeTestModels.Mlp(), options);
            var y = session.Run([new FloatTensor("x", x, [16, 4])]);
            AssertClose(y[0].Data, reference);
        }
    }

    [Test]
    public void Options_Defaults_AreOneThreadWithoutSpinningOnTheCpu()
    {
        // The defaults chosen from bench/Saliency.Bench/Models/RESULTS.md (ThreadingBenchmarks).
        var options = new InferenceSessionOptions();
        Assert.That(options.IntraOpThreads, Is.EqualTo(1));
        Assert.That(options.InterOpThreads, Is.EqualTo(1));
        Assert.That(options.AllowSpinning, Is.False);
        Assert.That(options.ExecutionProvider, Is.EqualTo(ExecutionProvider.Cpu));
    }

    [Test]
    public void Options_OutOfRange_AreRejectedBeforeNativeCalls()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => InferenceSession.Create(RuntimeTestModels.Mlp(), new InferenceSessionOptions { IntraOpThreads = -1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => InferenceSession.Create(RuntimeTestModels.Mlp(), new InferenceSessionOptions { InterOpThreads = -1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => InferenceSession.Create(RuntimeTestModels.Mlp(), new InferenceSessionOptions { CudaDeviceId = -1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => InferenceSession.Create(RuntimeTestModels.Mlp(), new InferenceSessionOptions { GraphOptimizationLevel = (GraphOptimizationLevel)42 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => InferenceSession.Create(RuntimeTestModels.Mlp(), new InferenceSessionOptions { ExecutionProvider = (ExecutionProvider)7 }));
    }

    [Test]
    public void Run_AfterDispose_ThrowsObjectDisposed()
    {
        var session = InferenceSession.Create(RuntimeTestModels.Mlp());
        session.Dispose();
        session.Dispose(); // idempotent
        Assert.Throws<ObjectDisposedException>(() => session.Run([new FloatTensor("x", new float[4], [1, 4])]));
    }

    internal static void AssertClose(float[] actual, double[] expected, double relative = 1e-5)
    {
        Assert.That(actual, Has.Length.EqualTo(expected.Length));
        for (int i = 0; i < actual.Length; i++)
            Assert.That(actual[i], Is.EqualTo(expected[i]).Within(relative * Math.Max(1.0, Math.Abs(expected[i]))), $"element {i}");
    }
}
