#!/usr/bin/env bash
# Set up everything hmmrec needs on a fresh Debian machine, idempotently:
#   Debian packages (PortAudio, PulseAudio for the virtual microphone, espeak-ng/sox,
#   Chromium for browser tests), a virtualenv in .venv, and hmmrec with its extras.
# Usage: bash scripts/setup.sh [EXTRAS]   (EXTRAS default: dev)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-dev}"
debs=(libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins espeak-ng sox chromium chromium-driver)
missing=()
for p in "${debs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages (run as root or: sudo apt-get install ${missing[*]})" >&2
  fi
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[${extras}]"
