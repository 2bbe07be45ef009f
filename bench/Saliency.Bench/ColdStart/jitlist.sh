#!/usr/bin/env bash
# Lists what a one-shot saliency command still JIT-compiles at run time (ReadyToRun code is not listed), grouped:
#   bash bench/Saliency.Bench/ColdStart/jitlist.sh out/cli/saliency explain --method caso --digit 2 --out /tmp/m.png
# Prints the total, the count per JIT tier and per group (namespace of the method's type, IL stubs apart); the full
# list stays in $JITLIST_FILE (default /tmp/jitlist.txt). Uses the runtime's DOTNET_JitStdOutFile/JitDisasmSummary.
set -euo pipefail
file=${JITLIST_FILE:-/tmp/jitlist.txt}
rm -f "$file"
DOTNET_JitStdOutFile="$file" DOTNET_JitDisasmSummary=1 "$@" >/dev/null
awk '
  /JIT compiled/ {
    n++
    tier = $0; sub(/.*\[/, "", tier); sub(/,.*/, "", tier); tiers[tier]++
    name = $0; sub(/.*JIT compiled /, "", name); sub(/:.*/, "", name)
    if (name ~ /IL_STUB/ || $0 ~ /IL_STUB/) group = "IL stubs (interop)"
    else { sub(/[`+\[].*/, "", name); k = split(name, part, "."); group = part[1]; for (i = 2; i <= (k < 3 ? k : 3); i++) group = group "." part[i] }
    groups[group]++
  }
  END {
    printf "%d methods JIT-compiled;", n; for (t in tiers) printf " %s %d;", t, tiers[t]; printf "\n"
    for (g in groups) printf "%6d  %s\n", groups[g], g | "sort -rn"
  }' "$file"
