"""gpu_check (servesim_harness.gpucheck): driver and wheel choice, finding or installing
torch, and whole runs of the check, in a dry run and on the GPU path with a stand-in for
torch (tests/data/fake_torch), against small shipped tables made here."""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from servesim_harness import gpucheck
from servesim_harness.calibfmt import read_family, write_family
from servesim_harness.gpucheck import (
    FAKE_NVIDIA_SMI,
    CheckError,
    GpuInfo,
    Log,
    check_compat,
    ensure_torch,
    main,
    parse_nvidia_smi,
    probe_problem,
    pypi_torch_for,
    run_cmd,
)

from conftest import HARNESS

FAKE_TORCH = HARNESS / "tests" / "data" / "fake_torch"

SWEEP = """\
gpu: h200_sxm
backend: vllm
repetitions: 3
warmup: 1
gemm:
  - {dtypes: [bf16, fp8], nk: [[64, 32]], m: [1, 8]}
generation_attention:
  - {batch: [2], kv_len: [128], heads: [[8, 1]], head_dim: [64]}
"""

GOOD_TORCH = {
    "python": "3.12.3", "executable": "/opt/py", "python_ok": True, "has_numpy": True, "has_yaml": True,
    "torch": "2.11.0+cu130", "torch_cuda": "13.0", "cudnn": "91002", "cuda_available": True,
    "device_count": 1, "device_name": "NVIDIA H200", "compute_capability": "9.0", "smoke": "ok", "packages": {},
}


@pytest.fixture
def setup(tmp_path: Path):
    """A small sweep, shipped tables holding its shapes (all but gemm fp8 m=8), a fake
    servesim that records its calls, and folders."""
    sweep = tmp_path / "check.yaml"
    sweep.write_text(SWEEP)
    shipped = tmp_path / "shipped"
    write_family(shipped, "gemm", "h200_sxm", "vllm", {}, [
        (["bf16", "1", "64", "32"], 0.01), (["bf16", "8", "64", "32"], 0.02), (["fp8", "1", "64", "32"], 0.01),
    ])
    write_family(shipped, "generation_attention", "h200_sxm", "vllm", {},
                 [(["2", "128", "8", "1", "64", "0", "bf16", "bf16"], 0.01)])
    calls = tmp_path / "servesim-calls"
    servesim = tmp_path / "servesim"
    servesim.write_text(f'#!/bin/sh\necho "$@" >> {calls}\necho "fake servesim: $1 $2"\n')
    servesim.chmod(0o755)
    return argparse.Namespace(
        sweep=sweep, shipped=shipped, servesim=servesim, calls=calls, out=tmp_path / "out", work=tmp_path / "work"
    )


def args_for(s, *more: str) -> list[str]:
    return ["--out", str(s.out), "--work", str(s.work), "--sweep", str(s.sweep), "--shipped", str(s.shipped),
            "--servesim", str(s.servesim), *more]


# -- the driver and the wheel ----------------------------------------------------------


def test_parse_the_canned_nvidia_smi():
    summary = subprocess.run([str(FAKE_NVIDIA_SMI)], capture_output=True, text=True, check=True).stdout
    query = subprocess.run([str(FAKE_NVIDIA_SMI), "--query-gpu=name,memory.total,compute_cap", "--format=csv,noheader"],
                           capture_output=True, text=True, check=True).stdout
    info = parse_nvidia_smi(summary, query)
    assert (info.driver, info.cuda, info.names, info.memory, info.compute_cap) == (
        "580.159.03", "13.0", ["NVIDIA H200"], ["143771 MiB"], ["9.0"])
    assert parse_nvidia_smi("no banner", "").cuda is None


@pytest.mark.parametrize("cuda, spec", [
    ("13.0", "torch==2.11.*"), ("13.2", "torch==2.11.*"), ("12.9", "torch==2.10.*"),
    ("12.8", "torch==2.10.*"), ("12.6", "torch==2.7.*"),
])
def test_pypi_wheel_for_the_driver(cuda, spec):
    assert pypi_torch_for(cuda)[0] == spec


def test_a_driver_too_old_for_pypi_wheels_is_a_clear_error():
    with pytest.raises(CheckError, match=r"runs CUDA up to 12.4, older than any torch wheel .*update the NVIDIA driver"):
        pypi_torch_for("12.4")
    with pytest.raises(CheckError, match="pass --torch-spec"):
        pypi_torch_for(None)


