using System.Text.Json.Nodes;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using Saliency.Server.Protocol;

namespace Saliency.Server.Hosting;

/// <summary>
/// What Microsoft.AspNetCore.OpenApi cannot see in the types: the methods <c>:explain</c> takes, written into the
/// schema of <see cref="V1ExplainParameters.Method"/> as an enum from <see cref="SaliencyMethods.All"/>, the list the
/// reader and the engine validate against, so the document cannot drift from what the server accepts.
/// </summary>
internal static class OpenApiCatalogue
{
    public static void Configure(OpenApiOptions options) => options.AddSchemaTransformer((schema, context, _) =>
    {
        if (context.JsonTypeInfo.Type == typeof(V1ExplainParameters)
            && schema.Properties?.TryGetValue("method", out var method) == true && method is OpenApiSchema s)
        {
            // null too: an absent or null method is the default (gradient).
            s.Enum = [.. SaliencyMethods.All.Select(m => (JsonNode)JsonValue.Create(m)), null!];
            s.Default = JsonValue.Create(SaliencyMethods.Gradient);
        }
        return Task.CompletedTask;
    });
}
