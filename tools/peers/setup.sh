#!/usr/bin/env bash
# Dev-only: Debian's PyTorch for the end-to-end peers (tools/peers/). Never run by CI.
set -euo pipefail
if ! /usr/bin/python3 -c "import torch, torchvision, scipy" 2>/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-torch python3-torchvision python3-scipy >/dev/null
fi
/usr/bin/python3 -c "import torch, torchvision, scipy; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'scipy', scipy.__version__)"
