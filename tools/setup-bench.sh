#!/usr/bin/env bash
# Installs the peers the benchmarks compare with (not needed by the tests): Debian python3-scipy, whose
# scipy.optimize.linprog(method="highs") is the HiGHS peer of the LEG-TV LP benchmark (tools/lp/highs_tvlp.py,
# run with /usr/bin/python3, the Debian interpreter, not a pyenv one on PATH), and hyperfine, which times the
# cold one-shot CLI runs of bench/Saliency.Bench/ColdStart. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pkg in python3-scipy coinor-clp hyperfine; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup-bench: installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
/usr/bin/python3 -c "import scipy.optimize" || { echo "setup-bench: /usr/bin/python3 cannot import scipy.optimize"; exit 1; }
