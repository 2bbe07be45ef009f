using System.Runtime.InteropServices;

namespace Saliency.Models.Runtime.Interop;

/// <summary>
/// Base of the SafeHandles over ONNX Runtime objects: a null pointer is invalid, and release calls the
/// object's <c>Release*</c> entry of the API table, given once at construction. Each object kind keeps its
/// own handle type so that a session cannot be passed where a value is expected.
/// </summary>
internal abstract unsafe class OrtSafeHandle : SafeHandle
{
    private readonly delegate* unmanaged[Cdecl]<nint, void> _release;

    /// <param name="pointer">The owned object.</param>
    /// <param name="release">Its release function, or null when the derived type overrides <see cref="ReleaseHandle"/>.</param>
    protected OrtSafeHandle(nint pointer, delegate* unmanaged[Cdecl]<nint, void> release) : base(0, ownsHandle: true)
    {
        _release = release;
        SetHandle(pointer);
    }

    public override bool IsInvalid => handle == 0;

    /// <summary>The API table of the process-wide runtime (already loaded when any handle exists).</summary>
    protected static OrtApi Api => OrtRuntime.Api;

    protected override bool ReleaseHandle()
    {
        _release(handle);
        return true;
    }
}

/// <summary>Owns an <c>OrtStatus*</c>; always released right after it is read.</summary>
/// <remarks>Takes the table explicitly: a status can come from a table that is not (yet) the process-wide one.</remarks>
internal sealed unsafe class OrtStatusHandle(OrtApi api, nint status) : OrtSafeHandle(status, api.ReleaseStatus);

/// <summary>Owns an <c>OrtEnv*</c>.</summary>
internal sealed unsafe class OrtEnvHandle(nint pointer) : OrtSafeHandle(pointer, Api.ReleaseEnv);

/// <summary>Owns an <c>OrtSessionOptions*</c>.</summary>
internal sealed unsafe class OrtSessionOptionsHandle(nint pointer) : OrtSafeHandle(pointer, Api.ReleaseSessionOptions);

/// <summary>Owns an <c>OrtValue*</c>.</summary>
internal sealed unsafe class OrtValueHandle(nint pointer) : OrtSafeHandle(pointer, Api.ReleaseValue);

/// <summary>Owns an <c>OrtMemoryInfo*</c>.</summary>
internal sealed unsafe class OrtMemoryInfoHandle(nint pointer) : OrtSafeHandle(pointer, Api.ReleaseMemoryInfo);

/// <summary>Owns an <c>OrtTypeInfo*</c>.</summary>
internal sealed unsafe class OrtTypeInfoHandle(nint pointer) : OrtSafeHandle(pointer, Api.ReleaseTypeInfo);

/// <summary>Owns an <c>OrtTensorTypeAndShapeInfo*</c> (one returned by <c>GetTensorTypeAndShape</c>).</summary>
internal sealed unsafe class OrtTensorTypeAndShapeInfoHandle(nint pointer) : OrtSafeHandle(pointer, Api.ReleaseTensorTypeAndShapeInfo);

/// <summary>
/// Owns an <c>OrtSession*</c> and the unmanaged UTF-8 copies of its input/output names that every
/// <c>Run</c> passes to ONNX Runtime: both live exactly as long as the session, and a running call keeps
/// them alive through the SafeHandle reference count even if the session is disposed meanwhile.
/// </summary>
internal sealed unsafe class OrtSessionHandle(nint pointer) : OrtSafeHandle(pointer, Api.ReleaseSession)
{
    private nint _names;

    /// <summary>Takes ownership of a <see cref="NativeMemory"/> block holding the name strings.</summary>
    public void AdoptNames(nint block) => _names = block;

    protected override bool ReleaseHandle()
    {
        base.ReleaseHandle();
        if (_names != 0) NativeMemory.Free((void*)_names);
        _names = 0;
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

    public OrtAllocatedBufferHandle(nint allocator, nint buffer) : base(buffer, release: null) => _allocator = allocator;

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
