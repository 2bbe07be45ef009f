using System.Reflection;
using System.Text;
using NUnit.Framework;
using Saliency.TestSupport;

namespace Saliency.Tests.Packaging;

/// <summary>
/// The public surface of the shipped library assemblies (the NuGet package's five) as sorted text, compared with the
/// committed <c>PublicApi.txt</c>: every change to what hosts can call shows up in review as a diff of that file.
/// Reflection lists each exported type with its base types and its public and protected members.
/// </summary>
[TestFixture]
public sealed class PublicApiTests
{
    private const string File = "tests/Saliency.Tests/Packaging/PublicApi.txt";
    private const string UpdateVariable = "SALIENCY_UPDATE_PUBLIC_API";

    private static readonly Assembly[] Shipped =
    [
        typeof(SaliencyEngine).Assembly,
        typeof(Saliency.Kernels.Backends.BackendKind).Assembly,
        typeof(Saliency.Linalg.Grid.GridShape).Assembly,
        typeof(Saliency.Solvers.Caso.CasoProblem).Assembly,
        typeof(Saliency.Models.Classifiers.OnnxClassifier).Assembly,
    ];

    [Test]
    public void ThePublicSurfaceIsTheCommittedOne()
    {
        string path = RepoFiles.Path(File);
        string actual = Describe(Shipped);
        if (Environment.GetEnvironmentVariable(UpdateVariable) == "1")
        {
            System.IO.File.WriteAllText(path, actual);
            Assert.Pass($"{File} rewritten; review and commit it.");
        }
        var expected = System.IO.File.Exists(path) ? System.IO.File.ReadAllLines(path) : [];
        var lines = actual.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var added = lines.Except(expected).ToArray();
        var removed = expected.Except(lines).ToArray();
        Assert.That(added.Length + removed.Length, Is.Zero,
            $"The public API differs from {File}.\n" +
            $"Added:\n  {string.Join("\n  ", added)}\nRemoved:\n  {string.Join("\n  ", removed)}\n" +
            $"If the change is intended, rewrite the file with\n  {UpdateVariable}=1 dotnet test tests/Saliency.Tests/Saliency.Tests.csproj -c Release " +
            "--filter FullyQualifiedName~PublicApiTests\nand commit it with the change.");
    }

    /// <summary>One line per exported type ("kind Name : bases") followed by its members, indented, sorted.</summary>
    internal static string Describe(IEnumerable<Assembly> assemblies)
    {
        var text = new StringBuilder();
        foreach (var type in assemblies.SelectMany(a => a.GetExportedTypes()).OrderBy(t => t.FullName, StringComparer.Ordinal))
        {
            text.Append(TypeHeader(type)).Append('\n');
            foreach (var member in Members(type).Distinct().OrderBy(m => m, StringComparer.Ordinal))
                text.Append("  ").Append(member).Append('\n');
        }
        return text.ToString();
    }

    private static string TypeHeader(Type type)
    {
        string kind = type switch
        {
            { IsEnum: true } => "enum",
            { IsInterface: true } => "interface",
            { IsValueType: true } => "struct",
            _ when typeof(Delegate).IsAssignableFrom(type) => "delegate",
            { IsAbstract: true, IsSealed: true } => "static class",
            { IsAbstract: true } => "abstract class",
            { IsSealed: true } => "sealed class",
            _ => "class",
        };
        var bases = new List<string>();
        if (type.BaseType is { } b && b != typeof(object) && b != typeof(ValueType) && b != typeof(Enum) && b != typeof(MulticastDelegate)) bases.Add(Name(b));
        bases.AddRange(type.GetInterfaces().Select(Name).Order(StringComparer.Ordinal));
        return $"{kind} {Name(type)}" + (bases.Count > 0 ? " : " + string.Join(", ", bases) : "");
    }

