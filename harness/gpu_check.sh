#!/usr/bin/env bash
# Check the harness on a GPU machine against the shipped H200 tables, in one command.
#
#   harness/gpu_check.sh [--out DIR] [--time-limit SECONDS] [--dry-run] [...]   (--help)
#
# Finds a Python >= 3.11 and runs servesim_harness.gpucheck from this checkout (nothing
# to install first): it uses that Python's torch when it is a CUDA build the driver
# runs, else installs one from PyPI into a virtualenv; times sweeps/h200-check.yaml with
# a time limit (default 360 s) into --out (default $OUT, else out/gpu-check) in the
# calibration format; writes provenance.txt, compare.md, compare.csv and gpu_check.log
# there; and runs `servesim calibrate import` and `servesim perf check` when a servesim
# binary is at hand.  --dry-run does it all on a CPU (numpy timer, no torch).
# Exit codes: 0 done; 1 a step failed (the log says which and why); 2 bad arguments.
# See harness/README.md.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

PY=""
for cand in "${GPU_CHECK_PYTHON:-}" python3 python3.13 python3.12 python3.11 python; do
    [ -n "$cand" ] || continue
    if command -v "$cand" >/dev/null 2>&1 &&
        "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
        PY="$cand"
        break
    fi
done
if [ -z "$PY" ]; then
    echo "gpu_check: error: no Python 3.11 or newer here (tried \$GPU_CHECK_PYTHON, python3, python3.13, python3.12, python3.11, python)" >&2
    exit 1
fi
export PYTHONPATH="$HERE${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
exec "$PY" -m servesim_harness.gpucheck "$@"
