#!/usr/bin/env bash
# Publishes the saliency command ReadyToRun into out/cli/ (run it as out/cli/saliency): every managed assembly of the
# app — ours and the packages' (System.CommandLine, Spectre.Console, Google.Protobuf, ILGPU, MathNet, ...) — is
# precompiled by crossgen2, so a one-shot call does not JIT it first (issue 13 item 3; figures in
# bench/Saliency.Bench/ColdStart/RESULTS.md). `dotnet build`/`dotnet run` output stays plain IL: PublishReadyToRun
# only acts on publish, for a runtime identifier. Framework-dependent (uses the installed .NET 10 runtime); the
# crossgen2 package (Microsoft.NETCore.App.Crossgen2.<rid>) is restored from NuGet at the SDK's runtime version.
#   bash tools/publish-cli.sh [rid]    # default: this machine's RID (linux-x64 here)
set -euo pipefail
cd "$(dirname "$0")/.."
rid=${1:-$(dotnet --info | awk '/^ *RID:/ {print $2; exit}')}
out=out/cli
# Crossgen2's outputs in obj/.../<rid>/R2R are reused by an incremental publish even when the ReadyToRun settings
# changed (e.g. after a PublishReadyToRunComposite experiment: stale component stubs without their composite image
# crash at start-up), so both go first.
obj=${SALIENCY_BUILD_ROOT:+$SALIENCY_BUILD_ROOT/obj/Saliency.Cli}
rm -rf "$out" "${obj:-src/Cli/obj}/Release/net10.0/$rid/R2R"
dotnet publish src/Cli/Saliency.Cli.csproj -c Release -r "$rid" --self-contained false -o "$out" --nologo -v quiet -clp:ErrorsOnly
echo "publish-cli: $out/saliency ($rid, ReadyToRun)"
