#!/usr/bin/env bash
# Install escgraph and run its main job: a short SAGE self-play simulation on the embedded model, offline
# (3 built-in seeker profiles, at most 3 judged turns each; a few minutes on 2 cores), written to runs/demo/.
# Extra arguments go to `escgraph simulate` (e.g. --n 5 --max-turns 5).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
if [[ -z "${VIRTUAL_ENV:-}" ]]; then source .venv/bin/activate; fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
out=runs/demo
if [[ -f "$out/run.sqlite" ]]; then
  # keep earlier demo results: move them aside instead of mixing runs
  mv "$out" "$out-$(date +%Y%m%d-%H%M%S)"
fi
escgraph simulate --graph sweetiechat --n 3 --max-turns 3 --out "$out" "$@"
echo "Open $out/report.html in a browser."
