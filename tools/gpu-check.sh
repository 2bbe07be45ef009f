#!/usr/bin/env bash
# GPU check kit (tools/GpuCheck): every kernel on an accelerator against the CPU reference, then the GPU benchmarks
# (HVP bandwidth vs a device copy, PDHG 224² and 3×224², CASO iterations/s), printed as one table.
#
#   tools/gpu-check.sh publish          # here (needs the .NET SDK): one self-contained linux-x64 file in out/gpu-check/
#   tools/gpu-check.sh run [args...]    # there (needs only the NVIDIA driver): runs out/gpu-check/saliency-gpu-check
#                                       #   args: --accelerator cuda (default) | ilgpu-cpu, --budget-seconds 270
#
# The published binary can also be run directly: out/gpu-check/saliency-gpu-check [--accelerator ilgpu-cpu].
# Exit codes of the binary: 0 all parity checks pass, 1 a check failed, 2 no such accelerator here (reason printed).
set -euo pipefail
cd "$(dirname "$0")/.."
out=out/gpu-check
max_mib=60

case "${1:-}" in
  publish)
    rm -rf "$out"
    # Self-contained single file, compressed (not trimmed: ILGPU reads kernel IL by reflection at run time).
    dotnet publish tools/GpuCheck/GpuCheck.csproj -c Release -r linux-x64 -o "$out" -p:DebugType=none --nologo -v quiet -clp:ErrorsOnly
    bin="$out/saliency-gpu-check"
    [ -x "$bin" ] || { echo "gpu-check: publish produced no $bin" >&2; exit 1; }
    bytes=$(stat -c %s "$bin")
    total=$(du -sb "$out" | cut -f1)
    echo "gpu-check: $bin: $((bytes / 1024 / 1024)) MiB ($bytes bytes); folder $((total / 1024 / 1024)) MiB"
    if [ "$total" -gt $((max_mib * 1024 * 1024)) ]; then
      echo "gpu-check: the published folder exceeds $max_mib MiB" >&2
      exit 1
    fi
    ;;
  run)
    shift
    bin="$out/saliency-gpu-check"
    [ -x "$bin" ] || { echo "gpu-check: $bin is missing; run 'tools/gpu-check.sh publish' on a machine with the .NET SDK first" >&2; exit 1; }
    # The single file extracts nothing to disk (managed assemblies load from the bundle); keep its temp dir local anyway.
    export DOTNET_BUNDLE_EXTRACT_BASE_DIR="${DOTNET_BUNDLE_EXTRACT_BASE_DIR:-$PWD/$out/.extract}"
    exec timeout 300 "$bin" "$@"
    ;;
  *)
    echo "usage: tools/gpu-check.sh publish | run [--accelerator cuda|ilgpu-cpu] [--budget-seconds s]" >&2
    exit 64
    ;;
esac
