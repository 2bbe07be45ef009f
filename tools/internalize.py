#!/usr/bin/env python3
"""The sweep of issue 12: every top-level type of the library assemblies becomes internal, except the public entry
point (src/Saliency/Engine/); so do the test projects' types (NUnit runs internal fixtures), so that test helpers may take
and return internal types. Access modifiers only; nested types keep theirs (their containing type bounds them).
Directory.Build.props grants the internals to the CLI, the server, tests, benchmarks and tools/GpuCheck.
Idempotent: after merging a branch that adds public types, run it again, then rewrite the public-API listing
(SALIENCY_UPDATE_PUBLIC_API=1, see tests/Saliency.Tests/Packaging/PublicApiTests.cs).
Usage: python3 tools/internalize.py [--check]  (--check lists what would change and exits 1 if anything)."""
import pathlib, re, sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
LIBRARIES = ["src/Kernels", "src/Linalg", "src/Solvers", "src/Models", "src/Saliency", "tests"]
KEEP = ["src/Saliency/Engine/"]
# A top-level declaration (column 0 in file-scoped namespaces): public [modifiers] class|struct|interface|enum|record|delegate
DECL = re.compile(r"^public((?:\s+(?:sealed|static|abstract|readonly|partial|unsafe|ref))*\s+(?:class|struct|interface|enum|record|delegate)\b)", re.M)

changed = []
for lib in LIBRARIES:
    for path in sorted((ROOT / lib).rglob("*.cs")):
        rel = path.relative_to(ROOT).as_posix()
        if "/obj/" in rel or "/bin/" in rel or any(rel.startswith(k) for k in KEEP):
            continue
        text = path.read_text(encoding="utf-8")
        new = DECL.sub(r"internal\1", text)
        if new != text:
            changed.append(rel)
            if "--check" not in sys.argv:
                path.write_text(new, encoding="utf-8")
print("\n".join(changed))
sys.exit(1 if changed and "--check" in sys.argv else 0)
