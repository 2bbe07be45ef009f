using System.Text.RegularExpressions;
using Saliency.Imaging.Preprocessing;

namespace Saliency.Server.Inference;

/// <summary>A model the server answers for: its name in the URLs and its input layout [C, H, W] and classes.</summary>
internal sealed class ServedModel
{
    private ServedModel(ModelInfo info, int channels, int height, int width, string inputName, string outputName, PreprocessSpec? preprocess)
    {
        Preprocess = preprocess;
        Name = info.Name;
        Path = info.Path;
        Classes = info.ClassCount;
        InputSize = info.InputSize;
        Channels = channels;
        Height = height;
        Width = width;
        InputName = inputName;
        OutputName = outputName;
    }

    /// <summary>The name in <c>/v1/models/{name}</c>: the file name without <c>.onnx</c>.</summary>
    public string Name { get; }

    /// <summary>The ONNX file.</summary>
    public string Path { get; }

    /// <summary>Image channels (1: gray, 3: RGB).</summary>
    public int Channels { get; }

    /// <summary>Image height.</summary>
    public int Height { get; }

    /// <summary>Image width.</summary>
    public int Width { get; }

    /// <summary>c: number of classes.</summary>
    public int Classes { get; }

    /// <summary>d = C·H·W values per instance.</summary>
    public int InputSize { get; }

    /// <summary>The model's <c>&lt;model&gt;.preprocess.json</c> (the CLI's spec), or null: then /255 at the model's size.</summary>
    public PreprocessSpec? Preprocess { get; }

    /// <summary>The graph input the engine feeds: the v2 metadata's input name.</summary>
    public string InputName { get; }

    /// <summary>The graph output the engine reads: the v2 metadata's logits output name.</summary>
    public string OutputName { get; }

    // Names become URL path segments and metric labels: no ':' (it separates the v1 verb), no '/', nothing to escape.
    private static readonly Regex ValidName = new("^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$", RegexOptions.CultureInvariant);

    /// <summary>The name a file is served under, checked.</summary>
    /// <exception cref="ModelLoadException">The file name is not a usable model name.</exception>
    public static string NameOf(string path)
    {
        string name = System.IO.Path.GetFileNameWithoutExtension(path);
        if (!ValidName.IsMatch(name))
            throw new ModelLoadException(name, $"'{System.IO.Path.GetFullPath(path)}': the model name '{name}' must be 1–128 letters, digits, '_', '.' or '-', starting with a letter or digit.");
        return name;
    }

    /// <summary>
    /// Opens the engine's model <paramref name="name"/> now (so that a bad file stops startup, not the first request)
    /// and checks that it is a float image classifier [N, C, H, W] → [N, classes] with C = 1 or 3.
    /// </summary>
    /// <exception cref="ModelLoadException">The model is not servable (the message says why).</exception>
    public static ServedModel Open(SaliencyEngine engine, string name)
    {
        var info = engine.GetModel(name);
        var shape = info.InputShape;
        if (shape.Count != 3 || shape[0] is not (1 or 3))
            throw new ModelLoadException(name, $"'{info.Path}' takes [{string.Join(", ", shape)}] per instance; the server serves images [C, H, W] with C = 1 or 3.");
        // The names for /v2/models/{name}, from the session the engine already opened (GetModel did): no second one.
        var (input, output) = engine.GetModelTensorNames(name);
        return new ServedModel(info, (int)shape[0], (int)shape[1], (int)shape[2], input, output, SidecarSpec(name, info.Path));
    }

    /// <summary>The spec beside the model file, read with the CLI's size limit and parser; a bad spec stops startup.</summary>
    private static PreprocessSpec? SidecarSpec(string name, string modelPath)
    {
        var file = new FileInfo(PreprocessSpec.SidecarPath(modelPath));
        if (!file.Exists) return null;
        if (file.Length > PreprocessSpec.MaxFileBytes)
            throw new ModelLoadException(name, $"'{file.FullName}' is {file.Length} bytes; a preprocessing spec is at most {PreprocessSpec.MaxFileBytes}.");
        try
        {
            return PreprocessSpec.Parse(File.ReadAllText(file.FullName), file.FullName);
        }
        catch (PreprocessSpecException e)
        {
            throw new ModelLoadException(name, $"'{file.FullName}': {e.Message}", e);
        }
    }
}

/// <summary>The served models by name (read-only after startup, so lookups need no lock) and the engine that runs them.</summary>
internal sealed class ModelCatalog : IAsyncDisposable
{
    private readonly Dictionary<string, ServedModel> _models;

    private ModelCatalog(SaliencyEngine engine, Dictionary<string, ServedModel> models)
    {
        Engine = engine;
        _models = models;
    }

    /// <summary>The engine that owns the models' sessions.</summary>
    public SaliencyEngine Engine { get; }

    /// <summary>
    /// Registers every file with a new engine and opens it; two files with one name, or any unservable file, stop
    /// startup with <see cref="ModelLoadException"/>.
    /// </summary>
    public static ModelCatalog Open(IReadOnlyList<string> paths, SaliencyEngineOptions engineOptions, Microsoft.Extensions.Logging.ILoggerFactory? loggerFactory)
    {
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var path in paths)
        {
            string name = ServedModel.NameOf(path);
            if (!names.TryAdd(name, Path.GetFullPath(path)))
                throw new ModelLoadException(name, $"two models are named '{name}': {names[name]} and {Path.GetFullPath(path)}.");
            engineOptions.AddModel(name, path);
        }
        SaliencyEngine engine;
        try
        {
            engine = new SaliencyEngine(engineOptions, loggerFactory);
        }
        catch (FileNotFoundException e)
        {
            throw new ModelLoadException(e.FileName ?? "", e.Message, e);
        }
        try
        {
            var models = names.Keys.ToDictionary(n => n, n => ServedModel.Open(engine, n), StringComparer.Ordinal);
            return new ModelCatalog(engine, models);
        }
        catch
        {
            engine.Dispose();
            throw;
        }
    }

    /// <summary>The models' names, sorted.</summary>
    public IReadOnlyList<string> Names => _models.Keys.Order(StringComparer.Ordinal).ToArray();

    /// <summary>The model called <paramref name="name"/>, or null.</summary>
    public ServedModel? Find(string name) => _models.GetValueOrDefault(name);

    /// <summary>The <c>.onnx</c> files directly in <paramref name="folder"/>, sorted by name.</summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="FileNotFoundException">It holds no .onnx file.</exception>
    public static IReadOnlyList<string> FilesIn(string folder)
    {
        string full = Path.GetFullPath(folder);
        if (!Directory.Exists(full)) throw new DirectoryNotFoundException($"model folder not found: {full}");
        var files = Directory.GetFiles(full, "*.onnx", SearchOption.TopDirectoryOnly).Order(StringComparer.Ordinal).ToArray();
        if (files.Length == 0) throw new FileNotFoundException($"the model folder {full} holds no .onnx file.");
        return files;
    }

    /// <summary>Waits for the engine's work in flight, then releases the sessions.</summary>
    public ValueTask DisposeAsync() => Engine.DisposeAsync();
}
