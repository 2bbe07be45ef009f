using System.Diagnostics;
using System.Globalization;
using System.Text;
using NUnit.Framework;
using Saliency.Reporting;

namespace Saliency.Tests.Report;

/// <summary>The .npy v1.0 writer against the format's definition (numpy/lib/format.py) and, where numpy exists, numpy itself.</summary>
public sealed class NpyTests
{
    [Test]
    public void HeaderIsTheFormatsDictPaddedTo64Bytes()
    {
        var bytes = Npy.Encode(new float[] { 1, 2, 3, 4, 5, 6 }, [2, 3]);
        Assert.That(bytes[..8], Is.EqualTo(new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0 }));
        int headerLength = bytes[8] | bytes[9] << 8;
        Assert.That((10 + headerLength) % 64, Is.Zero, "data aligned to 64 bytes");
        string header = Encoding.ASCII.GetString(bytes, 10, headerLength);
        Assert.That(header, Does.StartWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"));
        Assert.That(header, Does.EndWith("\n"));
        Assert.That(header.TrimEnd('\n').TrimEnd(' '), Has.Length.EqualTo("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }".Length));
        Assert.That(bytes, Has.Length.EqualTo(10 + headerLength + 6 * 4));
        // Little-endian IEEE 754: 1f = 0x3F800000.
        Assert.That(bytes[(10 + headerLength)..(14 + headerLength)], Is.EqualTo(new byte[] { 0, 0, 0x80, 0x3F }));
    }

    [Test]
    public void OneDimensionalShapeHasPythonsTrailingComma() =>
        Assert.That(Encoding.ASCII.GetString(Npy.Encode(new double[] { 1, 2, 3 }, [3])), Does.Contain("'shape': (3,), }"));

    [TestCase(new[] { 5 })]
    [TestCase(new[] { 1, 28, 28 })]
    [TestCase(new[] { 3, 7, 11 })]
    [TestCase(new[] { 2, 0, 4 })]
    public void RoundTripIsExact(int[] shape)
    {
        int n = shape.Aggregate(1, (a, d) => a * d);
        var random = new Random(n + shape.Length);
        var floats = Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1) * 1e3f).ToArray();
        if (n > 2) { floats[0] = float.Epsilon; floats[1] = -0f; }
        var doubles = floats.Select(v => v * Math.PI).ToArray();
        var f = Npy.Decode(Npy.Encode(floats, shape));
        Assert.That(f.Shape, Is.EqualTo(shape));
        Assert.That(f.Descr, Is.EqualTo("<f4"));
        Assert.That(f.Values.Select(v => (float)v), Is.EqualTo(floats));
        var d = Npy.Decode(Npy.Encode(doubles, shape));
        Assert.That(d.Descr, Is.EqualTo("<f8"));
        Assert.That(d.Values, Is.EqualTo(doubles));
    }

    [Test]
    public void BadInputIsRefusedWithATypedException()
    {
        Assert.Throws<ArgumentException>(() => Npy.Encode(new float[5], [2, 3]));
        Assert.Throws<ArgumentException>(() => Npy.Encode(new float[0], [-1]));
        var good = Npy.Encode(new float[6], [2, 3]);
        Assert.Throws<NpyFormatException>(() => Npy.Decode(good.AsSpan(0, good.Length - 1)), "truncated data");
        Assert.Throws<NpyFormatException>(() => Npy.Decode(good.AsSpan(0, 9)), "truncated header");
        var bad = (byte[])good.Clone();
        bad[1] = (byte)'X';
        Assert.Throws<NpyFormatException>(() => Npy.Decode(bad), "magic");
        var i8 = (byte[])good.Clone();
        Encoding.ASCII.GetBytes("<i8").CopyTo(i8, 10 + "{'descr': '".Length);
        Assert.Throws<NpyFormatException>(() => Npy.Decode(i8), "dtype");
    }

    /// <summary>numpy.load reads the file back (skipped where python3 has no numpy; the repo does not install it).</summary>
    [Test]
    public void NumpyLoadsTheFile()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"npy-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var values = Enumerable.Range(0, 12).Select(i => i * 0.5f - 2f).ToArray();
            string path = Path.Combine(dir, "a.npy");
            File.WriteAllBytes(path, Npy.Encode(values, [3, 4]));
            var (exit, output) = Python($"import numpy as np; a = np.load(r'{path}'); print(a.dtype, a.shape, repr(float(a.sum())), repr(float(a[2, 1])))");
            if (exit is null || (exit != 0 && output.Contains("No module named 'numpy'"))) Assert.Ignore("python3 with numpy is not installed (optional check).");
            Assert.That(exit, Is.Zero, output);
            Assert.That(output.Trim(), Is.EqualTo(string.Create(CultureInfo.InvariantCulture, $"float32 (3, 4) {values.Sum():0.0} {values[9]:0.0}")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static (int? Exit, string Output) Python(string code)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo("python3", ["-c", code]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            string output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, output);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return (null, "");
        }
    }
}
