#!/usr/bin/env bash
# Honest costs at DiT size (docs/benchmarks.md, "DiT-size models"). Exports DiT-S/2, DiT-XL/2 and
# DiT-B/2 at 256 with random weights (tools/export; XL/2 takes ~5 min and ~6 GB peak) into DIR
# (default /tmp/dit-models, outside the repo: 3.3 GB), builds the services, then runs
# `tstitch bench-dit`: ORT per call at batch 1 and 8, parameters, cost vs FLOP ratio, the cluster at
# r = 0 and r = 0.4 in stage and step mode with each replica its own process, and replica RSS.
# A benchmark, not a test: run it on an otherwise idle machine. Prints markdown.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-/tmp/dit-models}"
py="${PYTHON:-/usr/bin/python3}"
mkdir -p "$out"
export PYTHONWARNINGS=ignore
for spec in "S/2 dit-s2-256" "XL/2 dit-xl2-256" "B/2 dit-b2-256"; do
  set -- $spec
  if [ ! -f "$out/$2.json" ]; then
    "$py" "$root/tools/export/export_dit.py" --config "$1" --image-size 256 --random-init --seed 0 --out "$out" >&2
  fi
done
dotnet build "$root/services/SmallDenoiser" -v q --nologo >&2
dotnet run --project "$root/src/TStitch.Cli" -v q -- bench-dit \
  --small "$out/dit-s2-256.json" --large "$out/dit-xl2-256.json" --also "$out/dit-b2-256.json" \
  --replica-dll "$root/services/SmallDenoiser/bin/Debug/net10.0/linux-x64/SmallDenoiser.dll" \
  --steps "${STEPS:-10}" --repeats "${REPEATS:-3}" --small-fraction 0.4
