using System.Runtime.InteropServices;

namespace Saliency.Cli.Commands;

/// <summary>
/// Reads the files users name on the command line without trusting them: only regular files (a FIFO would block
/// forever, <c>/dev/zero</c> never ends), with the size checked against a limit before a byte is read, and at most
/// that many bytes read even if the file grows meanwhile.
/// </summary>
/// <remarks>
/// The file type and identity come from Linux <c>statx(2)</c>, whose struct layout is the same on every architecture
/// (include/uapi/linux/stat.h), so no per-architecture <c>struct stat</c> is needed. Elsewhere, or where statx is
/// missing, a zero length stands in for "not a regular file": FIFOs and devices report size 0.
/// </remarks>
internal static partial class InputFiles
{
    /// <summary>Largest model file read (2 GiB is protobuf's own limit).</summary>
    public const long MaxModelBytes = int.MaxValue;

    /// <summary>Largest picture file read.</summary>
    public const long MaxImageBytes = 256L << 20;

    /// <summary>The file's bytes, after the checks above.</summary>
    /// <exception cref="UserInputException">Missing, a directory, not a regular file, empty or too large.</exception>
    public static byte[] Read(FileInfo file, string what, long maxBytes)
    {
        var path = CheckRegular(file, what);
        long length = new FileInfo(path).Length;
        if (length > maxBytes)
            throw new UserInputException($"the {what} '{Terminal.Escape(path)}' has {length:N0} bytes, more than the limit of {maxBytes:N0}.");
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        var buffer = new byte[length];
        int read = 0;
        while (read < buffer.Length && stream.Read(buffer, read, buffer.Length - read) is int n and > 0) read += n;
        if (read != buffer.Length || stream.ReadByte() != -1)
            throw new UserInputException($"the {what} '{Terminal.Escape(path)}' changed size while it was read.");
        return buffer;
    }

    /// <summary>The full path of an existing regular file.</summary>
    /// <exception cref="UserInputException">Missing, a directory, or not a regular file.</exception>
    public static string CheckRegular(FileInfo file, string what)
    {
        string path = file.FullName;
        if (Directory.Exists(path))
            throw new UserInputException($"the {what} '{Terminal.Escape(path)}' is a directory; give the file itself.");
        if (!file.Exists)
            throw new UserInputException($"{what} not found: {Terminal.Escape(path)}");
        var info = Stat(path);
        if (info is { } s && !s.IsRegular)
            throw new UserInputException($"the {what} '{Terminal.Escape(path)}' is not a regular file (a FIFO, socket or device); give a file.");
        // Without statx a zero length is all that tells a FIFO or device from a file; an empty regular file is left
        // to the reader, whose format error names it.
        if (info is null && new FileInfo(path).Length == 0)
            throw new UserInputException($"the {what} '{Terminal.Escape(path)}' is empty or not a regular file.");
        return path;
    }

    /// <summary>True when both paths name the same file (same device and inode: symlinks and hard links included).</summary>
    public static bool SameFile(string a, string b)
    {
        if (Stat(a) is { } x && Stat(b) is { } y) return x.Device == y.Device && x.Inode == y.Inode;
        static string Final(string p) => new FileInfo(p).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? Path.GetFullPath(p);
        return File.Exists(a) && File.Exists(b) && Final(a) == Final(b);
    }

    /// <summary>What statx says about a path (following symlinks), or null where it cannot be asked.</summary>
    internal readonly record struct FileStat(ushort Mode, ulong Inode, ulong Device)
    {
        public bool IsRegular => (Mode & 0xF000) == 0x8000; // S_IFMT, S_IFREG
    }

    internal static unsafe FileStat? Stat(string path)
    {
        if (!OperatingSystem.IsLinux()) return null;
        const int AtFdCwd = -100;
        const uint StatxBasicStats = 0x7FF;
        byte* buffer = stackalloc byte[256];
        try
        {
            if (statx(AtFdCwd, path, 0, StatxBasicStats, buffer) != 0) return null;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return null;
        }
        // struct statx: stx_mode u16 at 28, stx_ino u64 at 32, stx_dev_major/minor u32 at 136/140.
        ushort mode = *(ushort*)(buffer + 28);
        ulong inode = *(ulong*)(buffer + 32);
        ulong device = ((ulong)*(uint*)(buffer + 136) << 32) | *(uint*)(buffer + 140);
        return new FileStat(mode, inode, device);
    }

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static unsafe partial int statx(int dirfd, string path, int flags, uint mask, byte* buffer);
}

/// <summary>Text from files (tensor and node names, paths) made safe for a terminal.</summary>
internal static class Terminal
{
    /// <summary>
    /// Replaces control characters (C0, DEL, C1, and the bidirectional overrides) with <c>\u{XXXX}</c>-style escapes,
    /// so a name like "ESC[2J" from a hostile model cannot drive the terminal.
    /// </summary>
    public static string Escape(string? text)
    {
        if (string.IsNullOrEmpty(text)) return text ?? "";
        if (!text.Any(NeedsEscape)) return text;
        var sb = new System.Text.StringBuilder(text.Length + 8);
        foreach (char c in text)
            sb.Append(NeedsEscape(c) ? $"\\u{(int)c:X4}" : c);
        return sb.ToString();
    }

    private static bool NeedsEscape(char c) => char.IsControl(c) || c is >= '\u202A' and <= '\u202E' or >= '\u2066' and <= '\u2069';
}
