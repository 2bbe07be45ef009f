using System.Runtime.InteropServices;

namespace Saliency.Kernels.Cuda;

/// <summary>
/// Optional cuBLAS binding (<c>libcublas.so.13</c>, <c>.12</c>, <c>.11</c>, <c>libcublas.so</c>, probed at run time) for
/// the kernels where a GEMM is the honest tool (the HVP's two passes over W on all classes). Absent cuBLAS is not an
/// error: callers fall back to the project's own kernels.
/// </summary>
public sealed unsafe class Cublas : IDisposable
{
    private static readonly Lazy<Api?> LazyApi = new(LoadApi, LazyThreadSafetyMode.ExecutionAndPublication);
    private static string _loadFailure = "";

    private sealed class Api
    {
        public delegate* unmanaged<nint*, int> Create;
        public delegate* unmanaged<nint, int> Destroy;
        public delegate* unmanaged<nint, nint, int> SetStream;
        public delegate* unmanaged<nint, int, int, int, int, int, float*, ulong, int, ulong, int, float*, ulong, int, int> Sgemm;
    }

    private readonly CudaBackend _backend;
    private nint _handle;

    private Cublas(CudaBackend backend, nint handle)
    {
        _backend = backend;
        _handle = handle;
    }

    /// <summary>Creates a cuBLAS handle bound to <paramref name="backend"/>'s stream, or returns null with the reason.</summary>
    public static Cublas? TryCreate(CudaBackend backend, out string reason)
    {
        var api = LazyApi.Value;
        if (api is null)
        {
            reason = _loadFailure;
            return null;
        }
        backend.MakeCurrent();
        nint handle;
        int rc = api.Create(&handle);
        if (rc != 0)
        {
            reason = $"cublasCreate_v2 failed with status {rc}.";
            return null;
        }
        rc = api.SetStream(handle, backend.Stream);
        if (rc != 0)
        {
            api.Destroy(handle);
            reason = $"cublasSetStream_v2 failed with status {rc}.";
            return null;
        }
        reason = "";
        return new Cublas(backend, handle);
    }

    /// <summary>
    /// Column-major single-precision GEMM on the backend's stream: <c>C ← α op(A) op(B) + β C</c> with op(A) m×k and
    /// op(B) k×n (cuBLAS conventions; pointers are device addresses).
    /// </summary>
    /// <exception cref="CudaException">cuBLAS reported an error.</exception>
    public void Sgemm(bool transposeA, bool transposeB, int m, int n, int k, float alpha, ulong a, int lda, ulong b, int ldb,
        float beta, ulong c, int ldc)
    {
        ObjectDisposedException.ThrowIf(_handle == 0, this);
        _backend.MakeCurrent();
        int rc = LazyApi.Value!.Sgemm(_handle, transposeA ? 1 : 0, transposeB ? 1 : 0, m, n, k, &alpha, a, lda, b, ldb, &beta, c, ldc);
        if (rc != 0) throw new CudaException("cublasSgemm_v2", rc, StatusName(rc), "cuBLAS error");
    }

    /// <summary>Destroys the handle.</summary>
    public void Dispose()
    {
        if (_handle == 0) return;
        _backend.MakeCurrent();
        LazyApi.Value!.Destroy(_handle);
        _handle = 0;
    }

    private static string StatusName(int rc) => rc switch
    {
        1 => "CUBLAS_STATUS_NOT_INITIALIZED",
        3 => "CUBLAS_STATUS_ALLOC_FAILED",
        7 => "CUBLAS_STATUS_INVALID_VALUE",
        8 => "CUBLAS_STATUS_ARCH_MISMATCH",
        11 => "CUBLAS_STATUS_MAPPING_ERROR",
        13 => "CUBLAS_STATUS_EXECUTION_FAILED",
        14 => "CUBLAS_STATUS_INTERNAL_ERROR",
        15 => "CUBLAS_STATUS_NOT_SUPPORTED",
        16 => "CUBLAS_STATUS_LICENSE_ERROR",
        _ => $"CUBLAS_STATUS_{rc}",
    };

    private static Api? LoadApi()
    {
        string[] names = OperatingSystem.IsWindows()
            ? ["cublas64_13.dll", "cublas64_12.dll", "cublas64_11.dll"]
            : ["libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"];
        foreach (var name in names)
        {
            if (!NativeLibrary.TryLoad(name, out var lib)) continue;
            if (NativeLibrary.TryGetExport(lib, "cublasCreate_v2", out var create) &&
                NativeLibrary.TryGetExport(lib, "cublasDestroy_v2", out var destroy) &&
                NativeLibrary.TryGetExport(lib, "cublasSetStream_v2", out var setStream) &&
                NativeLibrary.TryGetExport(lib, "cublasSgemm_v2", out var sgemm))
            {
                return new Api
                {
                    Create = (delegate* unmanaged<nint*, int>)create,
                    Destroy = (delegate* unmanaged<nint, int>)destroy,
                    SetStream = (delegate* unmanaged<nint, nint, int>)setStream,
                    Sgemm = (delegate* unmanaged<nint, int, int, int, int, int, float*, ulong, int, ulong, int, float*, ulong, int, int>)sgemm,
                };
            }
        }
        _loadFailure = $"cuBLAS ({string.Join(", ", names)}) was not found.";
        return null;
    }
}
