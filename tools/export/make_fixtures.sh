#!/usr/bin/env bash
# Exports the tiny test models (random init, fixed seeds) with their parity fixtures and state dicts
# into DIR, for the C# tests (tests/TStitch.Export.Tests):
#   DIR/vae-tiny.{onnx,json,pt}  DIR/vae-tiny.fixtures/          tiny SD-VAE decoder (4x8x8 -> 3x16x16)
#   DIR/dit-tiny.{onnx,json,pt}  DIR/dit-tiny.fixtures/          class-label DiT pair: dit-tiny is the large
#   DIR/dit-tiny-small.{onnx,json}                                model, dit-tiny-small (depth 1) the small one
#   DIR/clip-tiny.{onnx,json,pt,vocab.json,merges.txt}  DIR/clip-tiny.fixtures/
#                                                                 tiny CLIP text encoder + CLIP-format test vocabulary
#   DIR/unet-tiny.{onnx,json,pt}  DIR/unet-tiny.fixtures/        text-conditioned UNet pair (context 77x32):
#   DIR/unet-tiny-small.{onnx,json,pt}  DIR/unet-tiny-small.fixtures/   unet-tiny is the large model (SD v1's
#                                                                 layout), unet-tiny-small the small one (cut like BK-SDM-Tiny)
#   DIR/sd-reference.fixtures/                                    a stitched 6-step DDIM + CFG run of the UNet pair
#                                                                 in PyTorch (reference_sd.py), step by step
# All four denoisers name vae-tiny.json as their decoder. Takes several seconds. Uses Debian's
# /usr/bin/python3 (torch from apt; see install.sh) unless PYTHON is set.
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
"$py" "$here/export_text_encoder.py" --config tiny --random-init --seed 1 --out "$out" --name clip-tiny \
  --fixtures --save-state-dict "$out/clip-tiny.pt"
"$py" "$here/export_unet.py" --config tiny --random-init --seed 1 --out "$out" --name unet-tiny \
  --fixtures --save-state-dict "$out/unet-tiny.pt" --decoder vae-tiny.json
"$py" "$here/export_unet.py" --config tiny-small --random-init --seed 2 --out "$out" --name unet-tiny-small \
  --fixtures --save-state-dict "$out/unet-tiny-small.pt" --decoder vae-tiny.json
"$py" "$here/reference_sd.py" --dir "$out" --small unet-tiny-small --large unet-tiny --text-encoder clip-tiny \
  --name sd-reference --steps 6 --small-steps 3 --guidance 3.0 --seed 7
