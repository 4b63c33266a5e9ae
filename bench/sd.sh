#!/usr/bin/env bash
# Honest costs of a Stable Diffusion pair (docs/benchmarks.md, "SD-size models"). Exports, with random
# weights (tools/export; sd-v1 takes ~5 min and ~9.5 GB peak), the SD v1 UNet and the BK-SDM-Tiny UNet
# at 512 px (4x64x64 latents) and CLIP ViT-L/14's text encoder into DIR (default /tmp/sd-models, outside
# the repo: 4.9 GB), builds the services, then runs `tstitch bench-dit` with the text encoder: ORT per call
# at batch 1 and 2 (a guided step), and the cluster at r = 0 and r = 0.4 in stage and step mode, one
# prompt with guidance 7.5, each replica its own process. TINY=1 times the tiny test pair instead
# (tools/export/make_fixtures.sh). A benchmark, not a test: run it on an otherwise idle machine.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-/tmp/sd-models}"
py="${PYTHON:-/usr/bin/python3}"
mkdir -p "$out"
export PYTHONWARNINGS=ignore
if [ "${TINY:-0}" = 1 ]; then
  [ -f "$out/unet-tiny.json" ] || bash "$root/tools/export/make_fixtures.sh" "$out" >&2
  small="$out/unet-tiny-small.json"; large="$out/unet-tiny.json"; clip="$out/clip-tiny.json"
else
  [ -f "$out/clip-vit-l-14.json" ] || "$py" "$root/tools/export/export_text_encoder.py" --config vit-l-14 --random-init --seed 0 --out "$out" >&2
  [ -f "$out/bk-sdm-tiny.json" ] || "$py" "$root/tools/export/export_unet.py" --config bk-sdm-tiny --random-init --seed 0 --out "$out" --name bk-sdm-tiny >&2
  [ -f "$out/sd-v1.json" ] || "$py" "$root/tools/export/export_unet.py" --config sd-v1 --random-init --seed 0 --out "$out" --name sd-v1 >&2
  small="$out/bk-sdm-tiny.json"; large="$out/sd-v1.json"; clip="$out/clip-vit-l-14.json"
fi
dotnet build "$root/services/SmallDenoiser" -v q --nologo >&2
dotnet run --project "$root/src/TStitch.Cli" -v q -- bench-dit \
  --small "$small" --large "$large" --text-encoder "$clip" \
  --replica-dll "$root/services/SmallDenoiser/bin/Debug/net10.0/linux-x64/SmallDenoiser.dll" \
  --steps "${STEPS:-5}" --repeats "${REPEATS:-2}" --small-fraction 0.4
