#!/usr/bin/env bash
# The device check of issue 13, at most 8 minutes: CUDA tests, animation frames/s (256^2 and 512^2
# output), paper-256 training steps/s at batch 20 -> $OUT/device_check.json (default ./out/device_check).
# Without CUDA it says "no CUDA", runs short CPU versions and exits 0. Usage: scripts/device_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=.venv/bin/python
[ -x "$PYTHON" ] || PYTHON=python3
export OUT="${OUT:-./out/device_check}"
mkdir -p "$OUT"
timeout 480 "$PYTHON" scripts/device_check.py --out "$OUT" || { rc=$?; echo "device check stopped with exit code $rc; partial results in $OUT"; exit $rc; }
