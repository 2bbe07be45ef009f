using NUnit.Framework;
using Saliency.Imaging;
using Saliency.TestSupport;
using Saliency.Tests.Cli;

namespace Saliency.Tests.Zoo;

/// <summary>
/// <c>saliency explain</c> itself (the command tree, in-process) on zoo models at opset 9, the form the issue reported
/// as refused: the test input written as an RGB PNG of the model's size, then gradient, CASO and LEG-TV must exit 0
/// and write a map. The library-level checks of every file and opset are in <see cref="ZooExplainTests"/>.
/// </summary>
[TestFixture]
[Parallelizable(ParallelScope.None)]
public sealed class ZooCliTests : CliTestBase
{
    [TestCase("resnet18", "gradient")]
    [TestCase("mobilenet_v3_small", "caso")]
    [TestCase("shufflenet_v2_x0_5", "leg-tv")]
    public void ExplainRunsOnAnOpset9ZooModel(string arch, string method)
    {
        var model = ZooFixtures.Get(arch, 9);
        int side = (int)model.InputShape[2];
        // The fixed test input (NCHW in [0, 1)) as 8-bit RGB.
        var x = model.Input();
        var pixels = new byte[side * side * 3];
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < side * side; i++)
                pixels[i * 3 + c] = (byte)Math.Round(255 * x[c * side * side + i]);
        string image = Path.Combine(Temp, "input.png"), map = Path.Combine(Temp, "map.png");
        ImageCodec.WritePng(image, new ImageBuffer(side, side, PixelFormat.Rgb, pixels));

        string[] extra = method == "leg-tv" ? ["--samples", "64"] : [];
        var (exit, output, error) = Invoke(["explain", "--model", model.Path, "--image", image, "--method", method, "--scale", "1", "--out", map, .. extra]);
        Assert.That(exit, Is.EqualTo(0), error + output);
        Assert.That(File.Exists(map), Is.True);
    }
}
