using System.CommandLine;
using Google.Protobuf;
using Saliency.Models.Autodiff;
using Saliency.Models.IO;
using Saliency.Models.Onnx.Proto;
using Saliency.Models.Runtime;
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
            string modelPath = InputFiles.CheckRegular(modelFile, "model file");
            // Same path, or the same file through a symlink or hard link: writing would replace the input.
            if (outFile.FullName == modelPath || (File.Exists(outFile.FullName) && InputFiles.SameFile(outFile.FullName, modelPath)))
                throw new UserInputException($"--out '{Terminal.Escape(outFile.FullName)}' is the model file itself; choose another file.");
            if (Directory.Exists(outFile.FullName))
                throw new UserInputException($"--out '{Terminal.Escape(outFile.FullName)}' is a directory; give a file name.");
            var options = new JacobianExportOptions { InputShape = CommandSupport.ParseShape(parseResult.GetValue(inputShape)) };

            ModelProto exported;
            int originalNodes;
            try
            {
                var classifier = ModelProto.Parser.ParseFrom(InputFiles.Read(modelFile, "model file", InputFiles.MaxModelBytes));
                Saliency.Models.Classifiers.OnnxClassifier.InlineExternalData(classifier, modelPath);
                originalNodes = classifier.Graph?.Node.Count ?? 0;
                CheckImageSize(classifier, options.InputShape);
                exported = JacobianExporter.Export(classifier, options);
            }
            catch (InvalidProtocolBufferException e)
            {
                throw new UserInputException($"'{modelPath}' is not a valid ONNX model: {e.Message}");
            }
            catch (JacobianExportException e)
            {
                throw new UserInputException(e.Message);
            }
            var bytes = exported.ToByteArray();
            // Success means a file ONNX Runtime loads: the augmented model is opened before anything is written.
            try
            {
                using var check = InferenceSession.Create(bytes);
            }
            catch (OrtException e)
            {
                throw new UserInputException($"ONNX Runtime cannot load the exported model, so nothing was written: {e.Message}");
            }
            // Written only after the export succeeded, and atomically, so neither a refusal nor a full disk leaves
            // a partial file behind (an earlier file at --out stays as it was).
            AtomicFile.WriteAllBytes(outFile.FullName, bytes);

            var meta = exported.MetadataProps.ToDictionary(e => e.Key, e => e.Value);
            console.WriteLine($"wrote {Terminal.Escape(outFile.FullName)} (loads in ONNX Runtime {InferenceSession.RuntimeVersion})");
            console.WriteLine($"  input '{Terminal.Escape(meta[JacobianExporter.MetadataInput])}', logits '{Terminal.Escape(meta[JacobianExporter.MetadataLogits])}'" +
                              (meta[JacobianExporter.MetadataEndsInSoftmax] == "true" ? " (the final Softmax is differentiated from its input)" : ""));
            console.WriteLine($"  nodes: {originalNodes} forward + {exported.Graph.Node.Count - originalNodes} added, opset {exported.OpsetImport.First(o => o.Domain is "" or "ai.onnx").Version}");
            foreach (var o in exported.Graph.Output.Concat(exported.Graph.Input.Where(i => i.Name == options.CotangentsName)))
            {
                var dims = string.Join(", ", o.Type.TensorType.Shape.Dim.Select(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam ? d.DimParam : d.DimValue.ToString()));
                console.WriteLine($"  {(o.Name == options.CotangentsName ? "input " : "output")} {Terminal.Escape(o.Name)} [{Terminal.Escape(dims)}]");
            }
            return 0;
        }));
        return command;
    }

    /// <summary>
    /// Refuses declared image sizes over the classifier's limit (<see cref="Saliency.Models.Classifiers.OnnxClassifierOptions.MaxInputValues"/>)
    /// before the exporter or ONNX Runtime sees them: 100000×100000 would overflow or exhaust memory.
    /// </summary>
    private static void CheckImageSize(ModelProto model, IReadOnlyList<long>? given)
    {
        long limit = new Saliency.Models.Classifiers.OnnxClassifierOptions().MaxInputValues;
        var initializers = model.Graph?.Initializer.Select(t => t.Name).ToHashSet() ?? [];
        foreach (var input in model.Graph?.Input.Where(i => !initializers.Contains(i.Name)) ?? [])
        {
            var dims = input.Type?.TensorType?.Shape?.Dim;
            if (dims is null) continue;
            long values = 1;
            for (int i = 1; i < dims.Count; i++)
            {
                long d = given is { } g && g.Count == dims.Count - 1 ? g[i - 1]
                    : dims[i].ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue ? dims[i].DimValue : 1;
                if (d > limit || (values *= Math.Max(d, 1)) > limit)
                    throw new UserInputException($"the input '{Terminal.Escape(input.Name)}' has more than {limit} values per image, the limit.");
            }
        }
    }
}
