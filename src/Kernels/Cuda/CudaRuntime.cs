using System.Runtime.InteropServices;

namespace Saliency.Kernels.Cuda;

/// <summary>
/// Run-time binding of the CUDA driver API (<c>libcuda.so.1</c> / <c>nvcuda.dll</c>) and NVRTC
/// (<c>libnvrtc.so.13</c>, <c>.12</c>, <c>.11.2</c>, <c>libnvrtc.so</c>), resolved with <see cref="NativeLibrary"/> so
/// that nothing CUDA is needed at build time and a missing library becomes a reason string, never a crash.
/// Entry points are unmanaged function pointers (the <c>_v2</c> symbols where the driver versions them).
/// </summary>
internal static unsafe class CudaRuntime
{
    private static readonly Lazy<State> LazyState = new(Load, LazyThreadSafetyMode.ExecutionAndPublication);

    internal sealed class State
    {
        public string? Failure;
        public nint Driver;
        public nint Nvrtc;
        public string NvrtcName = "";

        // Driver API.
        public delegate* unmanaged<uint, int> cuInit;
        public delegate* unmanaged<int*, int> cuDriverGetVersion;
        public delegate* unmanaged<int*, int> cuDeviceGetCount;
        public delegate* unmanaged<int*, int, int> cuDeviceGet;
        public delegate* unmanaged<byte*, int, int, int> cuDeviceGetName;
        public delegate* unmanaged<int*, int, int, int> cuDeviceGetAttribute;
        public delegate* unmanaged<nint*, int, int> cuDevicePrimaryCtxRetain;
        public delegate* unmanaged<int, int> cuDevicePrimaryCtxRelease;
        public delegate* unmanaged<nint, int> cuCtxSetCurrent;
        public delegate* unmanaged<ulong*, nuint, int> cuMemAlloc;
        public delegate* unmanaged<ulong, int> cuMemFree;
        public delegate* unmanaged<ulong, void*, nuint, nint, int> cuMemcpyHtoDAsync;
        public delegate* unmanaged<void*, ulong, nuint, nint, int> cuMemcpyDtoHAsync;
        public delegate* unmanaged<ulong, ulong, nuint, nint, int> cuMemcpyDtoDAsync;
        public delegate* unmanaged<ulong, byte, nuint, nint, int> cuMemsetD8Async;
        public delegate* unmanaged<nint*, uint, int> cuStreamCreate;
        public delegate* unmanaged<nint, int> cuStreamDestroy;
        public delegate* unmanaged<nint, int> cuStreamSynchronize;
        public delegate* unmanaged<nint*, void*, int> cuModuleLoadData;
        public delegate* unmanaged<nint, int> cuModuleUnload;
        public delegate* unmanaged<nint*, nint, byte*, int> cuModuleGetFunction;
        public delegate* unmanaged<nint, uint, uint, uint, uint, uint, uint, uint, nint, void**, void**, int> cuLaunchKernel;
        public delegate* unmanaged<int, byte**, int> cuGetErrorName;
        public delegate* unmanaged<int, byte**, int> cuGetErrorString;

        // NVRTC.
        public delegate* unmanaged<int*, int*, int> nvrtcVersion;
        public delegate* unmanaged<nint*, byte*, byte*, int, byte**, byte**, int> nvrtcCreateProgram;
        public delegate* unmanaged<nint, int, byte**, int> nvrtcCompileProgram;
        public delegate* unmanaged<nint*, int> nvrtcDestroyProgram;
        public delegate* unmanaged<nint, nuint*, int> nvrtcGetProgramLogSize;
        public delegate* unmanaged<nint, byte*, int> nvrtcGetProgramLog;
        public delegate* unmanaged<nint, nuint*, int> nvrtcGetPTXSize;
        public delegate* unmanaged<nint, byte*, int> nvrtcGetPTX;
        public delegate* unmanaged<nint, nuint*, int> nvrtcGetCUBINSize;
        public delegate* unmanaged<nint, byte*, int> nvrtcGetCUBIN;
        public delegate* unmanaged<int, byte*> nvrtcGetErrorString;
    }

    internal static State Api
    {
        get
        {
            var s = LazyState.Value;
            if (s.Failure is not null) throw new CudaException($"CUDA is not available: {s.Failure}");
            return s;
        }
    }

    /// <summary>True when the driver and NVRTC load, cuInit succeeds and at least one device exists.</summary>
    public static bool Probe(out string reason)
    {
        var s = LazyState.Value;
        reason = s.Failure ?? "";
        return s.Failure is null;
    }

