using NUnit.Framework;
using Saliency.Models.Runtime;
using Saliency.Models.Runtime.Interop;

namespace Saliency.Models.Tests.Runtime;

/// <summary>
/// Exercises the API-table slots that ordinary use touches only once per process (environment, memory info,
/// status) so that a wrong slot number would fail here: calling a function through the wrong slot returns a wrong
/// result or crashes the test host. The other slots are covered by the session, validation and fuzz tests
/// (GetErrorCode, GetErrorMessage and ReleaseStatus by <see cref="CorruptModelTests.GarbageBytes_AreInvalidProtobuf"/>).
/// </summary>
[TestFixture]
public unsafe class ApiSlotTests
{
    [Test]
    public void CreateEnvAndReleaseEnv_AreRefCountedWithTheProcessEnvironment()
    {
        var api = OrtRuntime.Api;
        _ = OrtRuntime.Env; // the process-wide environment exists
        byte* logId = stackalloc byte[] { (byte)'t', 0 };
        nint extra;
        api.Check(api.CreateEnv(3, logId, &extra));
        Assert.That(extra, Is.Not.EqualTo((nint)0));
        new OrtEnvHandle(extra).Dispose(); // ReleaseEnv: drops one reference only
        // The process-wide environment still works.
        using var session = InferenceSession.Create(RuntimeTestModels.Mlp());
        Assert.That(session.Run([new FloatTensor("x", [1, 1, 1, 1], [1, 4])])[0].Data, Has.Length.EqualTo(3));
    }

    [Test]
    public void CreateCpuMemoryInfoAndRelease_Work()
    {
        var api = OrtRuntime.Api;
        for (int i = 0; i < 100; i++)
        {
            nint info;
            api.Check(api.CreateCpuMemoryInfo(0, 0, &info));
            Assert.That(info, Is.Not.EqualTo((nint)0));
            new OrtMemoryInfoHandle(info).Dispose();
        }
    }

    [Test]
    public void CudaProviderOptionsStruct_HasTheHeadersLayout()
    {
        // Expected values: offsetof/sizeof from onnxruntime_c_api.h 1.29 (native/onnxruntime/print_slots.sh).
        Assert.That(sizeof(OrtCudaProviderOptions), Is.EqualTo(64));
        var expected = new (string Field, int Offset)[]
        {
            (nameof(OrtCudaProviderOptions.DeviceId), 0), (nameof(OrtCudaProviderOptions.CudnnConvAlgoSearch), 4),
            (nameof(OrtCudaProviderOptions.GpuMemLimit), 8), (nameof(OrtCudaProviderOptions.ArenaExtendStrategy), 16),
            (nameof(OrtCudaProviderOptions.DoCopyInDefaultStream), 20), (nameof(OrtCudaProviderOptions.HasUserComputeStream), 24),
            (nameof(OrtCudaProviderOptions.UserComputeStream), 32), (nameof(OrtCudaProviderOptions.DefaultMemoryArenaCfg), 40),
            (nameof(OrtCudaProviderOptions.TunableOpEnable), 48), (nameof(OrtCudaProviderOptions.TunableOpTuningEnable), 52),
            (nameof(OrtCudaProviderOptions.TunableOpMaxTuningDurationMs), 56),
        };
        foreach (var (field, offset) in expected)
            Assert.That((int)System.Runtime.InteropServices.Marshal.OffsetOf<OrtCudaProviderOptions>(field), Is.EqualTo(offset), field);
    }
}
