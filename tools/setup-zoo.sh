#!/usr/bin/env bash
# Dev-only (never run by CI): installs what tools/zoo/export_zoo.py needs to regenerate tests/Fixtures/zoo.
# Debian bookworm ships torch 1.13.1, torchvision 0.14.1 and onnx 1.12 (used to list ops and check the exports).
# The scripts run under /usr/bin/python3 (Debian's); a pyenv python3 on PATH does not see these packages.
set -euo pipefail
need_apt=()
for pkg in python3-torch python3-torchvision python3-onnx; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup-zoo: installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
/usr/bin/python3 -c 'import torch, torchvision, onnx; print("setup-zoo: torch", torch.__version__, "torchvision", torchvision.__version__, "onnx", onnx.__version__)'
