#!/usr/bin/env bash
# Installs what tools/export needs from Debian's apt (torch 1.13, onnx, numpy for /usr/bin/python3).
# Idempotent and quiet: does nothing when the modules already import. Used by CI before the
# export parity tests.
set -euo pipefail
PY=/usr/bin/python3
if [ -x "$PY" ] && "$PY" -c "import torch, onnx, numpy" >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3 python3-torch python3-onnx python3-numpy >/dev/null
"$PY" -c "import torch, onnx, numpy" || { echo "tools/export/install.sh: torch/onnx/numpy still not importable by $PY" >&2; exit 1; }
