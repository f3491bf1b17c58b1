#!/usr/bin/env bash
# Installs the real servers the test suite runs (Prometheus, promtool, Alertmanager) from
# Debian's packages, Node.js for the dashboard schema and README snippet checks, Chromium for
# the landing page's real-browser test and wrk for the benchmarks, when they are missing.
set -euo pipefail

need=()
command -v prometheus >/dev/null || need+=(prometheus)
command -v promtool >/dev/null || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
command -v npm >/dev/null || need+=(nodejs npm)
command -v wrk >/dev/null || need+=(wrk)  # load generator of make bench
command -v chromium >/dev/null || need+=(chromium)  # headless: the landing page browser test

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root (or sudo) to install: ${need[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "installing Debian packages: ${need[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
