#!/usr/bin/env bash
# CI for the hardware harness: no GPU, no torch.  Usage: harness/ci.sh [VENV]
#   VENV: virtualenv to create or reuse (default .venv; relative to the current folder).
# Installs the harness with its dev dependencies (numpy, pyyaml, pytest), runs the test
# suite, then one CLI dry run of sweeps/example.yaml into a temporary folder and checks
# the files it wrote, then the dry runs of gpu_check.sh on a canned H200 and H100 (the GPU
# check of sweeps/h200-check.yaml and h100-check.yaml: comparison with the shipped tables,
# and servesim import and perf check when target/{release,debug}/servesim is built).  Exits non-zero on any failure.
set -euo pipefail

VENV="${1:-.venv}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="$VENV/bin/python"

[ -x "$PY" ] || python3 -m venv "$VENV"
# Absolute from here on: the tests run from the harness folder.
VENV="$(cd "$VENV" && pwd)"
PY="$VENV/bin/python"
"$PY" -m pip install --quiet --disable-pip-version-check -e "$HERE[dev]"

echo "--> harness: pytest"
(cd "$HERE" && "$PY" -m pytest -q -p no:cacheprovider tests)

echo "--> harness: CLI dry run of sweeps/example.yaml"
OUT="$(mktemp -d "${TMPDIR:-/tmp}/servesim-harness-ci.XXXXXX")"
trap 'rm -rf "$OUT"' EXIT
"$VENV/bin/servesim-harness" validate "$HERE/sweeps/example.yaml"
"$VENV/bin/servesim-harness" validate "$HERE/sweeps/hopper-full.yaml" >/dev/null
"$VENV/bin/servesim-harness" run "$HERE/sweeps/example.yaml" --out "$OUT" --dry-run --quiet
"$PY" - "$OUT" <<'PYEOF'
import sys
from pathlib import Path

from servesim_harness.calibfmt import read_family
from servesim_harness.families import COLUMNS

root = Path(sys.argv[1])
files = sorted(root.rglob("*.csv.gz"))
families = sorted(p.name.removesuffix(".csv.gz") for p in files)
assert families == sorted(COLUMNS), f"families written: {families}"
for p in files:
    header, columns, rows = read_family(p)
    assert header["measured_on"] == "cpu-dry-run", p
    assert columns == COLUMNS[header["family"]], p
    assert rows and all(float(r[-1]) > 0 for r in rows), p
print(f"ok: {len(files)} calibration files, {sum(len(read_family(p)[2]) for p in files)} rows")
PYEOF
echo "--> harness: gpu_check.sh --dry-run (sweeps/h200-check.yaml against the shipped tables)"
# The whole GPU check on this CPU: canned nvidia-smi, numpy timer, comparison that must
# match every row, servesim import and perf check when a servesim binary is built.
GC="$OUT/gpu-check"
if ! GPU_CHECK_PYTHON="$PY" "$HERE/gpu_check.sh" --dry-run --out "$GC" --work "$OUT/gpu-check-work" >"$OUT/gpu-check.txt" 2>&1; then
    tail -n 60 "$OUT/gpu-check.txt" >&2
    echo "gpu_check.sh --dry-run failed (log above)" >&2
    exit 1
fi
for f in provenance.txt compare.md compare.csv gpu_check.log h200_sxm/vllm/gemm.csv.gz \
    h200_sxm/vllm/context_attention.csv.gz h200_sxm/vllm/generation_attention.csv.gz; do
    [ -s "$GC/$f" ] || { echo "gpu_check.sh --dry-run wrote no $f" >&2; exit 1; }
done
grep -q '^mode: dry run' "$GC/provenance.txt"
grep -q '^Every measured row has a shipped row of the same shape.$' "$GC/compare.md"
grep -E '^==> done in|^leave-shape-out|^no servesim binary' "$GC/gpu_check.log" | sed 's/^/    /'
echo "--> harness: gpu_check.sh --dry-run on a canned H100 (sweeps/h100-check.yaml against the shipped tables)"
GC1="$OUT/gpu-check-h100"
if ! GPU_CHECK_PYTHON="$PY" "$HERE/gpu_check.sh" --dry-run --nvidia-smi "$HERE/tests/data/fake-nvidia-smi-h100" \
    --out "$GC1" --work "$OUT/gpu-check-work-h100" >"$OUT/gpu-check-h100.txt" 2>&1; then
    tail -n 60 "$OUT/gpu-check-h100.txt" >&2
    echo "gpu_check.sh --dry-run on an H100 failed (log above)" >&2
    exit 1
fi
grep -q '^sweep: sweeps/h100-check.yaml' "$GC1/gpu_check.log"
[ -s "$GC1/h100_sxm/vllm/gemm.csv.gz" ] || { echo "gpu_check.sh --dry-run on an H100 wrote no h100_sxm tables" >&2; exit 1; }
grep -q '^Every measured row has a shipped row of the same shape.$' "$GC1/compare.md"
# A bad sweep file must fail with exit code 2 and a message naming the path.
BAD="$OUT/bad.yaml"
printf 'gemm: {dtypes: [bf16], m: [1, 2, 4, -4], nk: [[16, 16]]}\n' >"$BAD"
set +e
MSG="$("$VENV/bin/servesim-harness" validate "$BAD" 2>&1)"
CODE=$?
set -e
if [ "$CODE" -ne 2 ] || ! grep -q 'gemm.m\[3\]: must be a positive integer, got -4' <<<"$MSG"; then
    echo "bad sweep file: expected exit 2 and a path in the message, got $CODE: $MSG" >&2
    exit 1
fi
echo "--> harness: ok"
