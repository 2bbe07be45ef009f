using System.Runtime.CompilerServices;
using ILGPU.Algorithms;

namespace Saliency.Kernels.Ilgpu;

/// <summary>
/// Arithmetic on a kernel's element type, for ILGPU kernels written once for float and double: a kernel is generic in
/// <c>T</c> and <c>TE : struct, IElement&lt;T&gt;</c> and calls <c>default(TE).Sub(a, b)</c>. ILGPU specialises the
/// kernel per (T, TE) and inlines these calls, as it does for ILGPU.Algorithms' reduction operations.
/// </summary>
/// <remarks>
/// Chosen instead of .NET generic math (<c>T : INumber&lt;T&gt;</c>): ILGPU's support for static abstract interface
/// members is partial (ILGPU issue #929) and could not be tested on a GPU here, whereas instance calls on struct type
/// arguments are the pattern ILGPU.Algorithms itself compiles to PTX. Every operation maps to a plain IL operator or an
/// XMath intrinsic.
/// </remarks>
internal interface IElement<T> where T : unmanaged
{
    /// <summary>a + b.</summary>
    T Add(T a, T b);

    /// <summary>a − b.</summary>
    T Sub(T a, T b);

    /// <summary>a · b.</summary>
    T Mul(T a, T b);

    /// <summary>max(a, b).</summary>
    T Max(T a, T b);

    /// <summary>min(a, b).</summary>
    T Min(T a, T b);

    /// <summary>|a|.</summary>
    T Abs(T a);

    /// <summary>Whether a is neither NaN nor infinite.</summary>
    bool IsFinite(T a);

    /// <summary>a widened to double.</summary>
    double ToDouble(T a);

    /// <summary>a rounded to T.</summary>
    T FromDouble(double a);
}

/// <summary>float arithmetic for ILGPU kernels.</summary>
internal readonly struct F32 : IElement<float>
{
    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public float Add(float a, float b) => a + b;
    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public float Sub(float a, float b) => a - b;
    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public float Mul(float a, float b) => a * b;
    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public float Max(float a, float b) => XMath.Max(a, b);
    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public float Min(float a, float b) => XMath.Min(a, b);
    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public float Abs(float a) => XMath.Abs(a);
    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public bool IsFinite(float a) => XMath.IsFinite(a);
    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public double ToDouble(float a) => a;
    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public float FromDouble(double a) => (float)a;
}

/// <summary>double arithmetic for ILGPU kernels.</summary>
internal readonly struct F64 : IElement<double>
{
    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public double Add(double a, double b) => a + b;
    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public double Sub(double a, double b) => a - b;
    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public double Mul(double a, double b) => a * b;
    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public double Max(double a, double b) => XMath.Max(a, b);
    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public double Min(double a, double b) => XMath.Min(a, b);
    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public double Abs(double a) => XMath.Abs(a);
    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public bool IsFinite(double a) => XMath.IsFinite(a);
    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public double ToDouble(double a) => a;
    /// <inheritdoc />
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public double FromDouble(double a) => a;
}
