#!/usr/bin/env bash
# The end-to-end suite of bench/Saliency.Bench/EndToEnd: ours (one process per method, for its peak RSS) and the
# PyTorch peers in the same run, on out/peers/{resnet18,resnet50} (tools/peers/export_models.py) and out/peers/image.f32
# (tools/peers/make_image.py). JSON lines to out/e2e/results.jsonl. Usage: bash tools/peers/run_e2e.sh [models] [leg n list]
set -euo pipefail
cd "$(dirname "$0")/../.."
MODELS=${1:-"resnet18 resnet50"}
NS=${2:-"100 200"}
B=bench/Saliency.Bench/bin/Release/net10.0/Saliency.Bench.dll
O=out/e2e; mkdir -p $O; R=$O/results.jsonl
PY=/usr/bin/python3
ours() { dotnet $B e2e out/peers/$1.onnx out/peers/image.f32 "${@:2}" | tee -a $R; }
field() { $PY -c "import json,sys; print(json.loads(sys.stdin.readlines()[-1])['$1'])"; }
for m in $MODELS; do
  line=$(ours $m caso k=10 map=$O/$m-caso-k10-sweep.f32)
  l1=$(echo "$line" | field lambda1); l2=$(echo "$line" | field lambda2)
  for k in 1 64; do ours $m caso k=$k >/dev/null; done
  for k in 1 10 64; do ours $m cafo k=$k >/dev/null; done
  for it in 10 100; do ours $m caso k=10 lambda1=$l1 iters=$it map=$O/$m-caso-k10-it$it.f32 >/dev/null; done
  $PY tools/peers/caso_peer.py out/peers/$m.pt out/peers/image.f32 caso 10 $l1 10,100 $l2 $O/$m-caso-k10-it10.f32,$O/$m-caso-k10-it100.f32 | tee -a $R
  for n in $NS; do
    ours $m leg n=$n map=$O/$m-leg-n$n.f32 >/dev/null
    ours $m legtv n=$n map=$O/$m-legtv-n$n.f32 moments=$O/$m-moments-n$n.f64 >/dev/null
  done
  nmax=${NS##* }
  for n in $([ $m = resnet18 ] && echo $NS || echo ${NS%% *}); do
    $PY tools/peers/leg_peer.py out/peers/$m.pt out/peers/image.f32 $n $O/$m-moments-n$nmax.f64 $O/$m-legtv-n$nmax.f32 $O/$m-leg-n$nmax.f32 | tee -a $R
  done
done