@pytest.mark.parametrize("torch_cuda, driver_cuda, ok, why", [
    ("12.8", "13.0", True, "driver runs up to 13.0"),
    ("13.0", "13.0", True, "driver runs up to 13.0"),
    ("12.8", "12.4", True, "minor-version compatibility"),
    ("13.0", "12.8", False, "update the driver"),
    (None, "13.0", False, "not a CUDA build"),
    ("12.8", None, True, "unknown"),
])
def test_torch_against_driver(torch_cuda, driver_cuda, ok, why):
    got, text = check_compat(torch_cuda, driver_cuda)
    assert got is ok and why in text


def test_probe_problems():
    assert probe_problem(GOOD_TORCH, "13.0") is None
    assert "sees no CUDA GPU" in probe_problem({**GOOD_TORCH, "cuda_available": False}, "13.0")
    assert "driver runs CUDA up to 12.8" in probe_problem(GOOD_TORCH, "12.8")
    assert "has no torch" in probe_problem({**GOOD_TORCH, "torch": None}, "13.0")
    assert "matrix product on the GPU failed: RuntimeError" in probe_problem({**GOOD_TORCH, "smoke": "RuntimeError: x"}, "13.0")
    assert "needs 3.11 or newer" in probe_problem({**GOOD_TORCH, "python_ok": False, "python": "3.10.2"}, "13.0")
    # A dry run only needs a recent Python.
    assert probe_problem({**GOOD_TORCH, "torch": None}, "13.0", dry_run=True) is None
    assert probe_problem({"executable": "/x/python", "probe_error": "exit 1: SyntaxError"}, "13.0") == (
        "cannot run /x/python: exit 1: SyntaxError")


def test_probe_runs_without_torch_here():
    r = subprocess.run([sys.executable, "-m", "servesim_harness.gpucheck", "probe"], capture_output=True, text=True,
                       cwd=HARNESS, env={**os.environ, "PYTHONPATH": str(HARNESS)}, timeout=120)
    assert r.returncode == 0, r.stderr
    import json

    info = json.loads(r.stdout.strip().splitlines()[-1])
    assert info["python_ok"] and info["has_numpy"] and info["has_yaml"]


# -- finding or installing torch -------------------------------------------------------


class Recorder:
    """Stands in for run_probe and run_cmd: probes answer from a list, commands are
    recorded (a venv command makes the venv's python)."""

    def __init__(self, probes):
        self.probes = list(probes)
        self.cmds: list[list[str]] = []

    def probe(self, python, log, extra_path=()):
        return {**self.probes.pop(0), "executable": python}

    def run(self, cmd, log, **kw):
        self.cmds.append(list(cmd))
        if cmd[1:3] == ["-m", "venv"]:
            py = Path(cmd[3]) / "bin" / "python"
            py.parent.mkdir(parents=True)
            py.write_text("")
        return gpucheck.Result(0, "")


def torch_args(mode="auto", spec=None):
    return argparse.Namespace(torch=mode, torch_spec=spec, python="/base/python3", install_timeout=10)


H200_DRIVER = GpuInfo("580.159.03", "13.0", ["NVIDIA H200"])


def test_a_usable_torch_is_used_as_it_is(monkeypatch, tmp_path):
    rec = Recorder([GOOD_TORCH])
    monkeypatch.setattr(gpucheck, "run_probe", rec.probe)
    monkeypatch.setattr(gpucheck, "run_cmd", rec.run)
    choice = ensure_torch(torch_args(), H200_DRIVER, tmp_path, Log(None, io.StringIO()))
    assert choice.python == "/base/python3" and choice.source.startswith("already installed")
    assert rec.cmds == []  # nothing installed


def test_missing_numpy_beside_a_usable_torch_goes_to_a_site_folder(monkeypatch, tmp_path):
    rec = Recorder([{**GOOD_TORCH, "has_yaml": False}])
    monkeypatch.setattr(gpucheck, "run_probe", rec.probe)
    monkeypatch.setattr(gpucheck, "run_cmd", rec.run)
    choice = ensure_torch(torch_args(), H200_DRIVER, tmp_path, Log(None, io.StringIO()))
    assert rec.cmds == [["/base/python3", "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off",
                         "--target", str(tmp_path / "site"), "pyyaml>=6"]]
    assert choice.extra_path == [tmp_path / "site"]


