"""The command line: exit codes and messages."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from servesim_harness.calibfmt import read_family
from servesim_harness.cli import main

from conftest import HARNESS, SWEEPS

HAS_TORCH = importlib.util.find_spec("torch") is not None


def test_validate_ok(capsys):
    assert main(["validate", str(SWEEPS / "example.yaml")]) == 0
    out = capsys.readouterr().out
    assert "ok, 68 cases" in out and "gemm: 32" in out


def test_validate_bad_file(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("gemm: {dtypes: [bf16], m: [1, 2, 4, -4], nk: [[16, 16]]}\nbackend: torch\n")
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: gemm.m[3]: must be a positive integer, got -4" in err
    assert f"{bad}: backend: unknown backend 'torch'" in err
    assert "Traceback" not in err


def test_missing_sweep_file(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.yaml"), "--out", str(tmp_path), "--dry-run"]) == 2
    assert "nope.yaml: no such file" in capsys.readouterr().err


def test_yaml_syntax_error(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("gemm:\n  m: [1, 2\n")
    assert main(["validate", str(bad)]) == 2
    assert "YAML error" in capsys.readouterr().err


def test_dry_run(tmp_path, capsys):
    out = tmp_path / "calib"
    code = main(["run", str(SWEEPS / "example.yaml"), "--out", str(out), "--dry-run", "--reps", "2",
                 "--gpu", "my_gpu", "--created", "2025-01-31T13:00:00+01:00", "-q"])
    assert code == 0
    stdout = capsys.readouterr().out
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*.csv.gz"))
    assert files == [
        "my_gpu/nccl/nccl.csv.gz",
        "my_gpu/vllm/context_attention.csv.gz",
        "my_gpu/vllm/gemm.csv.gz",
        "my_gpu/vllm/generation_attention.csv.gz",
        "my_gpu/vllm/p2p_copy.csv.gz",
    ]
    assert stdout.count("wrote ") == 5
    header, _, _ = read_family(out / "my_gpu/vllm/gemm.csv.gz")
    assert header["created"] == "2025-01-31T12:00:00Z"
    assert header["measured_on"] == "cpu-dry-run"
    assert header["repetitions"] == "2"


def test_families_subset(tmp_path, capsys):
    assert main(["run", str(SWEEPS / "example.yaml"), "--out", str(tmp_path), "--dry-run", "--reps", "1",
                 "--families", "nccl,p2p_copy", "-q"]) == 0
    assert sorted(p.name for p in tmp_path.rglob("*.csv.gz")) == ["nccl.csv.gz", "p2p_copy.csv.gz"]
    assert main(["run", str(SWEEPS / "example.yaml"), "--out", str(tmp_path), "--dry-run", "--families", "gemmz"]) == 2
    assert "unknown family 'gemmz'" in capsys.readouterr().err


def test_gpu_name_needed(tmp_path, capsys):
    sweep = tmp_path / "s.yaml"
    sweep.write_text("gemm: {dtypes: [bf16], m: [1], nk: [[16, 16]]}\n")
    assert main(["run", str(sweep), "--out", str(tmp_path / "o"), "--dry-run"]) == 1
    assert "no GPU SKU name" in capsys.readouterr().err
    assert main(["run", str(sweep), "--out", str(tmp_path / "o"), "--dry-run", "--gpu", "a/b"]) == 1
    assert main(["run", str(sweep), "--out", str(tmp_path / "o"), "--dry-run", "--gpu", "x", "--created", "yesterday"]) == 1
    assert "--created 'yesterday' is not an ISO 8601 time" in capsys.readouterr().err


def test_out_must_be_a_folder(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("")
    assert main(["run", str(SWEEPS / "example.yaml"), "--out", str(f), "--dry-run"]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_time_limit_option(tmp_path, capsys):
    assert main(["run", str(SWEEPS / "example.yaml"), "--out", str(tmp_path), "--dry-run", "--reps", "1",
                 "--families", "gemm", "--time-limit", "600", "-q"]) == 0
    header, _, rows = read_family(tmp_path / "h100_sxm" / "vllm" / "gemm.csv.gz")
    assert header["time_limit_s"] == "600" and header["skipped"] == "0" and len(rows) == 32


@pytest.mark.parametrize("limit", ["0", "-1", "soon", "inf", "nan"])
def test_time_limit_must_be_positive(limit, capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", "x.yaml", "--out", "o", "--time-limit", limit])
    assert e.value.code == 2
    assert "--time-limit: must be a positive number" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["run"], ["run", "x.yaml"], ["bogus"], ["run", "x.yaml", "--out", "o", "--reps", "0"], []])
def test_usage_errors_exit_2(args):
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 2


@pytest.mark.skipif(HAS_TORCH, reason="torch is installed here")
def test_gpu_run_without_torch_says_so(tmp_path, capsys):
    assert main(["run", str(SWEEPS / "example.yaml"), "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "PyTorch is not installed" in err and "--dry-run" in err


def test_python_dash_m_entry_point(tmp_path):
    env = {**os.environ, "SOURCE_DATE_EPOCH": "0"}
    r = subprocess.run(
        [sys.executable, "-m", "servesim_harness", "run", str(SWEEPS / "example.yaml"), "--out", str(tmp_path),
         "--dry-run", "--reps", "1", "--families", "gemm", "-q"],
        capture_output=True, text=True, cwd=HARNESS, env=env, timeout=60,
    )
    assert r.returncode == 0, r.stderr
    header, _, _ = read_family(tmp_path / "h100_sxm" / "vllm" / "gemm.csv.gz")
    assert header["created"] == "1970-01-01T00:00:00Z"
    bad = subprocess.run([sys.executable, "-m", "servesim_harness", "validate", str(tmp_path / "none.yaml")],
                         capture_output=True, text=True, cwd=HARNESS, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
