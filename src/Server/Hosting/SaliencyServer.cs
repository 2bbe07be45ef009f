using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Saliency.Server.Inference;
using Saliency.Server.Protocol;
using Saliency.Server.Telemetry;

namespace Saliency.Server.Hosting;

/// <summary>
/// <c>saliency serve</c>: a Kestrel server with the KServe v1 and Open Inference Protocol v2 endpoints
/// (<see cref="Endpoints"/>), the bounded batching queue (<see cref="WorkScheduler"/>), <c>/metrics</c> and the
/// OpenAPI document at <c>/openapi/v1.json</c>. Stopping is graceful: new work gets 503 from the moment shutdown
/// starts, Kestrel waits for the requests in progress, and the queue is drained, all within
/// <see cref="ServeOptions.ShutdownTimeout"/>.
/// </summary>
public sealed class SaliencyServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ModelCatalog _models;
    private readonly WorkScheduler _scheduler;
    private readonly ServerMetrics _metrics;
    private readonly PrometheusExporter _exporter;
    private readonly ServeOptions _options;
    private int _disposed;

    private SaliencyServer(WebApplication app, ModelCatalog models, WorkScheduler scheduler, ServerMetrics metrics, PrometheusExporter exporter, ServeOptions options)
    {
        _app = app;
        _models = models;
        _scheduler = scheduler;
        _metrics = metrics;
        _exporter = exporter;
        _options = options;
    }

    /// <summary>Opens the models and builds the server (not started).</summary>
    /// <exception cref="ModelLoadException">A model cannot be served.</exception>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public static SaliencyServer Create(ServeOptions options) => Create(options, engine => new EngineExplanationService(engine));

    /// <summary>Builds the server with the service that computes (tests substitute it).</summary>
    internal static SaliencyServer Create(ServeOptions options, Func<SaliencyEngine, IExplanationService> serviceFactory)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        // CreateSlimBuilder: Kestrel, routing, JSON and console logging, without HTTPS/IIS/static-file defaults.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseUrls(options.Urls);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
            k.AddServerHeader = false;
        });
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = options.ShutdownTimeout);
        builder.Logging.ClearProviders();
        if (options.LogLevel != LogLevel.None)
        {
            builder.Logging.AddSimpleConsole(c => c.SingleLine = true);
            builder.Logging.SetMinimumLevel(options.LogLevel);
            // Kestrel's per-request and ASP.NET's routing lines would drown the server's own.
            builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        }
        // The document's schemas name the fields as the bodies do (snake_case); :explain's method is an enum.
        builder.Services.ConfigureHttpJsonOptions(j => Json.Configure(j.SerializerOptions));
        builder.Services.AddOpenApi(OpenApiCatalogue.Configure);
        var app = builder.Build();
        ModelCatalog? models = null;
        ServerMetrics? metrics = null;
        PrometheusExporter? exporter = null;
        try
        {
            var loggers = app.Services.GetRequiredService<ILoggerFactory>();
            // The engine owns the models' sessions; at most one explanation per core runs at once, one ORT thread each.
            models = ModelCatalog.Open(options.ModelPaths, new SaliencyEngineOptions { Budget = options.Budget }, loggers);
            metrics = new ServerMetrics();
            exporter = new PrometheusExporter(metrics.Meter);
            var logger = loggers.CreateLogger("Saliency.Server");
            var scheduler = new WorkScheduler(serviceFactory(models.Engine), options, metrics, logger);
            var server = new SaliencyServer(app, models, scheduler, metrics, exporter, options);
            // Answers that routing makes without a body (404 for an unknown path, 405, 415 from the endpoints'
            // Accepts metadata) get the same {"error": …} body as the endpoints' own.
            app.UseStatusCodePages(async context =>
            {
                var response = context.HttpContext.Response;
                await response.WriteAsJsonAsync(new ErrorBody(Endpoints.RoutingMessage(response.StatusCode)), Json.Options).ConfigureAwait(false);
            });
            Endpoints.Map(app, new Endpoints.Context(models, scheduler, metrics, exporter, options, logger));
            app.MapOpenApi();
            // From the first moment of shutdown new work is refused (503) while accepted work goes on.
            app.Lifetime.ApplicationStopping.Register(() => _ = scheduler.DrainAsync(options.ShutdownTimeout));
            return server;
        }
        catch
        {
            exporter?.Dispose();
            metrics?.Dispose();
            models?.DisposeAsync().AsTask().GetAwaiter().GetResult();
            ((IDisposable)app).Dispose();
            throw;
        }
    }

    /// <summary>Starts listening.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await _app.StartAsync(cancellationToken).ConfigureAwait(false);
        _app.Logger.LogInformation("Serving {Models} on {Urls} (queue {Queue}, batch ≤ {Batch} within {Delay} ms, {Workers} workers).",
            string.Join(", ", _models.Names), string.Join(", ", Addresses), _options.QueueCapacity, _options.MaxBatch,
            _options.MaxBatchDelay.TotalMilliseconds, _options.Workers);
    }

    /// <summary>The addresses Kestrel listens on (with the real port when the URL asked for port 0).</summary>
    public IReadOnlyList<string> Addresses =>
        _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.ToArray() ?? [];

    /// <summary>The served models' names.</summary>
    public IReadOnlyList<string> ModelNames => _models.Names;

    /// <summary>
    /// Graceful stop: refuses new work, waits for the requests in progress and the queue (up to the shutdown
    /// timeout), then stops listening.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        var drain = _scheduler.DrainAsync(_options.ShutdownTimeout);
        await _app.StopAsync(cancellationToken).ConfigureAwait(false);
        await drain.ConfigureAwait(false);
    }

    /// <summary>Runs until <paramref name="cancellationToken"/> fires or the process is asked to stop (Ctrl-C, SIGTERM).</summary>
    public async Task RunAsync(CancellationToken cancellationToken = default)
    {
        await StartAsync(cancellationToken).ConfigureAwait(false);
        // Returns once the host has stopped (Kestrel waited for the requests in progress).
        await _app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
        await _scheduler.DrainAsync(_options.ShutdownTimeout).ConfigureAwait(false);
    }

    internal ServerMetrics Metrics => _metrics;

    internal WorkScheduler Scheduler => _scheduler;

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _scheduler.DisposeAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        await _models.DisposeAsync().ConfigureAwait(false);
        _exporter.Dispose();
        _metrics.Dispose();
    }
}
