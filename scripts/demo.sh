#!/usr/bin/env bash
# Install escgraph and run its main job: a short self-play simulation on the embedded model, offline,
# writing selfplay-report/report.html. Extra arguments go to `escgraph selfplay`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
if [[ -z "${VIRTUAL_ENV:-}" ]]; then source .venv/bin/activate; fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
escgraph selfplay --turns 3 --out selfplay-report "$@"
