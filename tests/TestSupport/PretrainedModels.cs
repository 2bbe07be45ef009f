using System.Reflection;

namespace Saliency.TestSupport;

/// <summary>
/// Pretrained third-party models the tests use, restored through NuGet (never committed): the ResNet-18 trunk that
/// <c>Microsoft.ML.DnnImageFeaturizer.ResNet18</c> 0.23.1 ships (CNTK export, opset 8, input [1,3,224,224], output
/// [1,512,1,1], about 64 MB). The package folder is recorded when this assembly is built
/// (<c>GeneratePathProperty</c> in Saliency.TestSupport.csproj).
/// </summary>
public static class PretrainedModels
{
    /// <summary>Full path of <c>ResNet18.onnx</c> in the restored package.</summary>
    /// <exception cref="FileNotFoundException">The package was not restored (run <c>bash tools/setup.sh</c>).</exception>
    public static string ResNet18Path
    {
        get
        {
            var package = typeof(PretrainedModels).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
                .FirstOrDefault(a => a.Key == "SaliencyResNet18Package")?.Value;
            var path = System.IO.Path.Combine(package ?? "", "tools", "DnnImageModels", "ResNet18Onnx", "ResNet18.onnx");
            if (string.IsNullOrEmpty(package) || !File.Exists(path))
                throw new FileNotFoundException($"The NuGet package Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1 is not restored ('{path}'); run bash tools/setup.sh.", path);
            return path;
        }
    }
}
