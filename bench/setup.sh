#!/usr/bin/env bash
# What the benchmarks need beyond the Python environment: nginx, the proxy_pass reference of
# B3 (Debian's package). Installed when missing and the machine lets us; otherwise B3 reports
# that nginx was not measured.
set -uo pipefail
if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "[bench] nginx not installed and no apt-get here: B3 runs without the nginx reference"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
    echo "[bench] nginx not installed and not root: B3 runs without the nginx reference"; exit 0
  fi
fi
echo "[bench] installing nginx (B3's proxy_pass reference)"
$SUDO apt-get install -y -q nginx-light >/dev/null 2>&1 \
  || { $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q nginx-light >/dev/null 2>&1; } \
  || $SUDO apt-get install -y -q nginx >/dev/null 2>&1 \
  || echo "[bench] nginx could not be installed: B3 runs without the nginx reference"
# Debian starts the packaged service; the benchmark runs its own instance.
$SUDO service nginx stop >/dev/null 2>&1 || true
exit 0
