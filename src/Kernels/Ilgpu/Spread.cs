using System.Runtime.CompilerServices;

namespace Saliency.Kernels.Ilgpu;

/// <summary>
/// How an implicitly grouped ILGPU kernel spreads <see cref="Count"/> work items over <see cref="Threads"/> threads
/// (the launch extent). On a GPU: a grid-stride loop (item i on thread i mod Threads, so neighbouring threads touch
/// neighbouring elements: coalesced). On ILGPU's CPU accelerator: one contiguous chunk per thread, because every
/// simulated GPU group costs a hand-off between OS threads there (a 200,000-thread launch took ~1 s on the shared
/// 2-core machine, most of it group scheduling) and interleaved writes from different cores would share cache lines.
/// Kernels loop <c>for (int i = s.First(t); i &lt; s.End(t); i += s.Step)</c>. Built by <see cref="IlgpuBackend.Spread"/>.
/// </summary>
internal readonly struct Spread
{
    /// <summary>Creates the split (chunk 0: grid-stride).</summary>
    public Spread(int count, int threads, int chunk)
    {
        Count = count;
        Threads = threads;
        Chunk = chunk;
    }

    /// <summary>Number of work items.</summary>
    public int Count { get; }

    /// <summary>Number of threads to launch.</summary>
    public int Threads { get; }

    /// <summary>Items per thread in blocked mode; 0 selects the grid-stride loop.</summary>
    public int Chunk { get; }

    /// <summary>First item of thread <paramref name="t"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int First(int t) => Chunk > 0 ? t * Chunk : t;

    /// <summary>End (exclusive) of thread <paramref name="t"/>'s items.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int End(int t) => Chunk > 0 ? (int)Math.Min(Count, (long)t * Chunk + Chunk) : Count;

    /// <summary>Distance between a thread's consecutive items.</summary>
    public int Step => Chunk > 0 ? 1 : Threads;
}
