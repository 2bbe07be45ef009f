using NUnit.Framework;
using Saliency.Models.Runtime;

namespace Saliency.Models.Tests.Runtime;

/// <summary>
/// Asking for CUDA where it cannot run gives <see cref="CudaProviderUnavailableException"/> naming what is missing,
/// never a silent CPU session. The probe's decisions are checked against a stand-in loader; the real call is checked
/// against what this machine actually has (each library probed here independently of the code under test).
/// </summary>
[TestFixture]
internal class CudaProviderTests
{
    private static readonly string[] CpuBuild = ["CPUExecutionProvider"];
    private static readonly string[] GpuBuild = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"];

    [Test]
    public void Probe_EverythingPresent_FindsNothingMissing()
    {
        Assert.That(CudaProviderProbe.FindMissing(GpuBuild, _ => true), Is.Empty);
        Assert.DoesNotThrow(() => CudaProviderProbe.ThrowIfUnavailable(GpuBuild, 0, _ => true));
    }

    [Test]
    public void Probe_CpuPackage_NamesTheGpuBuildAndHowToGetIt()
    {
        var ex = Assert.Throws<CudaProviderUnavailableException>(() => CudaProviderProbe.ThrowIfUnavailable(CpuBuild, 0, _ => true));
        Assert.That(ex!.Missing, Has.Count.EqualTo(1));
        Assert.That(ex.Message, Does.Contain("-p:SaliencyOrtGpu=true"));
        Assert.That(ex.Message, Does.Contain("Microsoft.ML.OnnxRuntime.Gpu.Linux"));
        Assert.That(ex.Message, Does.Contain("No CPU fallback"));
    }

    [TestCase("libcuda.so.1")]
    [TestCase("libcudart.so.13")]
    [TestCase("libcublas.so.13")]
    [TestCase("libcublasLt.so.13")]
    [TestCase("libcurand.so.10")]
    [TestCase("libcudnn.so.9")]
    public void Probe_OneLibraryMissing_NamesExactlyThatOne(string absent)
    {
        var ex = Assert.Throws<CudaProviderUnavailableException>(() => CudaProviderProbe.ThrowIfUnavailable(GpuBuild, 3, lib => lib != absent));
        Assert.That(ex!.Missing, Has.Count.EqualTo(1));
        Assert.That(ex.Missing[0], Does.Contain(absent));
        Assert.That(ex.Message, Does.Contain(absent).And.Contain("device 3"));
        Assert.That(ex.ErrorCode, Is.EqualTo(OrtErrorCode.EpFail));
    }

    [Test]
    public void AskingForCuda_OnThisMachine_IsTypedAndNamesWhatIsMissing()
    {
        // Independent look at this machine: which pieces exist?
        bool gpuBuild = InferenceSession.AvailableProviders.Contains("CUDAExecutionProvider");
        var absent = CudaProviderProbe.Requirements.Where(r => !CudaProviderProbe.TryLoadAndFree(r.Library)).Select(r => r.Library).ToList();
        var options = new InferenceSessionOptions { ExecutionProvider = ExecutionProvider.Cuda };
        if (gpuBuild && absent.Count == 0)
        {
            // A CUDA machine with the GPU build: the session must work (or ONNX Runtime's refusal be typed, e.g. no device).
            try
            {
                using var session = InferenceSession.Create(RuntimeTestModels.Mlp(), options);
                float[] x = RuntimeTestModels.RandomData(4 * 4, seed: 5);
                InferenceSessionTests.AssertClose(session.Run([new FloatTensor("x", x, [4, 4])])[0].Data, RuntimeTestModels.MlpReference(x, 4));
            }
            catch (CudaProviderUnavailableException e)
            {
                Assert.That(e.Missing, Is.Empty);
                Assert.That(e.OrtMessage, Is.Not.Empty);
            }
            return;
        }

        var ex = Assert.Throws<CudaProviderUnavailableException>(() => InferenceSession.Create(RuntimeTestModels.Mlp(), options));
        TestContext.Out.WriteLine(ex!.Message);
        Assert.That(ex.Missing, Has.Count.EqualTo(absent.Count + (gpuBuild ? 0 : 1)));
        foreach (string library in absent)
            Assert.That(ex.Message, Does.Contain(library));
        if (!gpuBuild)
            Assert.That(ex.Message, Does.Contain("-p:SaliencyOrtGpu=true"));
    }
}
