using System.Runtime.InteropServices;

namespace Saliency.Kernels.Cuda;

/// <summary>A retained primary context of one device (released with <c>cuDevicePrimaryCtxRelease</c>).</summary>
internal sealed unsafe class CudaContextHandle : SafeHandle
{
    public CudaContextHandle(int device) : base(0, ownsHandle: true)
    {
        Device = device;
        nint ctx;
        CudaRuntime.Check(CudaRuntime.Api.cuDevicePrimaryCtxRetain(&ctx, device), "cuDevicePrimaryCtxRetain");
        SetHandle(ctx);
    }

    public int Device { get; }

    public override bool IsInvalid => handle == 0;

    /// <summary>Makes this context current on the calling thread (cheap; done before every driver call).</summary>
    public void MakeCurrent() => CudaRuntime.Check(CudaRuntime.Api.cuCtxSetCurrent(handle), "cuCtxSetCurrent");

    protected override bool ReleaseHandle()
    {
        // Errors while tearing down (e.g. driver already shutting down at process exit) cannot be acted upon.
        CudaRuntime.Api.cuDevicePrimaryCtxRelease(Device);
        return true;
    }
}

/// <summary>Base of handles whose release needs their context current; keeps the context alive until released.</summary>
internal abstract unsafe class CudaContextBoundHandle : SafeHandle
{
    private readonly CudaContextHandle _context;

    protected CudaContextBoundHandle(CudaContextHandle context) : base(0, ownsHandle: true)
    {
        _context = context;
        bool added = false;
        context.DangerousAddRef(ref added);
    }

    protected CudaContextHandle Context => _context;

    public override bool IsInvalid => handle == 0;

    protected sealed override bool ReleaseHandle()
    {
        try
        {
            CudaRuntime.Api.cuCtxSetCurrent(_context.DangerousGetHandle());
            Free(handle);
        }
        finally
        {
            _context.DangerousRelease();
        }
        return true;
    }

    protected abstract void Free(nint value);
}

/// <summary>Device memory from <c>cuMemAlloc</c>.</summary>
internal sealed unsafe class CudaMemoryHandle : CudaContextBoundHandle
{
    public CudaMemoryHandle(CudaContextHandle context, long bytes) : base(context)
    {
        ulong ptr;
        CudaRuntime.Check(CudaRuntime.Api.cuMemAlloc(&ptr, (nuint)bytes), $"cuMemAlloc({bytes} bytes)");
        SetHandle((nint)ptr);
    }

    protected override void Free(nint value) => CudaRuntime.Api.cuMemFree((ulong)value);
}

/// <summary>A CUDA stream (created blocking with respect to the legacy default stream).</summary>
internal sealed unsafe class CudaStreamHandle : CudaContextBoundHandle
{
    public CudaStreamHandle(CudaContextHandle context) : base(context)
    {
        nint stream;
        CudaRuntime.Check(CudaRuntime.Api.cuStreamCreate(&stream, 0), "cuStreamCreate");
        SetHandle(stream);
    }

    protected override void Free(nint value) => CudaRuntime.Api.cuStreamDestroy(value);
}

/// <summary>A loaded module (CUBIN or PTX).</summary>
internal sealed unsafe class CudaModuleHandle : CudaContextBoundHandle
{
    public CudaModuleHandle(CudaContextHandle context, byte[] image) : base(context)
    {
        nint module;
        fixed (byte* p = image)
            CudaRuntime.Check(CudaRuntime.Api.cuModuleLoadData(&module, p), "cuModuleLoadData");
        SetHandle(module);
    }

    protected override void Free(nint value) => CudaRuntime.Api.cuModuleUnload(value);
}
