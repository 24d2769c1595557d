#!/usr/bin/env bash
# Install and run the test suite offline. Inside a loopback-only network namespace when the machine allows one,
# so no test can reach the network. pytest's exit code 5 ("no tests ran") counts as failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
if [[ -z "${VIRTUAL_ENV:-}" ]]; then source .venv/bin/activate; fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 LANGGRAPH_CLI_NO_ANALYTICS=1 LANGGRAPH_NO_VERSION_CHECK=1
export ANONYMIZED_TELEMETRY=False
run_pytest=(python -m pytest -q -p no:cacheprovider "$@")
status=0
if unshare -n true 2>/dev/null; then
    unshare -n bash -c 'ip link set lo up 2>/dev/null || true; exec "$@"' _ "${run_pytest[@]}" || status=$?
else
    echo "note: cannot create a network namespace here; running tests in the normal network" >&2
    "${run_pytest[@]}" || status=$?
fi
if [[ $status -eq 5 ]]; then
    echo "error: pytest collected no tests" >&2
    exit 1
fi
exit $status
