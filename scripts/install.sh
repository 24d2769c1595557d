#!/usr/bin/env bash
# Install escgraph into ./.venv (or the active virtualenv) with what the tests and the demo need.
# torch goes first, pinned, so pip takes the CPU build rather than a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${VIRTUAL_ENV:-}" ]]; then
    [[ -x .venv/bin/python ]] || python3 -m venv .venv
    # shellcheck disable=SC1091
    source .venv/bin/activate
fi
python -m pip install --quiet --upgrade pip
python -m pip install --quiet "torch==2.13.0"
# llama-cpp-python compiles from source (~6 min on 2 cores) the first time; pip's wheel cache keeps the result.
python -m pip install --quiet -e ".[test,server,ray]"
echo "escgraph installed in ${VIRTUAL_ENV}" >&2