def test_a_torch_too_new_for_the_driver_is_replaced_from_pypi(monkeypatch, tmp_path):
    """auto: the running Python's torch is built for CUDA 13.0 but the driver runs 12.8,
    so torch 2.10 (CUDA 12.8) is installed into a virtualenv and checked."""
    rec = Recorder([GOOD_TORCH, {**GOOD_TORCH, "torch": "2.10.0", "torch_cuda": "12.8"}])
    monkeypatch.setattr(gpucheck, "run_probe", rec.probe)
    monkeypatch.setattr(gpucheck, "run_cmd", rec.run)
    out = io.StringIO()
    choice = ensure_torch(torch_args(), GpuInfo("570.86", "12.8", ["NVIDIA H200"]), tmp_path, Log(None, out))
    venv_py = str(tmp_path / "venv" / "bin" / "python")
    assert rec.cmds == [
        ["/base/python3", "-m", "venv", str(tmp_path / "venv")],
        [venv_py, "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off",
         "torch==2.10.*", "numpy>=1.24", "pyyaml>=6"],
    ]
    assert choice.python == venv_py and choice.source.startswith("PyPI: torch==2.10.*")
    assert "not usable: torch 2.11.0+cu130" in out.getvalue()


def test_system_mode_never_installs(monkeypatch, tmp_path):
    rec = Recorder([{**GOOD_TORCH, "torch": None, "torch_error": "ModuleNotFoundError: No module named 'torch'"}])
    monkeypatch.setattr(gpucheck, "run_probe", rec.probe)
    monkeypatch.setattr(gpucheck, "run_cmd", rec.run)
    with pytest.raises(CheckError, match="has no torch"):
        ensure_torch(torch_args("system"), H200_DRIVER, tmp_path, Log(None, io.StringIO()))
    assert rec.cmds == []


def test_an_installed_torch_that_fails_is_reported(monkeypatch, tmp_path):
    rec = Recorder([{**GOOD_TORCH, "cuda_available": False}])
    monkeypatch.setattr(gpucheck, "run_probe", rec.probe)
    monkeypatch.setattr(gpucheck, "run_cmd", rec.run)
    with pytest.raises(CheckError, match="the torch just installed cannot be used: .*sees no CUDA GPU"):
        ensure_torch(torch_args("pypi", "torch==2.11.0"), H200_DRIVER, tmp_path, Log(None, io.StringIO()))
    assert rec.cmds[1][-3:] == ["torch==2.11.0", "numpy>=1.24", "pyyaml>=6"]


def test_a_failed_pip_install_says_why(monkeypatch, tmp_path):
    rec = Recorder([])
    monkeypatch.setattr(gpucheck, "run_probe", rec.probe)

    def run(cmd, log, **kw):
        rec.run(cmd, log, **kw)
        return gpucheck.Result(1 if "pip" in cmd else 0, "")

    monkeypatch.setattr(gpucheck, "run_cmd", run)
    with pytest.raises(CheckError, match=r"pip install torch==2.11.\* numpy>=1.24 pyyaml>=6 failed \(exit 1\).*--torch system"):
        ensure_torch(torch_args("pypi"), H200_DRIVER, tmp_path, Log(None, io.StringIO()))


def test_run_cmd_interrupts_then_kills_past_its_timeout():
    code = "import signal, sys, time\nprint('started', flush=True)\ntry:\n    time.sleep(30)\nexcept KeyboardInterrupt:\n    print('interrupted', flush=True)\n    sys.exit(130)\n"
    out = io.StringIO()
    r = run_cmd([sys.executable, "-c", code], Log(None, out), timeout=1.0, interrupt_first=True)
    assert (r.rc, r.timed_out) == (130, True)
    assert r.output == "started\ninterrupted\n"
    assert "still running after 1 s: interrupting" in out.getvalue()
    assert run_cmd(["/no/such/program"], Log(None, io.StringIO())).rc == 127


# -- whole runs ------------------------------------------------------------------------