    private static readonly string[] DriverNames = OperatingSystem.IsWindows() ? ["nvcuda.dll"] : ["libcuda.so.1", "libcuda.so"];

    private static readonly string[] NvrtcNames = OperatingSystem.IsWindows()
        ? ["nvrtc64_130_0.dll", "nvrtc64_120_0.dll", "nvrtc64_112_0.dll"]
        : ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"];

    private static State Load()
    {
        var s = new State();
        try
        {
            if (!TryLoadAny(DriverNames, out s.Driver, out _))
            {
                s.Failure = $"the CUDA driver library ({string.Join(", ", DriverNames)}) was not found (no NVIDIA driver installed).";
                return s;
            }
            if (!TryLoadAny(NvrtcNames, out s.Nvrtc, out s.NvrtcName))
            {
                s.Failure = $"the NVRTC library ({string.Join(", ", NvrtcNames)}) was not found; install the CUDA runtime compiler " +
                            "(e.g. Debian/Ubuntu package libnvrtc13 or the CUDA toolkit) or add its folder to LD_LIBRARY_PATH.";
                return s;
            }
            BindDriver(s);
            BindNvrtc(s);
            int rc = s.cuInit(0);
            if (rc != 0)
            {
                s.Failure = $"cuInit failed with {ErrorName(s, rc)} ({rc}): {ErrorString(s, rc)} (no usable GPU or driver).";
                return s;
            }
            int count;
            rc = s.cuDeviceGetCount(&count);
            if (rc != 0 || count == 0)
            {
                s.Failure = rc != 0 ? $"cuDeviceGetCount failed with {ErrorName(s, rc)}." : "the driver reports no CUDA device.";
                return s;
            }
        }
        catch (EntryPointNotFoundException ex)
        {
            s.Failure = $"a required CUDA entry point is missing ({ex.Message}); the driver or NVRTC is too old.";
        }
        return s;
    }

    private static bool TryLoadAny(string[] names, out nint handle, out string loadedName)
    {
        foreach (var name in names)
        {
            if (NativeLibrary.TryLoad(name, out handle))
            {
                loadedName = name;
                return true;
            }
        }
        handle = 0;
        loadedName = "";
        return false;
    }

    private static nint Export(nint lib, string name) =>
        NativeLibrary.TryGetExport(lib, name, out var p) ? p : throw new EntryPointNotFoundException(name);

    private static void BindDriver(State s)
    {
        nint d = s.Driver;
        s.cuInit = (delegate* unmanaged<uint, int>)Export(d, "cuInit");
        s.cuDriverGetVersion = (delegate* unmanaged<int*, int>)Export(d, "cuDriverGetVersion");
        s.cuDeviceGetCount = (delegate* unmanaged<int*, int>)Export(d, "cuDeviceGetCount");
        s.cuDeviceGet = (delegate* unmanaged<int*, int, int>)Export(d, "cuDeviceGet");
        s.cuDeviceGetName = (delegate* unmanaged<byte*, int, int, int>)Export(d, "cuDeviceGetName");
        s.cuDeviceGetAttribute = (delegate* unmanaged<int*, int, int, int>)Export(d, "cuDeviceGetAttribute");
        s.cuDevicePrimaryCtxRetain = (delegate* unmanaged<nint*, int, int>)Export(d, "cuDevicePrimaryCtxRetain");
        s.cuDevicePrimaryCtxRelease = (delegate* unmanaged<int, int>)Export(d, "cuDevicePrimaryCtxRelease_v2");
        s.cuCtxSetCurrent = (delegate* unmanaged<nint, int>)Export(d, "cuCtxSetCurrent");
        s.cuMemAlloc = (delegate* unmanaged<ulong*, nuint, int>)Export(d, "cuMemAlloc_v2");
        s.cuMemFree = (delegate* unmanaged<ulong, int>)Export(d, "cuMemFree_v2");
        s.cuMemcpyHtoDAsync = (delegate* unmanaged<ulong, void*, nuint, nint, int>)Export(d, "cuMemcpyHtoDAsync_v2");
        s.cuMemcpyDtoHAsync = (delegate* unmanaged<void*, ulong, nuint, nint, int>)Export(d, "cuMemcpyDtoHAsync_v2");
        s.cuMemcpyDtoDAsync = (delegate* unmanaged<ulong, ulong, nuint, nint, int>)Export(d, "cuMemcpyDtoDAsync_v2");
        s.cuMemsetD8Async = (delegate* unmanaged<ulong, byte, nuint, nint, int>)Export(d, "cuMemsetD8Async");
        s.cuStreamCreate = (delegate* unmanaged<nint*, uint, int>)Export(d, "cuStreamCreate");
        s.cuStreamDestroy = (delegate* unmanaged<nint, int>)Export(d, "cuStreamDestroy_v2");
        s.cuStreamSynchronize = (delegate* unmanaged<nint, int>)Export(d, "cuStreamSynchronize");
        s.cuModuleLoadData = (delegate* unmanaged<nint*, void*, int>)Export(d, "cuModuleLoadData");
        s.cuModuleUnload = (delegate* unmanaged<nint, int>)Export(d, "cuModuleUnload");
        s.cuModuleGetFunction = (delegate* unmanaged<nint*, nint, byte*, int>)Export(d, "cuModuleGetFunction");
        s.cuLaunchKernel = (delegate* unmanaged<nint, uint, uint, uint, uint, uint, uint, uint, nint, void**, void**, int>)Export(d, "cuLaunchKernel");
        s.cuGetErrorName = (delegate* unmanaged<int, byte**, int>)Export(d, "cuGetErrorName");
        s.cuGetErrorString = (delegate* unmanaged<int, byte**, int>)Export(d, "cuGetErrorString");
    }

