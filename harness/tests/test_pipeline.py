"""The whole pipeline: sweep -> timer -> files."""

from __future__ import annotations

from pathlib import Path

from servesim_harness.calibfmt import read_family
from servesim_harness.families import COLUMNS
from servesim_harness.runner import run_sweep
from servesim_harness.sweep import load_sweep, parse_sweep
from servesim_harness.timers.dry import DryRunTimer

from conftest import SMALL, SWEEPS, FakeTimer

CREATED = "2025-01-31T12:00:00Z"
LAYOUT = {
    "gemm": "test_gpu/sglang/gemm.csv.gz",
    "context_attention": "test_gpu/sglang/context_attention.csv.gz",
    "generation_attention": "test_gpu/sglang/generation_attention.csv.gz",
    "nccl": "test_gpu/nccl/nccl.csv.gz",
    "p2p_copy": "test_gpu/sglang/p2p_copy.csv.gz",
}


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_dry_run_writes_every_family(tmp_path):
    sweep = parse_sweep(SMALL, "small.yaml")
    results = run_sweep(sweep, DryRunTimer(), tmp_path, gpu="test_gpu", created=CREATED)
    assert {r.family: str(r.path.relative_to(tmp_path)) for r in results} == LAYOUT
    assert sorted(tree(tmp_path)) == sorted(LAYOUT.values())
    for family, rel in LAYOUT.items():
        header, columns, rows = read_family(tmp_path / rel)
        assert list(header)[:4] == ["servesim-calibration", "family", "gpu", "backend"]
        assert header["servesim-calibration"] == "1"
        assert header["family"] == family
        assert header["gpu"] == "test_gpu"
        assert header["backend"] == ("nccl" if family == "nccl" else "sglang")
        assert header["measured_on"] == "cpu-dry-run"
        assert header["created"] == CREATED
        assert header["source"].startswith("servesim-harness ")
        assert header["repetitions"] == "3" and header["warmup"] == "1"
        assert header["skipped"] == "0" and header["cases"] == str(len(rows))
        if family != "nccl":
            assert header["backend_version"] == "0.5.0"
        assert columns == COLUMNS[family]
        cases = sweep.cases(family)
        assert [r[:-1] for r in rows] == [c.fields() for c in cases]
        assert all(float(r[-1]) > 0 for r in rows)


def test_example_sweep_dry_run(tmp_path):
    sweep = load_sweep(SWEEPS / "example.yaml")
    results = run_sweep(sweep, DryRunTimer(), tmp_path, gpu="h100_sxm", created=CREATED, reps=2)
    assert [r.family for r in results] == sweep.families()
    assert all(r.rows == len(sweep.cases(r.family)) for r in results)
    header, _, _ = read_family(tmp_path / "h100_sxm" / "vllm" / "gemm.csv.gz")
    assert header["repetitions"] == "2"  # --reps overrides the sweep


def test_fake_timer_output_is_deterministic(tmp_path):
    sweep = parse_sweep(SMALL, "small.yaml")
    a, b = tmp_path / "a", tmp_path / "b"
    run_sweep(sweep, FakeTimer(), a, gpu="test_gpu", created=CREATED)
    run_sweep(sweep, FakeTimer(), b, gpu="test_gpu", created=CREATED)
    ta, tb = tree(a), tree(b)
    assert ta == tb and len(ta) == 5


