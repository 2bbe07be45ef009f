using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Saliency;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers <see cref="SaliencyEngine"/> with Microsoft.Extensions.DependencyInjection.</summary>
public static class SaliencyServiceCollectionExtensions
{
    /// <summary>
    /// Adds one <see cref="SaliencyEngine"/> singleton, configured through <c>IOptions&lt;SaliencyEngineOptions&gt;</c>
    /// (<paramref name="configure"/>, plus any other <c>Configure</c> call), logging through the container's
    /// <see cref="ILoggerFactory"/> when there is one. The container disposes the engine, and with it the model sessions.
    /// </summary>
    /// <example><code>services.AddSaliency(o => o.AddModel("lenet", "models/lenet.onnx"));</code></example>
    public static IServiceCollection AddSaliency(this IServiceCollection services, Action<SaliencyEngineOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<SaliencyEngineOptions>();
        if (configure is not null) options.Configure(configure);
        services.TryAddSingleton(sp => new SaliencyEngine(
            sp.GetRequiredService<IOptions<SaliencyEngineOptions>>().Value, sp.GetService<ILoggerFactory>()));
        return services;
    }
}