    private static void BindNvrtc(State s)
    {
        nint n = s.Nvrtc;
        s.nvrtcVersion = (delegate* unmanaged<int*, int*, int>)Export(n, "nvrtcVersion");
        s.nvrtcCreateProgram = (delegate* unmanaged<nint*, byte*, byte*, int, byte**, byte**, int>)Export(n, "nvrtcCreateProgram");
        s.nvrtcCompileProgram = (delegate* unmanaged<nint, int, byte**, int>)Export(n, "nvrtcCompileProgram");
        s.nvrtcDestroyProgram = (delegate* unmanaged<nint*, int>)Export(n, "nvrtcDestroyProgram");
        s.nvrtcGetProgramLogSize = (delegate* unmanaged<nint, nuint*, int>)Export(n, "nvrtcGetProgramLogSize");
        s.nvrtcGetProgramLog = (delegate* unmanaged<nint, byte*, int>)Export(n, "nvrtcGetProgramLog");
        s.nvrtcGetPTXSize = (delegate* unmanaged<nint, nuint*, int>)Export(n, "nvrtcGetPTXSize");
        s.nvrtcGetPTX = (delegate* unmanaged<nint, byte*, int>)Export(n, "nvrtcGetPTX");
        s.nvrtcGetCUBINSize = (delegate* unmanaged<nint, nuint*, int>)Export(n, "nvrtcGetCUBINSize");
        s.nvrtcGetCUBIN = (delegate* unmanaged<nint, byte*, int>)Export(n, "nvrtcGetCUBIN");
        s.nvrtcGetErrorString = (delegate* unmanaged<int, byte*>)Export(n, "nvrtcGetErrorString");
    }

    private static string ErrorName(State s, int rc)
    {
        byte* p = null;
        return s.cuGetErrorName is not null && s.cuGetErrorName(rc, &p) == 0 && p != null
            ? Marshal.PtrToStringUTF8((nint)p) ?? $"CUDA_ERROR_{rc}" : $"CUDA_ERROR_{rc}";
    }

    private static string ErrorString(State s, int rc)
    {
        byte* p = null;
        return s.cuGetErrorString is not null && s.cuGetErrorString(rc, &p) == 0 && p != null
            ? Marshal.PtrToStringUTF8((nint)p) ?? "unknown error" : "unknown error";
    }

    /// <summary>Throws <see cref="CudaException"/> for a non-zero CUresult.</summary>
    public static void Check(int rc, string call)
    {
        if (rc == 0) return;
        var s = LazyState.Value;
        throw new CudaException(call, rc, ErrorName(s, rc), ErrorString(s, rc));
    }

    /// <summary>Throws <see cref="CudaException"/> for a non-zero nvrtcResult.</summary>
    public static void CheckNvrtc(int rc, string call, string? log = null)
    {
        if (rc == 0) return;
        var s = LazyState.Value;
        string text = s.nvrtcGetErrorString is not null ? Marshal.PtrToStringUTF8((nint)s.nvrtcGetErrorString(rc)) ?? "" : "";
        throw new CudaException(call, rc, text.Length > 0 ? text : $"NVRTC_ERROR_{rc}", "NVRTC error", log);
    }
}