    private static IEnumerable<string> Members(Type type)
    {
        const BindingFlags flags = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        if (type.IsEnum)
        {
            foreach (var f in type.GetFields(BindingFlags.Public | BindingFlags.Static))
                yield return $"{f.Name} = {Convert.ToInt64(f.GetRawConstantValue())}";
            yield break;
        }
        foreach (var c in type.GetConstructors(flags).Where(Visible))
            yield return $"{Access(c)}ctor({Parameters(c)})";
        foreach (var m in type.GetMethods(flags).Where(m => Visible(m) && (!m.IsSpecialName || m.Name.StartsWith("op_", StringComparison.Ordinal))))
            yield return $"{Access(m)}{Modifiers(m)}{Name(m.ReturnType)} {m.Name}{GenericArguments(m)}({Parameters(m)})";
        foreach (var p in type.GetProperties(flags))
        {
            var accessors = new[] { p.GetMethod, p.SetMethod }.Where(a => a is not null && Visible(a)).ToArray();
            if (accessors.Length == 0) continue;
            string index = p.GetIndexParameters() is { Length: > 0 } ip ? $"[{string.Join(", ", ip.Select(x => $"{Name(x.ParameterType)} {x.Name}"))}]" : "";
            string gets = string.Join(" ", accessors.Select(a => a == p.GetMethod ? "get;"
                : a!.ReturnParameter.GetRequiredCustomModifiers().Any(t => t.Name == "IsExternalInit") ? "init;" : "set;"));
            yield return $"{Access(accessors[0]!)}{Modifiers(accessors[0]!)}{Name(p.PropertyType)} {p.Name}{index} {{ {gets} }}";
        }
        foreach (var f in type.GetFields(flags).Where(f => f.IsPublic || f.IsFamily || f.IsFamilyOrAssembly))
            yield return $"{(f.IsFamily || f.IsFamilyOrAssembly ? "protected " : "")}{(f.IsLiteral ? "const " : f.IsStatic ? "static " : "")}{(f.IsInitOnly ? "readonly " : "")}{Name(f.FieldType)} {f.Name}";
        foreach (var e in type.GetEvents(flags).Where(e => e.AddMethod is { } a && Visible(a)))
            yield return $"event {Name(e.EventHandlerType!)} {e.Name}";
    }

    private static bool Visible(MethodBase m) => m.IsPublic || m.IsFamily || m.IsFamilyOrAssembly;

    private static string Access(MethodBase m) => m.IsPublic ? "" : "protected ";

    private static string Modifiers(MethodInfo m) =>
        m.IsStatic ? "static " : m.IsAbstract && !m.DeclaringType!.IsInterface ? "abstract " : m.IsVirtual && !m.IsFinal && !m.DeclaringType!.IsInterface
            ? (m.GetBaseDefinition() != m ? "override " : "virtual ") : "";

    private static string GenericArguments(MethodInfo m) => m.IsGenericMethod ? $"<{string.Join(", ", m.GetGenericArguments().Select(Name))}>" : "";

    private static string Parameters(MethodBase m) => string.Join(", ", m.GetParameters().Select(p =>
        (p.IsOut ? "out " : p.ParameterType.IsByRef ? (p.IsIn ? "in " : "ref ") : "") +
        $"{Name(p.ParameterType)} {p.Name}" + (p.HasDefaultValue ? $" = {p.DefaultValue ?? "null"}" : "")));

    /// <summary>C#-like type names: namespaces, generic arguments, arrays, nested types with '+' replaced by '.'.</summary>
    private static string Name(Type t)
    {
        if (t.IsByRef) return Name(t.GetElementType()!);
        if (t.IsArray) return Name(t.GetElementType()!) + "[" + new string(',', t.GetArrayRank() - 1) + "]";
        if (t.IsPointer) return Name(t.GetElementType()!) + "*";
        if (t.IsGenericParameter) return t.Name;
        if (Nullable.GetUnderlyingType(t) is { } u) return Name(u) + "?";
        string name = (t.IsNested ? Name(t.DeclaringType!) + "." : t.Namespace is null ? "" : t.Namespace + ".") + t.Name;
        if (!t.IsGenericType) return name;
        int tick = name.IndexOf('`');
        var args = t.GetGenericArguments();
        if (t.IsNested) args = args.Skip(t.DeclaringType!.GetGenericArguments().Length).ToArray();
        return (tick >= 0 ? name[..tick] : name) + (args.Length > 0 ? $"<{string.Join(", ", args.Select(Name))}>" : "");
    }
}
