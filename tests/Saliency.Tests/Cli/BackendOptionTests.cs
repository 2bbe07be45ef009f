using NUnit.Framework;
using Saliency.Explainers;
using Saliency.Kernels.Backends;
using Saliency.Models.Classifiers;
using Saliency.TestSupport;
using Saliency.Solvers.Caso;

namespace Saliency.Tests.Cli;

/// <summary><c>--backend</c> of <c>explain</c> and <c>demo</c>, and the explainer's backend option behind it.</summary>
[TestFixture]
internal class BackendOptionTests : CliTestBase
{
    private static string CudaAbsentReason()
    {
        try
        {
            ComputeBackends.Create(BackendKind.Cuda).Dispose();
        }
        catch (BackendUnavailableException e)
        {
            return e.Reason;
        }
        Assert.Ignore("A CUDA device exists here; the no-CUDA error cannot be shown.");
        return "";
    }

    [TestCase("explain", "--method", "caso", "--digit", "2", "--lambda1", "0.01")]
    [TestCase("demo", "--count", "1")]
    public void CudaWhereThereIsNoneIsAOneLineErrorNamingWhy(params string[] args)
    {
        CudaAbsentReason();
        string outPath = Path.Combine(Temp, "never.png");
        var (exit, output, error) = Invoke([.. args, "--backend", "cuda", .. (args[0] == "explain" ? new[] { "--out", outPath } : [])]);
        Assert.That(exit, Is.EqualTo(1));
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(1), error);
        Assert.That(lines[0], Does.StartWith("error: --backend cuda: The Cuda compute backend is not available: "));
        Assert.That(lines[0].Length, Is.GreaterThan("error: --backend cuda: The Cuda compute backend is not available: ".Length + 10), "the reason is named");
        Assert.That(error + output, Does.Not.Contain("   at "), "no stack trace for user errors");
        Assert.That(output, Does.Not.Contain("Accuracy"), "nothing ran before the backend check");
        Assert.That(File.Exists(outPath), Is.False);
    }

    [Test]
    public void AnUnknownBackendNameIsRefusedByTheParser()
    {
        var (exit, _, error) = Invoke("explain", "--method", "caso", "--digit", "2", "--backend", "tpu", "--out", Path.Combine(Temp, "never.png"));
        Assert.That(exit, Is.Not.Zero);
        Assert.That(error, Does.Contain("tpu"));
    }

    [Test]
    public void CpuBackendRunsAndIsReported()
    {
        string outPath = Path.Combine(Temp, "caso.png");
        var (exit, output, error) = Invoke("explain", "--method", "caso", "--digit", "2", "--lambda1", "0.01", "--backend", "cpu", "--out", outPath);
        Assert.That(exit, Is.Zero, error);
        Assert.That(output, Does.Contain("Cpu, host FISTA"));
        Assert.That(File.Exists(outPath), Is.True);
    }

    [Test]
    public void IlgpuCpuBackendRunsTheWholeSolveOnTheDevice()
    {
        string outPath = Path.Combine(Temp, "caso.png");
        var (exit, output, error) = Invoke("explain", "--method", "caso", "--digit", "2", "--lambda1", "0.01", "--backend", "ilgpu-cpu", "--out", outPath);
        Assert.That(exit, Is.Zero, error);
        Assert.That(output, Does.Contain("IlgpuCpu, device-resident FISTA"));
        Assert.That(File.Exists(outPath), Is.True);
    }

    [Test]
    public void ExplainerBackendKindCudaWithoutCudaThrowsTheTypedException()
    {
        CudaAbsentReason();
        using var classifier = OnnxClassifier.Create(RepoFiles.LeNetModel);
        var image = BundledLeNet.Digits().ImageFloats(2);
        var explainer = new CasoExplainer(new CasoExplainerOptions { BackendKind = BackendKind.Cuda, Lambda1 = 0.01 });
        var ex = Assert.Throws<BackendUnavailableException>(() => explainer.Explain(classifier, image));
        Assert.That(ex!.Kind, Is.EqualTo(BackendKind.Cuda));
    }

    /// <summary>
    /// Every backend kind that runs here (the CPU one with the device path forced) explains the same digit as the CPU reference: the device-resident FISTA
    /// (float32) against the host FISTA (float64 vectors), both on the bundled LeNet at a fixed λ1 and through the sweep.
    /// Stated tolerance: 1e-3 relative in Δ (float32 state; cond(2λ2 I − H) of the digit ≈ (L + 4)/4).
    /// </summary>
    [TestCaseSource(nameof(AcceleratorKinds))]
    public void AcceleratorExplainsLikeTheCpuReference(BackendKind kind)
    {
        IComputeBackend backend;
        try { backend = ComputeBackends.Create(kind); }
        catch (BackendUnavailableException e) { Assert.Ignore($"The {kind} backend cannot run here (no GPU): {e.Message}"); return; }
        using var _ = backend;
        using var classifier = OnnxClassifier.Create(RepoFiles.LeNetModel);
        var image = BundledLeNet.Digits().ImageFloats(2);
        foreach (double? lambda1 in new double?[] { 0.0, 0.01, null })
        {
            var reference = new CasoExplainer(new CasoExplainerOptions { Lambda1 = lambda1 }).Explain(classifier, image);
            var device = new CasoExplainer(new CasoExplainerOptions
            {
                Lambda1 = lambda1, Backend = backend, Solver = new CasoOptions { Path = CasoSolverPath.Device },
            }).Explain(classifier, image);
            Assert.That(device.Details.Single(d => d.Key == "backend").Value, Does.Contain("device-resident FISTA"));
            Assert.That(device.Result.Lambda1, Is.EqualTo(reference.Result.Lambda1), "the sweep picks the same λ1");
            Assert.That(device.Result.Converged, Is.True);
            var a = device.Result.Solution;
            var b = reference.Result.Solution;
            double diff = 0, norm = 0;
            for (int i = 0; i < a.Length; i++) { diff += (a[i] - b[i]) * (a[i] - b[i]); norm += b[i] * b[i]; }
            Assert.That(Math.Sqrt(diff), Is.LessThanOrEqualTo(1e-3 * Math.Sqrt(norm)), $"λ1 = {lambda1?.ToString() ?? "sweep"}");
        }
    }

    private static IEnumerable<BackendKind> AcceleratorKinds() => Enum.GetValues<BackendKind>();
}
