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
dotnet publish src/Cli/Saliency.Cli.csproj -c Release -r "$rid" --self-contained false -o "$out" --nologo -v quiet -clp:ErrorsOnly
echo "publish-cli: $out/saliency ($rid, ReadyToRun)"
