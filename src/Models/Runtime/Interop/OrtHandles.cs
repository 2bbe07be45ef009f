using System.Runtime.InteropServices;

namespace Saliency.Models.Runtime.Interop;

/// <summary>Base of the SafeHandles over ONNX Runtime objects: a null pointer is invalid; release goes through the API table.</summary>
internal abstract class OrtSafeHandle : SafeHandle
{
    protected OrtSafeHandle(nint pointer) : base(0, ownsHandle: true) => SetHandle(pointer);

    public override bool IsInvalid => handle == 0;

    /// <summary>The API table of the process-wide runtime (already loaded when any handle exists).</summary>
    protected static OrtApi Api => OrtRuntime.Api;
}

/// <summary>Owns an <c>OrtStatus*</c>; always released right after it is read.</summary>
internal sealed unsafe class OrtStatusHandle : SafeHandle
{
    private readonly OrtApi _api;

    public OrtStatusHandle(OrtApi api, nint status) : base(0, ownsHandle: true)
    {
        _api = api;
        SetHandle(status);
    }

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle()
    {
        _api.ReleaseStatus(handle);
        return true;
    }
}

/// <summary>Owns an <c>OrtEnv*</c>.</summary>
internal sealed unsafe class OrtEnvHandle(nint pointer) : OrtSafeHandle(pointer)
{
    protected override bool ReleaseHandle()
    {
        Api.ReleaseEnv(handle);
        return true;
    }
}

/// <summary>Owns an <c>OrtSessionOptions*</c>.</summary>
internal sealed unsafe class OrtSessionOptionsHandle(nint pointer) : OrtSafeHandle(pointer)
{
    protected override bool ReleaseHandle()
    {
        Api.ReleaseSessionOptions(handle);
        return true;
    }
}

/// <summary>
/// Owns an <c>OrtSession*</c> and the unmanaged UTF-8 copies of its input/output names that every
/// <c>Run</c> passes to ONNX Runtime: both live exactly as long as the session, and a running call keeps
/// them alive through the SafeHandle reference count even if the session is disposed meanwhile.
/// </summary>
internal sealed unsafe class OrtSessionHandle(nint pointer) : OrtSafeHandle(pointer)
{
    private nint _names;

    /// <summary>Takes ownership of a <see cref="NativeMemory"/> block holding the name strings.</summary>
    public void AdoptNames(nint block) => _names = block;

    protected override bool ReleaseHandle()
    {
        Api.ReleaseSession(handle);
        if (_names != 0) NativeMemory.Free((void*)_names);
        _names = 0;
        return true;
    }
}

/// <summary>Owns an <c>OrtValue*</c>.</summary>
internal sealed unsafe class OrtValueHandle(nint pointer) : OrtSafeHandle(pointer)
{
    protected override bool ReleaseHandle()
    {
        Api.ReleaseValue(handle);
        return true;
    }
}

/// <summary>Owns an <c>OrtMemoryInfo*</c>.</summary>
internal sealed unsafe class OrtMemoryInfoHandle(nint pointer) : OrtSafeHandle(pointer)
{
    protected override bool ReleaseHandle()
    {
        Api.ReleaseMemoryInfo(handle);
        return true;
    }
}

/// <summary>Owns an <c>OrtTypeInfo*</c>.</summary>
internal sealed unsafe class OrtTypeInfoHandle(nint pointer) : OrtSafeHandle(pointer)
{
    protected override bool ReleaseHandle()
    {
        Api.ReleaseTypeInfo(handle);
        return true;
    }
}

/// <summary>Owns an <c>OrtTensorTypeAndShapeInfo*</c> (one returned by <c>GetTensorTypeAndShape</c>).</summary>
internal sealed unsafe class OrtTensorTypeAndShapeInfoHandle(nint pointer) : OrtSafeHandle(pointer)
{
    protected override bool ReleaseHandle()
    {
        Api.ReleaseTensorTypeAndShapeInfo(handle);
        return true;
    }
}

/// <summary>
/// Owns a buffer allocated by an <c>OrtAllocator</c> (e.g. a name returned by <c>SessionGetInputName</c>);
/// released with <c>AllocatorFree</c> on the same allocator.
/// </summary>
internal sealed unsafe class OrtAllocatedBufferHandle : OrtSafeHandle
{
    private readonly nint _allocator;

    public OrtAllocatedBufferHandle(nint allocator, nint buffer) : base(buffer) => _allocator = allocator;

    /// <summary>Reads the buffer as a NUL-terminated UTF-8 string.</summary>
    public string ReadUtf8String() => Marshal.PtrToStringUTF8(handle) ?? string.Empty;

    protected override bool ReleaseHandle()
    {
        nint status = Api.AllocatorFree(_allocator, (void*)handle);
        // A failing free cannot be reported from a release; release its status so that nothing leaks.
        if (status != 0) Api.ReleaseStatus(status);
        return status == 0;
    }
}
