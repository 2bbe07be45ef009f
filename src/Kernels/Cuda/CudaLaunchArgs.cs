namespace Saliency.Kernels.Cuda;

/// <summary>
/// Packs kernel arguments for <c>cuLaunchKernel</c>: each argument's bytes go into a pinned block and the
/// parameter array points at them. Arguments must be added in the order of the kernel's parameters, with exactly the
/// C types the kernel declares (device pointers as <see cref="ulong"/>, <c>int</c> as <see cref="int"/>, …).
/// One instance per thread is reused (<see cref="Rent"/>), so launching allocates nothing in steady state.
/// </summary>
public sealed unsafe class CudaLaunchArgs
{
    private const int Capacity = 8192;
    private const int MaxArgs = 64;

    [ThreadStatic] private static CudaLaunchArgs? _perThread;

    private readonly byte[] _data = GC.AllocateArray<byte>(Capacity + 16, pinned: true);
    private readonly nint[] _pointers = GC.AllocateArray<nint>(MaxArgs, pinned: true);
    private int _offset;

    /// <summary>Number of arguments added.</summary>
    public int Count { get; private set; }

    /// <summary>This thread's instance, emptied.</summary>
    public static CudaLaunchArgs Rent()
    {
        var args = _perThread ??= new CudaLaunchArgs();
        args._offset = 0;
        args.Count = 0;
        return args;
    }

    /// <summary>Adds one scalar (or a device pointer as <see cref="ulong"/>).</summary>
    public CudaLaunchArgs Add<T>(T value) where T : unmanaged => AddInline(new ReadOnlySpan<T>(in value), 1);

    /// <summary>Adds a device buffer's address.</summary>
    public CudaLaunchArgs Add<T>(CudaBuffer<T> buffer) where T : unmanaged => Add(buffer.DevicePointer);

    /// <summary>
    /// Adds a by-value C array/struct of <paramref name="capacity"/> elements (e.g. <c>struct { float v[64]; }</c>),
    /// filled from <paramref name="values"/> and zero-padded.
    /// </summary>
    public CudaLaunchArgs AddInline<T>(ReadOnlySpan<T> values, int capacity) where T : unmanaged
    {
        if (values.Length > capacity) throw new ArgumentException($"{values.Length} values exceed the inline capacity {capacity}.");
        if (Count == MaxArgs) throw new InvalidOperationException($"At most {MaxArgs} kernel arguments.");
        int size = capacity * sizeof(T);
        fixed (byte* start = _data)
        {
            // Absolute 16-byte alignment of every value (the array itself is only 8-byte aligned).
            _offset += (int)((16 - (((nint)start + _offset) & 15)) & 15);
        }
        if (_offset + size > Capacity) throw new InvalidOperationException($"Kernel arguments exceed {Capacity} bytes.");
        fixed (byte* b = &_data[_offset])
        {
            var dst = new Span<T>(b, capacity);
            values.CopyTo(dst);
            dst[values.Length..].Clear();
            _pointers[Count++] = (nint)b;
        }
        _offset += size;
        return this;
    }

    /// <summary>Pointer to the parameter array for <c>cuLaunchKernel</c> (the arrays are pinned for the process lifetime).</summary>
    internal void** ParameterArray
    {
        get
        {
            fixed (nint* p = _pointers) return (void**)p;
        }
    }
}
