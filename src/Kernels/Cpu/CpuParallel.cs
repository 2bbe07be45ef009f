namespace Saliency.Kernels.Cpu;

/// <summary>Splits element-wise CPU work into a few contiguous chunks, one per core; small work runs inline.</summary>
internal static class CpuParallel
{
    /// <summary>Below this many elements a kernel runs on the calling thread (thread hand-off costs more than it saves).</summary>
    public const int InlineThreshold = 1 << 15;

    /// <summary>Runs <paramref name="body"/>(start, length) over [0, <paramref name="length"/>) in contiguous chunks.</summary>
    public static void For(int length, Action<int, int> body, int inlineThreshold = InlineThreshold)
    {
        int workers = CpuBackend.Shared.Parallelism;
        if (length <= inlineThreshold || workers == 1)
        {
            body(0, length);
            return;
        }
        int chunks = Math.Min(workers, (length + inlineThreshold - 1) / inlineThreshold);
        Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = workers }, c =>
        {
            int start = (int)((long)length * c / chunks);
            int end = (int)((long)length * (c + 1) / chunks);
            body(start, end - start);
        });
    }
}
