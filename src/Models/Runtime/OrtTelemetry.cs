using System.Runtime.InteropServices;
using Ort = Microsoft.ML.OnnxRuntime;

namespace Saliency.Models.Runtime;

/// <summary>
/// Keeps ONNX Runtime's usage telemetry off unless the user asks for it.
/// </summary>
/// <remarks>
/// Since 1.29 the official Linux and macOS builds send telemetry events to Microsoft (the 1DS client: process, session,
/// model and error events) and keep a device id and an event store under
/// <c>~/.cache/Microsoft/DeveloperTools/.onnxruntime/</c>; the Windows builds use ETW. This library runs inside users'
/// inference servers and batch jobs, often on machines with no way out, so it must not report on their behalf.
/// The only full opt-out off Windows is <c>ORT_DISABLE_TELEMETRY=1</c> in the native environment when the process's
/// <c>OrtEnv</c> is created (<c>OrtEnv.DisableTelemetryEvents</c> comes after the environment already started its
/// client), and .NET's <see cref="Environment.SetEnvironmentVariable(string, string)"/> changes only the managed copy
/// on Unix, so the variable is set with libc's <c>setenv</c>. A value the user set themselves, e.g.
/// <c>ORT_DISABLE_TELEMETRY=0</c>, is kept. A host that created ONNX Runtime's environment before this library's
/// first model must set the variable itself.
/// </remarks>
internal static partial class OrtTelemetry
{
    /// <summary>ONNX Runtime's opt-out variable (read once, when its environment is created).</summary>
    public const string Variable = "ORT_DISABLE_TELEMETRY";

    /// <summary>Call before the first <c>OrtEnv.Instance()</c> of the process.</summary>
    public static void DisableUnlessChosen()
    {
        if (OperatingSystem.IsWindows() || Environment.GetEnvironmentVariable(Variable) is not null) return;
        // overwrite = 0: a value already in the native environment wins.
        if (SetEnv(Variable, "1", 0) == 0) Environment.SetEnvironmentVariable(Variable, "1"); // child processes too
    }

    /// <summary>Call after the environment exists: the ETW provider of the Windows builds has a runtime switch.</summary>
    public static void AfterEnvironmentCreated(Ort.OrtEnv env)
    {
        if (OperatingSystem.IsWindows() && Environment.GetEnvironmentVariable(Variable) is not "0") env.DisableTelemetryEvents();
    }

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);
}
