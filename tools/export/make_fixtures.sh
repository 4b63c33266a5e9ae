#!/usr/bin/env bash
# Exports the tiny DiT and the tiny VAE decoder (random init, fixed seeds) with their parity
# fixtures and the DiT's state dict into DIR, for the C# tests (tests/TStitch.Export.Tests):
#   DIR/dit-tiny.{onnx,json,pt}  DIR/dit-tiny.fixtures/
#   DIR/vae-tiny.{onnx,json,pt}  DIR/vae-tiny.fixtures/
#   DIR/dit-tiny-small.{onnx,json}  (depth 1, seed 2: the small model of the tiny pair; dit-tiny is
#   the large one; both name vae-tiny.json as their decoder)
# Takes a few seconds. Uses Debian's /usr/bin/python3 (torch from apt; see install.sh) unless
# PYTHON is set.
set -euo pipefail
if [ $# -ne 1 ]; then echo "usage: $0 DIR" >&2; exit 64; fi
here="$(cd "$(dirname "$0")" && pwd)"
out="$1"
py="${PYTHON:-/usr/bin/python3}"
if ! "$py" -c "import torch, onnx" >/dev/null 2>&1; then
  echo "error: $py cannot import torch and onnx; run tools/export/install.sh (apt: python3-torch python3-onnx python3-numpy)" >&2
  exit 3
fi
mkdir -p "$out"
# The exporter's TracerWarnings are noise here; errors still reach stderr.
export PYTHONWARNINGS=ignore
"$py" "$here/export_vae.py" --config tiny --random-init --seed 1 --out "$out" --name vae-tiny \
  --fixtures --save-state-dict "$out/vae-tiny.pt"
"$py" "$here/export_dit.py" --config tiny --random-init --seed 1 --out "$out" --name dit-tiny \
  --fixtures --save-state-dict "$out/dit-tiny.pt" --decoder vae-tiny.json
"$py" "$here/export_dit.py" --config tiny-1 --random-init --seed 2 --out "$out" --name dit-tiny-small \
  --decoder vae-tiny.json
