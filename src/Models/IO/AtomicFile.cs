namespace Saliency.Models.IO;

/// <summary>
/// Writes a file so that readers see either the earlier content or the complete new content, never a truncated
/// one: the bytes go to a uniquely named temporary file in the target's folder, are flushed to disk, and the
/// temporary file is then renamed over the target (rename(2) on one filesystem is atomic, POSIX "rename"; on
/// Windows <see cref="File.Move(string, string, bool)"/> uses MoveFileEx with MOVEFILE_REPLACE_EXISTING). On any
/// failure — a full disk, a refused rename — the temporary file is deleted and the exception propagates, so the
/// earlier file is left byte-identical.
/// </summary>
internal static class AtomicFile
{
    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/> atomically (created or replaced).</summary>
    public static void WriteAllBytes(string path, byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        Write(path, stream => stream.Write(bytes));
    }

    /// <summary>
    /// Writes what <paramref name="write"/> puts in the stream to <paramref name="path"/> atomically. The target
    /// changes only if <paramref name="write"/> returns and the flush and rename succeed.
    /// </summary>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        string full = Path.GetFullPath(path);
        string folder = Path.GetDirectoryName(full) ?? throw new ArgumentException($"'{path}' names no file.", nameof(path));
        // Hidden, and unique per process and call, so that concurrent writers never share a temporary file.
        string temp = Path.Combine(folder, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                write(stream);
                // To the device, not just the OS cache: a crash after the rename must not expose an empty file.
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Nothing more to do; the original exception is the one worth reporting.
        }
    }
}
