#!/usr/bin/env bash
# The paper-scale rows of bench/Saliency.Bench/EndToEnd/RESULTS.md ("Quiet re-run"), after run_e2e.sh "resnet18 resnet50" "600":
# LEG-TV at the paper's n = 6,000 (2,000 per channel) on both models, CASO with all 1,000 classes, LEG n = 6,000 and the
# PyTorch + HiGHS peer at n = 6,000 on ResNet-18, and warm CASO top-10 rows (3 repeats in one process).
# Appends JSON lines to out/e2e/results.jsonl and out/e2e/warm.jsonl. About 20 minutes on 2 idle cores (8 of them the
# ResNet-50 peer at n = 6,000, last).
set -euo pipefail
cd "$(dirname "$0")/../.."
B=bench/Saliency.Bench/bin/Release/net10.0/Saliency.Bench.dll
O=out/e2e; mkdir -p $O; R=$O/results.jsonl
for m in resnet18 resnet50; do
  dotnet $B e2e out/peers/$m.onnx out/peers/image.f32 legtv n=6000 map=$O/$m-legtv-n6000.f32 moments=$O/$m-moments-n6000.f64 | tee -a $R
  dotnet $B e2e out/peers/$m.onnx out/peers/image.f32 caso k=0 | tee -a $R
done
dotnet $B e2e out/peers/resnet18.onnx out/peers/image.f32 leg n=6000 map=$O/resnet18-leg-n6000.f32 | tee -a $R
/usr/bin/python3 tools/peers/leg_peer.py out/peers/resnet18.pt out/peers/image.f32 6000 \
  $O/resnet18-moments-n6000.f64 $O/resnet18-legtv-n6000.f32 $O/resnet18-leg-n6000.f32 | tee -a $R
# λ1 of each model's top-10 sweep (the run_e2e.sh rows), for the fixed-λ1 warm rows.
for m in resnet18 resnet50; do
  l1=$(/usr/bin/python3 -c "import json; print([r for r in map(json.loads, open('$R')) if r.get('model') == '$m' and r.get('args', '').startswith('k=10 map=')][-1]['lambda1'])")
  for a in "lambda1=$l1 iters=10" "lambda1=$l1 iters=100" ""; do
    dotnet $B e2e out/peers/$m.onnx out/peers/image.f32 caso k=10 $a repeats=3 | tee -a $O/warm.jsonl
  done
done
/usr/bin/python3 tools/peers/leg_peer.py out/peers/resnet50.pt out/peers/image.f32 6000 | sed 's/^{/{"model": "resnet50", /' | tee -a $R
