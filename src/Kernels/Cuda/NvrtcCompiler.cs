using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Text;

namespace Saliency.Kernels.Cuda;

/// <summary>
/// Compiles CUDA C sources with NVRTC for a device's compute capability; results are cached per process
/// (key: module name, source text and architecture), so each kernel file is compiled at most once per run.
/// </summary>
internal static unsafe class NvrtcCompiler
{
    private static readonly ConcurrentDictionary<(string Name, string Code, int Arch), Lazy<byte[]>> Cache = new();

    /// <summary>Compiled image (CUBIN for sm_XY, or PTX for compute_XY when NVRTC cannot emit CUBIN for the device).</summary>
    public static byte[] Compile(CudaKernelSource source, int major, int minor)
    {
        int arch = major * 10 + minor;
        var lazy = Cache.GetOrAdd((source.Name, source.Code, arch),
            key => new Lazy<byte[]>(() => CompileUncached(source, key.Arch), LazyThreadSafetyMode.ExecutionAndPublication));
        try
        {
            return lazy.Value;
        }
        catch
        {
            // Do not cache failures (a later call with a fixed environment may succeed).
            Cache.TryRemove(new KeyValuePair<(string, string, int), Lazy<byte[]>>((source.Name, source.Code, arch), lazy));
            throw;
        }
    }

    private static byte[] CompileUncached(CudaKernelSource source, int arch)
    {
        try
        {
            return CompileOnce(source, [$"--gpu-architecture=sm_{arch}", "--std=c++17", "-default-device"], cubin: true);
        }
        catch (CudaException ex) when (ex.CompileLog is null)
        {
            // NVRTC older than the device: no CUBIN for sm_XY. PTX for the same virtual arch lets the driver JIT it.
            return CompileOnce(source, [$"--gpu-architecture=compute_{arch}", "--std=c++17", "-default-device"], cubin: false);
        }
    }

    private static byte[] CompileOnce(CudaKernelSource source, string[] options, bool cubin)
    {
        var api = CudaRuntime.Api;
        byte[] code = NullTerminated(source.Code);
        byte[] name = NullTerminated(source.Name);
        nint program;
        fixed (byte* pc = code)
        fixed (byte* pn = name)
            CudaRuntime.CheckNvrtc(api.nvrtcCreateProgram(&program, pc, pn, 0, null, null), "nvrtcCreateProgram");
        try
        {
            var optionBytes = options.Select(NullTerminated).ToArray();
            var handles = optionBytes.Select(b => GCHandle.Alloc(b, GCHandleType.Pinned)).ToArray();
            int rc;
            try
            {
                var ptrs = stackalloc byte*[options.Length];
                for (int i = 0; i < options.Length; i++) ptrs[i] = (byte*)handles[i].AddrOfPinnedObject();
                rc = api.nvrtcCompileProgram(program, options.Length, ptrs);
            }
            finally
            {
                foreach (var h in handles) h.Free();
            }
            if (rc != 0)
            {
                string log = ReadLog(program);
                // An invalid option (architecture unknown to this NVRTC) has an empty log: the caller may fall back.
                CudaRuntime.CheckNvrtc(rc, $"nvrtcCompileProgram({source.Name}, {string.Join(' ', options)})",
                    string.IsNullOrWhiteSpace(log) ? null : log);
            }
            nuint size;
            if (cubin)
            {
                CudaRuntime.CheckNvrtc(api.nvrtcGetCUBINSize(program, &size), "nvrtcGetCUBINSize");
                var image = new byte[(int)size];
                fixed (byte* p = image) CudaRuntime.CheckNvrtc(api.nvrtcGetCUBIN(program, p), "nvrtcGetCUBIN");
                return image;
            }
            CudaRuntime.CheckNvrtc(api.nvrtcGetPTXSize(program, &size), "nvrtcGetPTXSize");
            var ptx = new byte[(int)size];
            fixed (byte* p = ptx) CudaRuntime.CheckNvrtc(api.nvrtcGetPTX(program, p), "nvrtcGetPTX");
            return ptx;
        }
        finally
        {
            api.nvrtcDestroyProgram(&program);
        }
    }

    private static string ReadLog(nint program)
    {
        var api = CudaRuntime.Api;
        nuint size;
        if (api.nvrtcGetProgramLogSize(program, &size) != 0 || size <= 1) return "";
        var buffer = new byte[(int)size];
        fixed (byte* p = buffer)
            if (api.nvrtcGetProgramLog(program, p) != 0) return "";
        return Encoding.UTF8.GetString(buffer, 0, buffer.Length - 1);
    }

    private static byte[] NullTerminated(string s)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(s) + 1];
        Encoding.UTF8.GetBytes(s, bytes);
        return bytes;
    }
}
