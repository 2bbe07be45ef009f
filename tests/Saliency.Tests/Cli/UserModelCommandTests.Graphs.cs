using NUnit.Framework;
using Saliency.Models.Onnx.Proto;

namespace Saliency.Tests.Cli;

/// <summary>
/// Broken graphs (issue 10, "fuzzed models"): a cycle and a node reading a tensor that nothing produces. Every command
/// must answer with one line and exit code 1, whichever path opens the model (forward-only methods through ONNX Runtime
/// alone, gradient methods through the exporter), and export-jacobian must write nothing.
/// </summary>
internal sealed partial class UserModelCommandTests
{
    /// <summary>The model with the input of its second node rewired: to the node's own output (a cycle), or to a
    /// tensor no node, input or initializer produces.</summary>
    private static ModelProto Rewired(bool cycle)
    {
        var m = Cnn();
        var node = m.Graph.Node[1];
        node.Input[0] = cycle ? node.Output[0] : "nothing_produces_this";
        return m;
    }

    [TestCase(true)]
    [TestCase(false)]
    public void BrokenGraphsGetOneLineFromEveryCommand(bool cycle)
    {
        var image = Picture();
        var model = Save(Rewired(cycle), cycle ? "cycle.onnx" : "dangling.onnx");
        var jacobian = Path.Combine(Temp, "broken.jacobian.onnx");
        var runs = new[]
        {
            new[] { "predict", "--model", model, "--image", image },
            new[] { "info", "--model", model },
            new[] { "explain", "--method", "leg", "--model", model, "--image", image, "--samples", "16", "--out", Path.Combine(Temp, "l.png") },
            new[] { "explain", "--method", "gradient", "--model", model, "--image", image, "--out", Path.Combine(Temp, "g.png") },
            new[] { "export-jacobian", "--model", model, "--out", jacobian },
        };
        foreach (var args in runs)
        {
            var r = Invoke(args);
            if (args[0] == "info" && r.Exit == 0) continue; // info only reads the graph; it need not run it
            OneLineError(r);
        }
        Assert.That(File.Exists(jacobian), Is.False, "export-jacobian wrote a file for a broken graph");
        Assert.That(File.Exists(Path.Combine(Temp, "l.png")) || File.Exists(Path.Combine(Temp, "g.png")), Is.False);
    }
}
