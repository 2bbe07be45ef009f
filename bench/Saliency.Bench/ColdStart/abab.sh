#!/usr/bin/env bash
# Interleaved (ABAB...) cold one-shot timings of the saliency CLI: on a shared machine the load drifts, so the variants
# run alternately, round after round, and we report per-variant medians and the ratio of medians.
#   bash bench/Saliency.Bench/ColdStart/abab.sh ROUNDS 'label=command prefix' ... -- 'args' ...
# e.g. abab.sh 9 'build=dotnet /tmp/a/saliency.dll' 'r2r=/tmp/b/saliency' -- 'info' 'explain --method caso --digit 2'
# Each variant runs in its own folder's parent working directory; output goes to /dev/null; a non-zero exit aborts.
# A second table gives the median CPU time (user + sys over all threads, bash's time): under heavy shared load
# the wall clock mostly measures waiting for a core, while the CPU time still shows the work each variant does.
set -euo pipefail
rounds=$1; shift
variants=(); while [ "$1" != "--" ]; do variants+=("$1"); shift; done; shift
commands=("$@")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
TIMEFORMAT='%3U %3S'
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 0; r < rounds; r++)); do
  for ci in "${!commands[@]}"; do
    for vi in "${!variants[@]}"; do
      prefix=${variants[$vi]#*=}
      t0=$(date +%s%N)
      { time $prefix ${commands[$ci]} >/dev/null 2>"$tmp/err" || { echo "failed: $prefix ${commands[$ci]}"; cat "$tmp/err"; exit 1; }; } 2>"$tmp/cpu"
      t1=$(date +%s%N)
      echo $(( (t1 - t0) / 1000000 )) >> "$tmp/$ci.$vi"
      awk '{printf "%d\n", ($1 + $2) * 1000}' "$tmp/cpu" >> "$tmp/cpu.$ci.$vi"
    done
  done
done
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"
median() { sort -n "$1" | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
table() { # $1: file prefix ("" = wall clock, "cpu." = CPU time), $2: unit label
  local header="| command |"; for v in "${variants[@]}"; do header+=" ${v%%=*} median $2 |"; done
  [ ${#variants[@]} -gt 1 ] && for v in "${variants[@]:1}"; do header+=" ${v%%=*} / ${variants[0]%%=*} |"; done
  echo "$header"
  for ci in "${!commands[@]}"; do
    local line="| \`${commands[$ci]}\` |" base; base=$(median "$tmp/$1$ci.0")
    for vi in "${!variants[@]}"; do line+=" $(median "$tmp/$1$ci.$vi") |"; done
    for ((vi = 1; vi < ${#variants[@]}; vi++)); do line+=" $(awk -v a="$(median "$tmp/$1$ci.$vi")" -v b="$base" 'BEGIN{printf "%.2f", a/b}') |"; done
    echo "$line"
  done
}
table "" "ms"
echo "($rounds rounds, wall-clock ms per process from fork to exit)"
echo
table "cpu." "CPU ms"
echo "($rounds rounds, CPU ms per process: user + sys, all threads)"
