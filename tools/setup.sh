#!/usr/bin/env bash
# Installs what Saliency.Gpu needs on a fresh Debian machine with the .NET SDK: Debian packages used by
# tests and benchmarks, then NuGet restore (ONNX Runtime comes from NuGet, see docs/onnxruntime.md).
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: coinor-clp (independent LP solver the LEG-TV tests compare with); chromium (the browser the
# report test drives through Microsoft.Playwright: browser downloads are impossible here, so the system one is used);
# fonts-dejavu-core (the font of the report's ScottPlot plots: Skia's NoDependencies build finds no system font itself).
need_apt=()
for pkg in coinor-clp chromium fonts-dejavu-core; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

dotnet restore Saliency.Gpu.sln --nologo -v quiet