def test_fake_timer_golden_file(tmp_path):
    sweep = parse_sweep(SMALL.replace("repetitions: 3", "repetitions: 4"), "small.yaml")
    run_sweep(sweep, FakeTimer(skip={"fp8"}), tmp_path, gpu="test_gpu", created=CREATED, families=["gemm", "nccl"])
    import gzip

    gemm = gzip.decompress((tmp_path / LAYOUT["gemm"]).read_bytes()).decode()
    # Case i (from 1) runs i*1, i*2, ... ms/1000; warm-up 1, then 4 reps: median of i*(2,3,4,5) = 3.5 i.
    assert gemm == (
        "# servesim-calibration: 1\n"
        "# family: gemm\n"
        "# gpu: test_gpu\n"
        "# backend: sglang\n"
        "# backend_version: 0.5.0\n"
        "# cases: 4\n"
        f"# created: {CREATED}\n"
        "# device_name: Fake GPU\n"
        "# measured_on: gpu\n"
        "# repetitions: 4\n"
        "# skipped: 2\n"
        "# source: servesim-harness 0.1.0\n"
        "# statistic: median\n"
        "# sweep: small.yaml\n"
        "# timer: fake\n"
        "# warmup: 1\n"
        "dtype,m,n,k,latency_ms\n"
        "bf16,1,256,128,0.0035\n"
        "bf16,8,256,128,0.007\n"
    )
    nccl = gzip.decompress((tmp_path / LAYOUT["nccl"]).read_bytes()).decode()
    assert "# backend: nccl\n# backend_version: 2.99.1\n" in nccl
    assert "# serving_backend: sglang\n" in nccl
    assert nccl.endswith("op,dtype,num_gpus,message_elems,latency_ms\n"
                         "all_reduce,bf16,2,1024,0.0105\n"
                         "all_reduce,bf16,2,4096,0.014\n"
                         "all_reduce,bf16,4,1024,0.0175\n"
                         "all_reduce,bf16,4,4096,0.021\n"
                         "all_gather,bf16,2,1024,0.0245\n"
                         "all_gather,bf16,2,4096,0.028\n"
                         "all_gather,bf16,4,1024,0.0315\n"
                         "all_gather,bf16,4,4096,0.035\n")
    assert not (tmp_path / LAYOUT["p2p_copy"]).exists()


def test_family_with_every_case_skipped_writes_nothing(tmp_path, capsys):
    sweep = parse_sweep("gemm: {dtypes: [fp8], m: [1], nk: [[16, 16]]}\n", "s.yaml")
    assert run_sweep(sweep, FakeTimer(skip={"fp8"}), tmp_path, gpu="g", created=CREATED) == []
    assert not any(tmp_path.iterdir())
    assert "every case was skipped" in capsys.readouterr().err


def test_time_limit_stops_starting_cases(tmp_path, capsys):
    """Each case advances the fake clock by one second; with a limit of 2.5 s the third
    case is the last started, the rest are skipped and counted, and what was measured is
    written (a family reached after the limit writes nothing)."""
    sweep = parse_sweep(SMALL, "small.yaml")
    now = [0.0]
    timer = FakeTimer()
    prepare = timer.prepare

    def slow_prepare(family, case):
        now[0] += 1.0
        return prepare(family, case)

    timer.prepare = slow_prepare  # type: ignore[method-assign]
    results = run_sweep(
        sweep, timer, tmp_path, gpu="test_gpu", created=CREATED, time_limit=2.5, clock=lambda: now[0]
    )
    assert [r.family for r in results] == ["gemm"]
    assert len(timer.calls) == 3
    header, _, rows = read_family(tmp_path / LAYOUT["gemm"])
    assert [r[:-1] for r in rows] == [c.fields() for c in sweep.cases("gemm")[:3]]
    assert (header["cases"], header["skipped"], header["skipped_time_limit"]) == ("4", "1", "1")
    assert header["time_limit_s"] == "2.5"
    assert results[0].skipped[0][1] == "time limit (2.5 s) reached"
    err = capsys.readouterr().err
    assert "gemm: time limit (2.5 s) reached; 1 of 4 cases not run" in err
    assert "context_attention: every case was skipped; no file written" in err


def test_no_time_limit_key_without_a_limit(tmp_path):
    sweep = parse_sweep(SMALL, "small.yaml")
    run_sweep(sweep, FakeTimer(), tmp_path, gpu="test_gpu", created=CREATED, families=["gemm"])
    header, _, rows = read_family(tmp_path / LAYOUT["gemm"])
    assert "time_limit_s" not in header and "skipped_time_limit" not in header and len(rows) == 4
