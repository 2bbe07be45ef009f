using System.Text.RegularExpressions;
using Saliency.Models.Classifiers;
using Saliency.Models.Runtime;

namespace Saliency.Server.Inference;

/// <summary>A model the server answers for: its name in the URLs, its classifier and its input layout [C, H, W].</summary>
internal sealed class ServedModel : IDisposable
{
    private ServedModel(string name, string path, IClassifier classifier, int channels, int height, int width,
        TensorMetadata input, TensorMetadata output)
    {
        Name = name;
        Path = path;
        Classifier = classifier;
        Channels = channels;
        Height = height;
        Width = width;
        Input = input;
        Output = output;
    }

    /// <summary>The name in <c>/v1/models/{name}</c>: the file name without <c>.onnx</c>.</summary>
    public string Name { get; }

    /// <summary>The ONNX file.</summary>
    public string Path { get; }

    /// <summary>Forward and Jacobian sessions (thread-safe, shared by every request).</summary>
    public IClassifier Classifier { get; }

    /// <summary>Image channels (1: gray, 3: RGB).</summary>
    public int Channels { get; }

    /// <summary>Image height.</summary>
    public int Height { get; }

    /// <summary>Image width.</summary>
    public int Width { get; }

    /// <summary>c: number of classes.</summary>
    public int Classes => Classifier.ClassCount;

    /// <summary>d = C·H·W values per instance.</summary>
    public int InputSize => Classifier.InputSize;

    /// <summary>The graph input, for the v2 metadata.</summary>
    public TensorMetadata Input { get; }

    /// <summary>The graph output (logits), for the v2 metadata.</summary>
    public TensorMetadata Output { get; }

    // Names become URL path segments and metric labels: no ':' (it separates the v1 verb), no '/', nothing to escape.
    private static readonly Regex ValidName = new("^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$", RegexOptions.CultureInvariant);

    /// <summary>Opens <paramref name="path"/>: a float image classifier [N, C, H, W] → [N, classes] with C = 1 or 3.</summary>
    /// <exception cref="ModelLoadException">The name or the model is not servable (the message says why).</exception>
    public static ServedModel Open(string path)
    {
        string full = System.IO.Path.GetFullPath(path);
        string name = System.IO.Path.GetFileNameWithoutExtension(full);
        if (!ValidName.IsMatch(name))
            throw new ModelLoadException($"'{full}': the model name '{name}' must be 1–128 letters, digits, '_', '.' or '-', starting with a letter or digit.");
        TensorMetadata input, output;
        try
        {
            // Metadata only (names and declared shapes for /v2/models/{name}); the classifier opens its own sessions.
            using var session = InferenceSession.Create(full);
            if (session.Inputs.Count != 1 || session.Outputs.Count < 1)
                throw new ModelLoadException($"'{full}' has {session.Inputs.Count} inputs and {session.Outputs.Count} outputs; an image classifier has one input and one output.");
            (input, output) = (session.Inputs[0], session.Outputs[0]);
        }
        catch (Exception e) when (e is OrtException or FileNotFoundException or TensorShapeException)
        {
            throw new ModelLoadException($"'{full}' cannot be loaded: {e.Message}", e);
        }
        IClassifier classifier;
        try
        {
            classifier = OnnxClassifier.Create(full);
        }
        catch (Exception e) when (e is Saliency.Models.Autodiff.JacobianExportException or OrtException)
        {
            throw new ModelLoadException($"'{full}' cannot be explained: {e.Message}", e);
        }
        var shape = classifier.InputShape;
        if (shape.Count != 3 || shape[0] is not (1 or 3))
        {
            classifier.Dispose();
            throw new ModelLoadException($"'{full}' takes [{string.Join(", ", shape)}] per instance; the server serves images [C, H, W] with C = 1 or 3.");
        }
        return new ServedModel(name, full, classifier, (int)shape[0], (int)shape[1], (int)shape[2], input, output);
    }

    /// <inheritdoc />
    public void Dispose() => Classifier.Dispose();
}

/// <summary>A model file that cannot be served; startup stops with this message.</summary>
public sealed class ModelLoadException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ModelLoadException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>The served models by name (read-only after startup, so lookups need no lock).</summary>
internal sealed class ModelCatalog : IDisposable
{
    private readonly Dictionary<string, ServedModel> _models;

    private ModelCatalog(Dictionary<string, ServedModel> models) => _models = models;

    /// <summary>Opens every path; two files with one name, or any unservable file, stop startup.</summary>
    public static ModelCatalog Open(IReadOnlyList<string> paths)
    {
        var models = new Dictionary<string, ServedModel>(StringComparer.Ordinal);
        try
        {
            foreach (var path in paths)
            {
                var model = ServedModel.Open(path);
                if (!models.TryAdd(model.Name, model))
                {
                    model.Dispose();
                    throw new ModelLoadException($"two models are named '{model.Name}': {models[model.Name].Path} and {model.Path}.");
                }
            }
        }
        catch
        {
            foreach (var m in models.Values) m.Dispose();
            throw;
        }
        return new ModelCatalog(models);
    }

    /// <summary>The models' names, sorted.</summary>
    public IReadOnlyList<string> Names => _models.Keys.Order(StringComparer.Ordinal).ToArray();

    /// <summary>The model called <paramref name="name"/>, or null.</summary>
    public ServedModel? Find(string name) => _models.GetValueOrDefault(name);

    /// <summary>The <c>.onnx</c> files directly in <paramref name="folder"/>, sorted by name.</summary>
    /// <exception cref="ModelLoadException">The folder does not exist or holds no .onnx file.</exception>
    public static IReadOnlyList<string> FilesIn(string folder)
    {
        if (!Directory.Exists(folder)) throw new ModelLoadException($"model folder not found: {Path.GetFullPath(folder)}");
        var files = Directory.GetFiles(folder, "*.onnx", SearchOption.TopDirectoryOnly).Order(StringComparer.Ordinal).ToArray();
        if (files.Length == 0) throw new ModelLoadException($"the model folder {Path.GetFullPath(folder)} holds no .onnx file.");
        return files;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var m in _models.Values) m.Dispose();
    }
}
