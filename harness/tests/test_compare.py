"""servesim_harness.compare: measured rows against the shipped tables."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from servesim_harness.calibfmt import write_family
from servesim_harness.compare import (
    EXTRA_RUNS,
    Shipped,
    _main,
    compare,
    estimate_seconds,
    quantile,
    read_table,
    render_csv,
    render_markdown,
)
from servesim_harness.sweep import load_sweep, parse_sweep

from conftest import HARNESS, SWEEPS

REPO = HARNESS.parent
SHIPPED = REPO / "data" / "calibration"


def gemm_rows(rows):
    return [([d, str(m), str(n), str(k)], ms) for d, m, n, k, ms in rows]


def attn_rows(rows):
    return [([str(b), str(length), "8", "1", "64", "0", "bf16", kv], ms) for b, length, kv, ms in rows]


@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    root = tmp_path / "shipped"
    write_family(root, "gemm", "g1", "vllm", {}, gemm_rows([
        ("bf16", 1, 64, 32, 0.01), ("bf16", 8, 64, 32, 0.02), ("bf16", 64, 64, 32, 0.04),
        ("fp8", 1, 64, 32, 0.01), ("fp8", 8, 64, 32, 0.01),
    ]))
    write_family(root, "gemm", "g1", "trtllm", {}, gemm_rows([("bf16", 1, 64, 32, 0.005)]))
    write_family(root, "generation_attention", "g1", "vllm", {}, attn_rows([
        (1, 128, "bf16", 0.1), (1, 128, "fp8", 0.2),
    ]))
    write_family(root, "gemm", "other_gpu", "vllm", {}, gemm_rows([("bf16", 1, 64, 32, 99.0)]))
    return root


@pytest.fixture
def run(tmp_path: Path) -> Path:
    root = tmp_path / "run"
    meta = {"measured_on": "gpu", "device_name": "Fake H200", "cases": "5", "skipped": "1"}
    write_family(root, "gemm", "g1", "vllm", meta, gemm_rows([
        ("bf16", 1, 64, 32, 0.02),   # vllm 2x, trtllm 4x
        ("bf16", 8, 64, 32, 0.02),   # 1x
        ("bf16", 64, 64, 32, 0.02),  # 0.5x
        ("fp8", 1, 64, 32, 0.03),    # 3x
        ("fp8", 16, 64, 32, 0.03),   # no shipped row
    ]))
    write_family(root, "generation_attention", "g1", "vllm", {**meta, "cases": "2", "skipped": "0"}, attn_rows([
        (1, 128, "bf16", 0.1), (1, 128, "fp8", 0.3),
    ]))
    return root


def test_quantile_is_linear_between_ranks():
    assert quantile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5
    assert quantile([1.0, 2.0, 3.0, 4.0, 5.0], 0.9) == pytest.approx(4.6)
    assert quantile([7.0], 0.9) == 7.0
    with pytest.raises(ValueError):
        quantile([], 0.5)


def test_compare_matches_shapes_in_every_shipped_backend(run, shipped):
    cmp = compare(run, shipped)
    assert cmp.gpus == ["g1"]
    ratios = {(m.family, m.backend, m.key): round(m.ratio, 9) for m in cmp.matches}
    assert ratios == {
        ("gemm", "trtllm", ("bf16", 1, 64, 32)): 4.0,
        ("gemm", "vllm", ("bf16", 1, 64, 32)): 2.0,
        ("gemm", "vllm", ("bf16", 8, 64, 32)): 1.0,
        ("gemm", "vllm", ("bf16", 64, 64, 32)): 0.5,
        ("gemm", "vllm", ("fp8", 1, 64, 32)): 3.0,
        ("generation_attention", "vllm", (1, 128, 8, 1, 64, 0, "bf16", "bf16")): 1.0,
        ("generation_attention", "vllm", (1, 128, 8, 1, 64, 0, "bf16", "fp8")): 1.5,
    }
    assert cmp.unmatched == {"gemm": [("fp8", 16, 64, 32)], "generation_attention": []}
    assert cmp.total_unmatched() == 1
    stats = {(s.family, s.backend, s.group): s for s in cmp.stats()}
    assert list(stats) == [
        ("gemm", "trtllm", "bf16"),
        ("gemm", "vllm", "bf16"), ("gemm", "vllm", "fp8"), ("gemm", "vllm", "all"),
        ("generation_attention", "vllm", "kv bf16"), ("generation_attention", "vllm", "kv fp8"),
        ("generation_attention", "vllm", "all"),
    ]
    b = stats[("gemm", "vllm", "bf16")]
    assert (b.n, b.measured, b.median, b.min, b.max) == (3, 3, pytest.approx(1.0), pytest.approx(0.5), pytest.approx(2.0))
    assert b.p90 == pytest.approx(1.8) and b.p10 == pytest.approx(0.6)
    a = stats[("gemm", "vllm", "all")]
    assert (a.n, a.measured, a.median) == (4, 5, pytest.approx(1.5))
    assert stats[("gemm", "vllm", "fp8")].measured == 2  # one fp8 row had no shipped row


def test_reports(run, shipped):
    cmp = compare(run, shipped)
    md = render_markdown(cmp)
    assert "| gemm | vllm | bf16 | 3 / 3 | 1 | 0.6 | 1.8 | 0.5 | 2 |" in md
    assert "| generation_attention | vllm | kv fp8 | 1 / 1 | 1.5 |" in md
    assert "- device_name: Fake H200" in md
    assert "- gemm: 5 cases, 1 skipped" in md
    assert "1 measured rows have no shipped row of the same shape:" in md
    assert "- gemm: dtype=fp8 m=16 n=64 k=32" in md
    assert "dry run" not in md
    rows = list(csv.DictReader(io.StringIO(render_csv(cmp))))
    assert len(rows) == len(cmp.matches)
    assert rows[0] == {
        "family": "gemm", "shipped_backend": "trtllm", "group": "bf16", "shape": "dtype=bf16 m=1 n=64 k=32",
        "measured_ms": "0.02", "shipped_ms": "0.005", "ratio": "4",
    }


def test_cli(run, shipped, tmp_path, capsys):
    md, rows = tmp_path / "c.md", tmp_path / "c.csv"
    assert _main(["run", str(run), "--shipped", str(shipped), "--md", str(md), "--csv", str(rows)]) == 0
    assert md.read_text() == capsys.readouterr().out
    assert rows.read_text().startswith("family,shipped_backend,group,shape,")
    assert _main(["run", str(run), "--shipped", str(shipped), "--require-match"]) == 1
    assert "1 measured rows have no shipped row (--require-match)" in capsys.readouterr().err
    # Nothing to compare with: an error, not an empty report.
    assert _main(["run", str(run), "--shipped", str(tmp_path / "none")]) == 1
    assert "no measured row has a shipped row" in capsys.readouterr().err
    assert _main(["run", str(tmp_path / "shipped" / "g1" / "vllm"), "--shipped", str(shipped)]) == 1
    assert "no <gpu>/<backend>/<family>.csv.gz files" in capsys.readouterr().err


def test_duplicate_keys_keep_the_median(tmp_path):
    path = write_family(tmp_path, "gemm", "g", "vllm", {}, gemm_rows([
        ("bf16", 1, 16, 16, 1.0), ("bf16", 1, 16, 16, 3.0), ("bf16", 1, 16, 16, 8.0),
    ]))
    assert read_table(path).rows == {("bf16", 1, 16, 16): 3.0}


def test_estimate_counts_runs_and_overhead(shipped):
    sweep = parse_sweep(
        "repetitions: 10\nwarmup: 2\n"
        "gemm: {dtypes: [bf16], m: [1, 8, 2], nk: [[64, 32]]}\n"
    )
    secs, missing = estimate_seconds(sweep, shipped, "g1", overhead_s=1.0)
    runs = 10 + 2 + EXTRA_RUNS
    # The slowest backend's latency: m=1 is 0.01 ms (vllm) vs 0.005 (trtllm).
    assert secs == pytest.approx(3 * 1.0 + runs * (0.01 + 0.02) / 1000)
    assert missing == 1


# -- the shipped check sweep against the real shipped tables ---------------------------


def test_h200_check_sweep_holds_only_shipped_shapes():
    """Every case of sweeps/h200-check.yaml has a row in a shipped H200 table: the GEMMs
    and decode attention in vLLM's, prefill in TensorRT-LLM's (vLLM's has no [32, 4])."""
    sweep = load_sweep(SWEEPS / "h200-check.yaml")
    shipped = Shipped(SHIPPED, "h200_sxm")
    need = {"gemm": "vllm", "context_attention": "trtllm", "generation_attention": "vllm"}
    assert sweep.families() == list(need)
    for family, backend in need.items():
        table = shipped.table(backend, family)
        for case in sweep.cases(family):
            key = tuple(int(f) if f.isdigit() else f for f in case.fields())
            assert key in table.rows, (family, backend, case)
    counts = sweep.count()
    assert counts == {"gemm": 84, "context_attention": 22, "generation_attention": 44}
    gemm_shapes = {(c.m, c.n, c.k) for c in sweep.cases("gemm")}
    assert len(gemm_shapes) == 42 and {c.dtype for c in sweep.cases("gemm")} == {"bf16", "fp8"}
    assert min(m for m, _, _ in gemm_shapes) == 1 and max(m for m, _, _ in gemm_shapes) == 8192
    assert {(c.num_heads, c.num_kv_heads, c.head_dim) for c in sweep.cases("context_attention")} == {(64, 8, 128), (32, 4, 128)}


def test_h200_check_sweep_fits_its_time():
    """The GPU time the shipped latencies imply, with a generous cost per case, is well
    inside the 6 minutes the check is given."""
    secs, missing = estimate_seconds(load_sweep(SWEEPS / "h200-check.yaml"), SHIPPED, "h200_sxm")
    assert missing == 0
    assert secs < 120, secs
