namespace Saliency.Tests;

/// <summary>Where the test fixtures (copied next to the test assembly) live.</summary>
internal static class TestPaths
{
    public static string Fixture(params string[] parts) =>
        Path.Combine([AppContext.BaseDirectory, "Fixtures", .. parts]);
}