def test_dry_run(setup):
    out = io.StringIO()
    assert main(args_for(setup, "--dry-run"), stream=out) == 1  # gemm fp8 m=8 has no shipped row
    log = out.getvalue()
    assert "1 measured rows have no shipped row: the sweep should hold only shipped shapes" in log
    assert "would install torch==2.11.* (CUDA 13.0) from PyPI" in log
    files = sorted(str(p.relative_to(setup.out)) for p in setup.out.rglob("*") if p.is_file())
    assert files == [
        "compare.csv", "compare.md", "gpu_check.log", "h200_sxm/vllm/gemm.csv.gz",
        "h200_sxm/vllm/generation_attention.csv.gz", "provenance.txt",
    ]
    assert (setup.out / "gpu_check.log").read_text() == log
    header, _, rows = read_family(setup.out / "h200_sxm/vllm/gemm.csv.gz")
    assert header["measured_on"] == "cpu-dry-run" and len(rows) == 4 and header["time_limit_s"] == "360"
    prov = (setup.out / "provenance.txt").read_text()
    assert "mode: dry run (CPU, numpy timer; not GPU data)" in prov
    assert "(canned output: not this machine)" in prov
    assert "driver: 580.159.03" in prov and "driver_cuda: 13.0" in prov and "gpu_sku: h200_sxm" in prov
    assert f"sweep: {setup.sweep}" in prov and "harness_sha256: " in prov
    assert "| gemm | vllm | bf16 | 2 / 2 |" in (setup.out / "compare.md").read_text()
    calls = setup.calls.read_text().splitlines()
    assert calls == [
        f"calibrate import {setup.out} --out {setup.work}/imported",
        f"perf check --gpu h200_sxm --backend vllm --calibration {setup.work}/imported",
        "perf check --gpu h200_sxm --backend vllm",
    ]


def test_dry_run_of_shipped_shapes_passes(setup):
    setup.sweep.write_text(SWEEP.replace("m: [1, 8]", "m: [1]").replace("[bf16, fp8]", "[bf16]"))
    assert main(args_for(setup, "--dry-run"), stream=io.StringIO()) == 0


def test_gpu_path_with_a_torch_stand_in(setup, monkeypatch):
    """Not a dry run: the CUDA timer runs in a subprocess against tests/data/fake_torch
    (every interval 0.25 ms), as it would against torch on a GPU."""
    monkeypatch.setenv("PYTHONPATH", str(FAKE_TORCH))
    out = io.StringIO()
    code = main(args_for(setup, "--nvidia-smi", str(FAKE_NVIDIA_SMI), "--torch", "system"), stream=out)
    log = out.getvalue()
    assert code == 0, log
    assert "torch 2.11.0+fake (CUDA 13.0, cuDNN 91002); 1 GPU(s), Stand-in H200 (fake torch)" in log
    header, _, rows = read_family(setup.out / "h200_sxm/vllm/gemm.csv.gz")
    assert header["measured_on"] == "gpu" and header["torch"] == "2.11.0+fake"
    assert {r[-1] for r in rows} == {"0.25"}
    prov = (setup.out / "provenance.txt").read_text()
    assert "mode: gpu" in prov and "torch_source: already installed" in prov
    assert "torch_python.device_name: Stand-in H200 (fake torch)" in prov


def test_the_time_limit_reaches_the_sweep(setup):
    out = io.StringIO()
    # 2000 repetitions of a case take well over the 1 ms limit: the first case runs, no other.
    main(args_for(setup, "--dry-run", "--time-limit", "0.001", "--reps", "2000"), stream=out)
    header, _, rows = read_family(setup.out / "h200_sxm/vllm/gemm.csv.gz")
    assert len(rows) == 1 and header["skipped_time_limit"] == "3"
    assert not (setup.out / "h200_sxm/vllm/generation_attention.csv.gz").exists()
    assert "- gemm: 4 cases, 3 skipped, 3 cut by the time limit" in (setup.out / "compare.md").read_text()


def test_no_gpu_is_a_clear_error(setup, tmp_path):
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.'\nexit 9\n")
    smi.chmod(0o755)
    out = io.StringIO()
    assert main(args_for(setup, "--nvidia-smi", str(smi)), stream=out) == 1
    assert "exit 9): NVIDIA-SMI has failed" in out.getvalue() and "--dry-run tests the check on a CPU" in out.getvalue()
    assert "mode: gpu" in (setup.out / "provenance.txt").read_text()


