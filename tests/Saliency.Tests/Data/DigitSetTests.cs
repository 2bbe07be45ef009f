using System.Buffers.Binary;
using NUnit.Framework;
using Saliency.Imaging;
using Saliency.Models.Data;
using Saliency.TestSupport;

namespace Saliency.Tests.Data;

[TestFixture]
internal class DigitSetTests
{
    private static (byte[] Images, byte[] Labels) SmallIdx()
    {
        var pixels = new byte[3 * 2 * 4];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(i * 10);
        return DigitSet.ToIdx(2, 4, pixels, [7, 0, 9]);
    }

    [Test]
    public void ParsesWhatToIdxWrites()
    {
        var (images, labels) = SmallIdx();
        var set = DigitSet.Parse(images, labels);
        Assert.That((set.Count, set.Rows, set.Cols), Is.EqualTo((3, 2, 4)));
        Assert.That(set.Labels.ToArray(), Is.EqualTo(new byte[] { 7, 0, 9 }));
        Assert.That(set.ImageBytes(1).ToArray(), Is.EqualTo(Enumerable.Range(8, 8).Select(i => (byte)(i * 10)).ToArray()));
        Assert.That(set.Batch(1, 2), Has.Length.EqualTo(16));
        Assert.That(set.Batch(1, 2)[0], Is.EqualTo(80 / 255f));
        Assert.That(set.ImageFloats(2)[7], Is.EqualTo(230 / 255f));
        Assert.Throws<ArgumentOutOfRangeException>(() => set.Batch(2, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => set.Label(3));
    }

    [Test]
    public void BundledDigitsAreTheDocumentedFiveHundred()
    {
        var set = BundledLeNet.Digits();
        Assert.That((set.Count, set.Rows, set.Cols), Is.EqualTo((500, 28, 28)));
        var perClass = new int[10];
        foreach (var label in set.Labels) perClass[label]++;
        Assert.That(perClass, Is.All.GreaterThan(20), "every class is represented");
        // Real digits: mostly background with some ink, not noise or a constant.
        var ink = set.Batch(0, set.Count).Average();
        Assert.That(ink, Is.InRange(0.05, 0.25));
    }

    [Test]
    public void SamplePngsAreTheFirstTwoDigitsOfEachClass()
    {
        // The samples were written by the training script's own PNG writer; our PNG reader must give back exactly
        // the bytes stored in the IDX file.
        var set = BundledLeNet.Digits();
        for (int digit = 0; digit < 10; digit++)
        {
            var indices = Enumerable.Range(0, set.Count).Where(i => set.Label(i) == digit).Take(2).ToArray();
            for (int k = 0; k < 2; k++)
            {
                var png = ImageCodec.Read(Path.Combine(RepoFiles.Samples, $"digit-{digit}-{k}.png"));
                Assert.That((png.Width, png.Height, png.Format), Is.EqualTo((28, 28, PixelFormat.Gray)));
                Assert.That(png.Pixels, Is.EqualTo(set.ImageBytes(indices[k]).ToArray()), $"digit-{digit}-{k}.png");
            }
        }
    }

    [Test]
    public void MalformedFilesAreRefusedWithANamedProblem()
    {
        var (images, labels) = SmallIdx();
        void Refused(byte[] i, byte[] l, string expected) =>
            Assert.That(Assert.Throws<DigitSetFormatException>(() => DigitSet.Parse(i, l))!.Message, Does.Contain(expected));

        Refused(labels, labels, "magic");                          // label file given as images
        Refused(images, images, "magic");                          // image file given as labels
        Refused(images[..^1], labels, "truncated");
        Refused([.. images, 0], labels, "trailing");
        Refused(images[..10], labels, "too short");
        Refused(images, labels[..^1], "truncated");
        var fewer = DigitSet.ToIdx(2, 4, new byte[16], [1, 2]).Labels;
        Refused(images, fewer, "3 images but labels holds 2");
        var notDigit = (byte[])labels.Clone();
        notDigit[9] = 10;
        Refused(images, notDigit, "not a digit");
        var zeroRows = (byte[])images.Clone();
        BinaryPrimitives.WriteInt32BigEndian(zeroRows.AsSpan(8), 0);
        Refused(zeroRows, labels, "image size");
        var hugeCount = (byte[])images.Clone();
        BinaryPrimitives.WriteUInt32BigEndian(hugeCount.AsSpan(4), uint.MaxValue);
        Refused(hugeCount, labels, "truncated");
    }

    [Test]
    public void MissingFilesGiveFileNotFound()
    {
        var missing = Path.Combine(Path.GetTempPath(), "no-such-digits-91c2.idx3-ubyte");
        var e = Assert.Throws<FileNotFoundException>(() => DigitSet.Load(missing, missing));
        Assert.That(e!.Message, Does.Contain("no-such-digits-91c2"));
    }
}
