using System.CommandLine;
using Saliency.Server.Hosting;
using Saliency.Server.Inference;
using Spectre.Console;

namespace Saliency.Cli.Commands;

/// <summary>
/// <c>saliency serve [--models DIR] [--urls URLS] [--queue n] [--max-batch n] [--max-delay-ms t] [--workers n] [--timeout-s t]</c>:
/// serves predictions and explanations over HTTP (KServe v1 / Open Inference Protocol v2, docs/serve.md) until Ctrl-C.
/// Without --models it serves the bundled LeNet as "lenet".
/// </summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var defaults = new ServeOptions();
        var models = new Option<DirectoryInfo>("--models") { Description = "Folder of .onnx image classifiers, each served under its file name (default: the bundled models/lenet.onnx)." };
        var urls = new Option<string>("--urls")
        {
            Description = $"Addresses to listen on, ';'-separated, as ASP.NET Core's --urls (port 0: any free port).",
            DefaultValueFactory = _ => ServeOptions.DefaultUrls,
        };
        var queue = new Option<int>("--queue") { Description = "Instances that may wait; one more is answered 503 with Retry-After.", DefaultValueFactory = _ => defaults.QueueCapacity };
        var maxBatch = new Option<int>("--max-batch") { Description = "Most compatible instances run together (1: no batching).", DefaultValueFactory = _ => defaults.MaxBatch };
        var maxDelay = new Option<double>("--max-delay-ms") { Description = "How long a batch waits for more instances.", DefaultValueFactory = _ => defaults.MaxBatchDelay.TotalMilliseconds };
        var workers = new Option<int>("--workers") { Description = "Batches computed at once.", DefaultValueFactory = _ => defaults.Workers };
        var timeout = new Option<double>("--timeout-s") { Description = "Deadline of each request, queueing included (504 after it).", DefaultValueFactory = _ => defaults.RequestTimeout.TotalSeconds };
        var command = new Command("serve", "Serve predictions and explanations over HTTP (KServe v1 and Open Inference Protocol v2 endpoints) until Ctrl-C.")
        {
            models, urls, queue, maxBatch, maxDelay, workers, timeout,
        };
        command.SetAction(parseResult => CommandSupport.Run(parseResult, console =>
        {
            var folder = parseResult.GetValue(models);
            IReadOnlyList<string> paths = folder is null ? [CommandSupport.BundledModel()] : ModelCatalog.FilesIn(folder.FullName);
            double delay = parseResult.GetValue(maxDelay), seconds = parseResult.GetValue(timeout);
            if (!(delay >= 0 && delay <= 10_000)) throw new UserInputException($"--max-delay-ms must lie in [0, 10000], got {delay}.");
            if (!(seconds > 0 && seconds <= 86_400)) throw new UserInputException($"--timeout-s must lie in (0, 86400], got {seconds}.");
            var options = new ServeOptions
            {
                Urls = parseResult.GetValue(urls)!,
                ModelPaths = paths,
                QueueCapacity = parseResult.GetValue(queue),
                MaxBatch = parseResult.GetValue(maxBatch),
                MaxBatchDelay = TimeSpan.FromMilliseconds(delay),
                Workers = parseResult.GetValue(workers),
                RequestTimeout = TimeSpan.FromSeconds(seconds),
            };
            SaliencyServer server;
            try
            {
                server = SaliencyServer.Create(options);
            }
            catch (Exception e) when (e is ModelLoadException or ArgumentException or FileNotFoundException)
            {
                throw new UserInputException(e.Message);
            }
            // Ctrl-C and SIGTERM reach the host's console lifetime, which stops gracefully (docs/serve.md).
            try
            {
                server.RunAsync().GetAwaiter().GetResult();
            }
            catch (IOException e)
            {
                // Kestrel's "address already in use" and the like.
                throw new UserInputException($"cannot listen on {options.Urls}: {e.Message}");
            }
            finally
            {
                server.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
            console.WriteLine("stopped.");
            return 0;
        }));
        return command;
    }
}
