using System.CommandLine;
using Google.Protobuf;
using Saliency.Models.Autodiff;
using Saliency.Models.IO;
using Saliency.Models.Onnx.Proto;
using Spectre.Console;

namespace Saliency.Cli.Commands;

/// <summary>
/// <c>saliency export-jacobian --model in.onnx --out out.onnx</c>: writes the classifier augmented with
/// <c>logits</c>, <c>probabilities</c> and the batched vector-Jacobian product (<c>cotangents</c> [k, c] in,
/// <c>vjp</c> [k, image dims] out) built by <see cref="JacobianExporter"/>; stock ONNX Runtime runs the result.
/// </summary>
internal static class ExportJacobianCommand
{
    public static Command Create()
    {
        var model = new Option<FileInfo>("--model") { Required = true, Description = "The classifier (ONNX, one float image input, logits or softmax output)." };
        var output = new Option<FileInfo>("--out") { Required = true, Description = "Where to write the augmented model." };
        var inputShape = new Option<string>("--input-shape")
        {
            Description = "Image shape without batch, e.g. 3,224,224 (only for models with symbolic image sizes).",
        };
        var command = new Command("export-jacobian",
            "Export a classifier with its Jacobian subgraph: one ONNX Runtime run gives the logits and k vector-Jacobian products (rows of W, or the loss gradient).")
        {
            model, output, inputShape,
        };
        command.SetAction(parseResult => CommandSupport.Run(parseResult, console =>
        {
            var modelFile = parseResult.GetValue(model)!;
            var outFile = parseResult.GetValue(output)!;
            if (!modelFile.Exists) throw new FileNotFoundException($"The model file '{modelFile.FullName}' does not exist.", modelFile.FullName);
            var options = new JacobianExportOptions { InputShape = ParseShape(parseResult.GetValue(inputShape)) };

            ModelProto exported;
            int originalNodes;
            try
            {
                var classifier = ModelProto.Parser.ParseFrom(File.ReadAllBytes(modelFile.FullName));
                originalNodes = classifier.Graph?.Node.Count ?? 0;
                exported = JacobianExporter.Export(classifier, options);
            }
            catch (InvalidProtocolBufferException e)
            {
                throw new UserInputException($"'{modelFile.FullName}' is not a valid ONNX model: {e.Message}");
            }
            catch (JacobianExportException e)
            {
                throw new UserInputException(e.Message);
            }
            // Written only after the export succeeded, and atomically, so neither a refusal nor a full disk leaves
            // a partial file behind (an earlier file at --out stays as it was).
            AtomicFile.WriteAllBytes(outFile.FullName, exported.ToByteArray());

            var meta = exported.MetadataProps.ToDictionary(e => e.Key, e => e.Value);
            console.WriteLine($"wrote {outFile.FullName}");
            console.WriteLine($"  input '{meta[JacobianExporter.MetadataInput]}', logits '{meta[JacobianExporter.MetadataLogits]}'" +
                              (meta[JacobianExporter.MetadataEndsInSoftmax] == "true" ? " (the final Softmax is differentiated from its input)" : ""));
            console.WriteLine($"  nodes: {originalNodes} forward + {exported.Graph.Node.Count - originalNodes} added, opset {exported.OpsetImport.First(o => o.Domain is "" or "ai.onnx").Version}");
            foreach (var o in exported.Graph.Output.Concat(exported.Graph.Input.Where(i => i.Name == options.CotangentsName)))
            {
                var dims = string.Join(", ", o.Type.TensorType.Shape.Dim.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam ? d.DimParam : d.DimValue.ToString()));
                console.WriteLine($"  {(o.Name == options.CotangentsName ? "input " : "output")} {o.Name} [{dims}]");
            }
            return 0;
        }));
        return command;
    }

    private static long[]? ParseShape(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var dims = new long[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!long.TryParse(parts[i], out dims[i]) || dims[i] <= 0)
                throw new UserInputException($"--input-shape must be positive integers separated by commas, e.g. 3,224,224; got '{text}'.");
        return dims;
    }
}