def test_an_old_driver_and_no_torch(setup, tmp_path, monkeypatch):
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\nif [ -z \"$1\" ]; then echo '| NVIDIA-SMI 535.54  Driver Version: 535.54  CUDA Version: 12.2 |'; "
                   "else echo 'NVIDIA H100 80GB HBM3, 81559 MiB, 9.0'; fi\n")
    smi.chmod(0o755)
    monkeypatch.setattr(gpucheck, "run_probe", lambda py, log, extra=(): {**GOOD_TORCH, "torch": None, "executable": py})
    out = io.StringIO()
    assert main(args_for(setup, "--nvidia-smi", str(smi)), stream=out) == 1
    log = out.getvalue()
    assert "the driver runs CUDA up to 12.2, older than any torch wheel" in log
    assert "==> sweep" not in log

    # A dry run goes on, and notes that this GPU is not the one the sweep was made for.
    shutil.rmtree(setup.out)
    out = io.StringIO()
    monkeypatch.undo()
    assert main(args_for(setup, "--nvidia-smi", str(smi), "--dry-run"), stream=out) == 1  # no h100 tables here
    log = out.getvalue()
    assert "a GPU run on this driver would stop here: the driver runs CUDA up to 12.2" in log
    assert "note: the sweep's shapes were picked from h200_sxm's shipped tables; this GPU is h100_sxm" in log
    assert "no measured row has a shipped row in" in log


def test_out_must_hold_no_calibration_yet(setup, capsys):
    write_family(setup.out, "gemm", "h200_sxm", "vllm", {}, [(["bf16", "1", "64", "32"], 0.01)])
    assert main(args_for(setup, "--dry-run"), stream=io.StringIO()) == 2
    assert "already holds calibration files" in capsys.readouterr().err


def test_post_processes_a_fetched_run(setup, tmp_path):
    setup.sweep.write_text(SWEEP.replace("m: [1, 8]", "m: [1]").replace("[bf16, fp8]", "[bf16]"))
    assert main(args_for(setup, "--dry-run"), stream=io.StringIO()) == 0
    fetched = tmp_path / "fetched"
    fetched.mkdir()
    (fetched / "h200_sxm").symlink_to(setup.out / "h200_sxm")
    setup.calls.unlink()
    reports = tmp_path / "reports"
    code = main(["--post", str(fetched), "--out", str(reports), "--work", str(setup.work), "--shipped", str(setup.shipped),
                 "--servesim", str(setup.servesim)], stream=io.StringIO())
    assert code == 0
    assert sorted(p.name for p in reports.iterdir()) == ["compare.csv", "compare.md", "post_check.log"]
    assert setup.calls.read_text().splitlines()[0] == f"calibrate import {fetched} --out {setup.work}/imported"
    assert main(["--post", str(tmp_path / "nothing")], stream=io.StringIO()) == 2


def test_the_shell_wrapper_finds_a_python(setup):
    env = {**os.environ, "GPU_CHECK_PYTHON": sys.executable}
    r = subprocess.run([str(HARNESS / "gpu_check.sh"), "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0 and "--time-limit" in r.stdout and "--dry-run" in r.stdout
    r = subprocess.run([str(HARNESS / "gpu_check.sh"), "--time-limit", "0"], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2 and "--time-limit must be positive" in r.stderr


def test_without_servesim_the_log_says_how_to_finish(setup, monkeypatch):
    setup.sweep.write_text(SWEEP.replace("m: [1, 8]", "m: [1]").replace("[bf16, fp8]", "[bf16]"))
    monkeypatch.setattr(gpucheck, "find_servesim", lambda given: None)
    out = io.StringIO()
    assert main(args_for(setup, "--dry-run"), stream=out) == 0
    assert f"no servesim binary here (--servesim, $SERVESIM, target/{{release,debug}}/servesim, PATH): skipped. " \
           f"Where servesim is built: harness/gpu_check.sh --post {setup.out} --out DIR" in out.getvalue()


def test_the_default_sweep_is_the_gpus_own_where_one_is():
    from servesim_harness.gpucheck import DEFAULT_SWEEP, default_sweep

    assert default_sweep("h100_sxm").name == "h100-check.yaml"
    assert default_sweep("h200_sxm") == DEFAULT_SWEEP
    # GPUs without a check sweep of their own, or not recognised, take the H200 one.
    assert default_sweep("b200_sxm") == DEFAULT_SWEEP
    assert default_sweep(None) == DEFAULT_SWEEP
