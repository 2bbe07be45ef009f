#!/usr/bin/env bash
# Dev-time setup for regenerating the BMP/GIF test fixtures (tools/make_bmp_gif_fixtures.py). Not needed to
# build, test or run Saliency.Gpu: the generated files are committed and CI never calls this. Installs
# Debian's Pillow (python3-pil), an encoder independent of Skia. Idempotent.
set -euo pipefail
if ! dpkg -s python3-pil >/dev/null 2>&1; then
  echo "setup-fixtures: installing Debian package python3-pil"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-pil >/dev/null
fi
echo "setup-fixtures: ok (Pillow $(/usr/bin/python3 -c 'import PIL; print(PIL.__version__)'))"
