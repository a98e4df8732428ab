"""The GPU check behind ``harness/gpu_check.sh``: on a bare GPU machine, find or install
a CUDA build of PyTorch that the driver can run, time ``sweeps/h200-check.yaml`` under a
time limit into ``--out`` (the calibration format), record where the numbers came from,
compare them with the shipped tables, and (when a ``servesim`` binary is at hand)
import them and run ``servesim perf check`` on them.

Steps, each logged to ``<out>/gpu_check.log`` as well as the terminal:

1. GPU and driver: ``nvidia-smi`` gives the GPU, the driver and the newest CUDA the driver
   runs.
2. PyTorch (``--torch``): ``auto`` uses the running Python's torch when it is a CUDA build
   the driver supports and that sees the GPU, and otherwise installs one from PyPI into a
   virtualenv under ``--work``: the newest of ``PYPI_TORCH`` whose CUDA the driver runs
   (PyPI's Linux torch wheels bundle CUDA through ``nvidia-*`` packages), then checks it
   the same way.  ``system`` only uses the running Python's; ``pypi`` always installs.
3. The sweep: ``python -m servesim_harness run`` with ``--time-limit``, killed (SIGINT,
   then SIGKILL) if it overruns that by ``HARD_MARGIN_S``.
4. ``provenance.txt``: machine, driver, CUDA, torch and package versions, the sweep's and
   the harness's checksums, the repository commit when there is one, the steps' times.
5. ``compare.md`` and ``compare.csv`` (``servesim_harness.compare``).
6. ``servesim calibrate import OUT --out WORK/imported`` and ``servesim perf check`` on
   the imported tables (with the shipped tables' check beside it), when a binary is given
   (``--servesim``, ``$SERVESIM``, the repository's newest
   ``target/{release,debug}/servesim``, or ``servesim`` on the PATH); else a line saying how to do it later
   (``--post OUT`` where servesim is built).

``--dry-run``: the same steps on a CPU, with the harness's dry-run timer (numpy, no
torch), a canned ``nvidia-smi`` of an H200 unless ``--nvidia-smi`` names one, and no
torch install (the wheel it would pick is printed); the comparison must then match every
measured row (the sweep holds only shipped shapes).

Standard library only: this module runs under whatever Python the machine has, before
torch is there.  ``probe`` runs inside the Python that has (or should have) torch.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

HARNESS = Path(__file__).resolve().parent.parent
REPO = HARNESS.parent
DEFAULT_SWEEP = HARNESS / "sweeps" / "h200-check.yaml"


def default_sweep(sku: str | None) -> Path:
    """The check sweep made for the GPU `sku` from its shipped tables (`sweeps/h100-check.yaml`
    for `h100_sxm`), else the H200 one."""
    if sku:
        own = HARNESS / "sweeps" / f"{sku.split('_')[0]}-check.yaml"
        if own.is_file():
            return own
    return DEFAULT_SWEEP
FAKE_NVIDIA_SMI = HARNESS / "tests" / "data" / "fake-nvidia-smi"
DEFAULT_TIME_LIMIT_S = 360.0
#: A sweep still running this long after its time limit is interrupted.
HARD_MARGIN_S = 60.0
DEFAULT_INSTALL_TIMEOUT_S = 600.0
MIN_PYTHON = (3, 11)
#: Files this check writes at the top of --out (beside <gpu>/<backend>/<family>.csv.gz).
LOG_NAME, PROVENANCE_NAME, COMPARE_MD, COMPARE_CSV = "gpu_check.log", "provenance.txt", "compare.md", "compare.csv"
POST_LOG_NAME = "post_check.log"  # --post

#: CUDA builds of torch on PyPI, newest first: (the CUDA version the wheel bundles,
#: requirement).  Read from each wheel's metadata: torch 2.11 needs cuda-toolkit 13.0.2,
#: torch 2.8 to 2.10 nvidia-cuda-runtime-cu12 12.8.90, torch 2.7 12.6.77.  The driver
#: must run that CUDA version (nvidia-smi's "CUDA Version" at least as high).
PYPI_TORCH: tuple[tuple[tuple[int, int], str], ...] = (
    ((13, 0), "torch==2.11.*"),
    ((12, 8), "torch==2.10.*"),
    ((12, 6), "torch==2.7.*"),
)
#: Installed beside torch (the harness's own dependencies).
HARNESS_DEPS = ("numpy>=1.24", "pyyaml>=6")


class CheckError(Exception):
    """A step failed; the message says what and what to do.  Exit code 1."""


# ---------------------------------------------------------------------------------------
# Versions and the driver


def parse_version(text: str | None) -> tuple[int, int] | None:
    """``"12.8"`` -> (12, 8); ``"13.0.2"`` -> (13, 0); None when not a version."""
    if not text:
        return None
    m = re.match(r"^\s*(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def show_version(v: tuple[int, int]) -> str:
    return f"{v[0]}.{v[1]}"


@dataclass
class GpuInfo:
    """What ``nvidia-smi`` says."""

    driver: str | None
    cuda: str | None  # the newest CUDA version the driver runs
    names: list[str] = field(default_factory=list)
    memory: list[str] = field(default_factory=list)
    compute_cap: list[str] = field(default_factory=list)
    raw: str = ""
    details: str = ""  # nvidia-smi -q


def parse_nvidia_smi(summary: str, query: str = "") -> GpuInfo:
    """Reads plain ``nvidia-smi`` output (its banner has ``Driver Version: ...  CUDA
    Version: ...``) and ``nvidia-smi --query-gpu=name,memory.total,compute_cap
    --format=csv,noheader`` output (one GPU per line)."""
    driver = re.search(r"Driver Version:\s*([0-9][0-9.]*)", summary)
    cuda = re.search(r"CUDA Version:\s*([0-9][0-9.]*)", summary)
    info = GpuInfo(driver.group(1) if driver else None, cuda.group(1) if cuda else None, raw=summary)
    for line in query.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if not parts or not parts[0]:
            continue
        info.names.append(parts[0])
        info.memory.append(parts[1] if len(parts) > 1 else "")
        info.compute_cap.append(parts[2] if len(parts) > 2 else "")
    return info


def pypi_torch_for(driver_cuda: str | None) -> tuple[str, tuple[int, int]]:
    """The PyPI torch requirement for a driver that runs CUDA up to ``driver_cuda``, and
    the CUDA version that wheel bundles.  Raises :class:`CheckError` when none fits."""
    have = parse_version(driver_cuda)
    if have is None:
        raise CheckError(
            "cannot tell which CUDA version the driver runs (no 'CUDA Version' in nvidia-smi's output); "
            "pass --torch-spec, e.g. --torch-spec 'torch==2.10.*' (CUDA 12.8)"
        )
    for cuda, spec in PYPI_TORCH:
        if cuda <= have:
            return spec, cuda
    oldest = PYPI_TORCH[-1][0]
    raise CheckError(
        f"the driver runs CUDA up to {show_version(have)}, older than any torch wheel this check installs from PyPI "
        f"(CUDA {show_version(oldest)} or newer): update the NVIDIA driver, or install a torch built for CUDA "
        f"{show_version(have)} yourself and pass --torch system with that Python"
    )


def check_compat(torch_cuda: str | None, driver_cuda: str | None) -> tuple[bool, str]:
    """Whether a torch built for ``torch_cuda`` can run on a driver whose newest CUDA is
    ``driver_cuda``: (ok, why)."""
    t = parse_version(torch_cuda)
    if t is None:
        return False, "this torch is not a CUDA build (torch.version.cuda is None)"
    d = parse_version(driver_cuda)
    if d is None:
        return True, f"torch is built for CUDA {show_version(t)}; the driver's CUDA version is unknown"
    if t[0] > d[0]:
        return False, (
            f"torch is built for CUDA {show_version(t)}, but the driver runs CUDA up to {show_version(d)}: "
            "update the driver or use a torch built for an older CUDA"
        )
    if t > d:
        return True, (
            f"torch is built for CUDA {show_version(t)}, newer than the driver's {show_version(d)}: "
            "it relies on CUDA minor-version compatibility"
        )
    return True, f"torch is built for CUDA {show_version(t)}; the driver runs up to {show_version(d)}"


def gpu_sku(name: str) -> str | None:
    from servesim_harness.timers.cuda import gpu_sku_from_name  # no torch import

    return gpu_sku_from_name(name)


# ---------------------------------------------------------------------------------------
# The probe: runs inside the Python that holds (or should hold) torch


def probe() -> dict[str, Any]:
    """What a Python can offer the harness: its version, torch (CUDA build? sees a GPU?
    a bf16 matrix product runs?), numpy and PyYAML, and the versions of the packages that
    matter for timings."""
    from importlib import metadata

    out: dict[str, Any] = {
        "python": platform.python_version(),
        "executable": sys.executable,
        "python_ok": sys.version_info[:2] >= MIN_PYTHON,
    }
    for mod in ("numpy", "yaml"):
        try:
            __import__(mod)
            out[f"has_{mod}"] = True
        except Exception:  # noqa: BLE001 - any import failure means "not usable"
            out[f"has_{mod}"] = False
    packages = {}
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").lower()
        if name in ("torch", "triton", "numpy", "pyyaml", "flash-attn", "flash_attn") or name.startswith(("nvidia-", "cuda-")):
            packages[name] = dist.version
    out["packages"] = dict(sorted(packages.items()))
    try:
        import torch
    except Exception as e:  # noqa: BLE001
        out["torch"] = None
        out["torch_error"] = f"{type(e).__name__}: {e}"
        return out
    out["torch"] = torch.__version__
    out["torch_cuda"] = torch.version.cuda
    try:
        out["cudnn"] = str(torch.backends.cudnn.version())
    except Exception:  # noqa: BLE001
        out["cudnn"] = None
    out["cuda_available"] = bool(torch.cuda.is_available())
    if not out["cuda_available"]:
        return out
    out["device_count"] = torch.cuda.device_count()
    props = torch.cuda.get_device_properties(0)
    out["device_name"] = props.name
    out["compute_capability"] = f"{props.major}.{props.minor}"
    out["memory_gib"] = round(props.total_memory / 2**30, 1)
    try:
        out["nccl"] = ".".join(map(str, torch.cuda.nccl.version()))
    except Exception:  # noqa: BLE001
        out["nccl"] = None
    try:
        a = torch.randn(1024, 1024, device="cuda", dtype=torch.bfloat16)
        out["smoke"] = "ok" if torch.isfinite((a @ a).float().sum()).item() else "non-finite result"
        torch.cuda.synchronize()
    except Exception as e:  # noqa: BLE001
        out["smoke"] = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
    return out


def probe_problem(info: dict[str, Any], driver_cuda: str | None, dry_run: bool = False) -> str | None:
    """Why a probed Python cannot run the harness (None: it can)."""
    where = info.get("executable", "this Python")
    if "probe_error" in info:
        return f"cannot run {where}: {info['probe_error']}"
    if not info.get("python_ok"):
        return f"{where} is Python {info.get('python')}; the harness needs {show_version(MIN_PYTHON)} or newer"
    if dry_run:
        return None
    if info.get("torch") is None:
        return f"{where} has no torch ({info.get('torch_error', 'not installed')})"
    ok, why = check_compat(info.get("torch_cuda"), driver_cuda)
    if not ok:
        return f"torch {info['torch']} at {where}: {why}"
    if not info.get("cuda_available"):
        return f"torch {info['torch']} at {where} sees no CUDA GPU ({why})"
    if info.get("smoke") != "ok":
        return f"torch {info['torch']} at {where}: a bf16 matrix product on the GPU failed: {info.get('smoke')}"
    return None


def sweep_info(path: str, shipped: str, gpu: str | None) -> dict[str, Any]:
    """What the check needs to know of a sweep (run by the Python that has PyYAML): the
    GPU folder (``gpu``, else the sweep's), backend, case count, and the GPU time the
    shipped latencies imply."""
    from servesim_harness.compare import estimate_seconds
    from servesim_harness.sweep import SweepError, load_sweep

    try:
        sweep = load_sweep(path)
    except SweepError as e:
        return {"error": str(e)}
    out: dict[str, Any] = {"sweep_gpu": sweep.gpu, "gpu": gpu or sweep.gpu, "backend": sweep.backend,
                           "cases": sum(sweep.count().values())}
    if out["gpu"]:
        try:
            out["estimate_s"], out["estimate_missing"] = estimate_seconds(sweep, shipped, out["gpu"])
        except (OSError, ValueError) as e:
            out["estimate_error"] = str(e)
    return out


# ---------------------------------------------------------------------------------------
# Running commands, logging


class Log:
    """Writes to the terminal and to the log file."""

    def __init__(self, path: Path | None, stream: TextIO | None = None):
        self.stream = stream if stream is not None else sys.stdout
        self.file = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115

    def __call__(self, text: str = "") -> None:
        for s in (self.stream, self.file):
            if s is not None:
                s.write(text + "\n")
                s.flush()

    def close(self) -> None:
        if self.file:
            self.file.close()
            self.file = None


@dataclass
class Result:
    rc: int
    output: str
    timed_out: bool = False


def run_cmd(cmd: Sequence[str], log: Log, *, env: dict[str, str] | None = None, timeout: float | None = None,
            quiet: bool = False, interrupt_first: bool = False) -> Result:
    """Runs ``cmd``, copying its output (stdout and stderr together) line by line to the
    log unless ``quiet``.  Past ``timeout`` seconds: SIGINT first when
    ``interrupt_first`` (so the harness writes what it finished), SIGKILL 20 s later."""
    if not quiet:
        log(f"$ {' '.join(cmd)}")
    try:
        proc = subprocess.Popen(
            list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, env=env, bufsize=1, errors="replace",
        )
    except OSError as e:
        return Result(127, f"cannot run {cmd[0]}: {e.strerror or e}")
    lines: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if not quiet:
                log(line.rstrip("\n"))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        if interrupt_first:
            log(f"... still running after {timeout:.0f} s: interrupting")
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        if proc.poll() is None:
            log(f"... still running after {timeout:.0f} s: killing")
            proc.kill()
            proc.wait()
    reader.join(timeout=10)
    return Result(proc.returncode, "".join(lines), timed_out)


# ---------------------------------------------------------------------------------------
# The steps


def harness_env(extra_path: Sequence[Path] = ()) -> dict[str, str]:
    """The environment to run the harness from this checkout (no install needed)."""
    env = dict(os.environ)
    paths = [str(HARNESS), *map(str, extra_path)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def query_gpu(nvidia_smi: str, log: Log) -> GpuInfo:
    summary = run_cmd([nvidia_smi], log, timeout=30, quiet=True)
    if summary.rc != 0:
        raise CheckError(
            f"{nvidia_smi} failed (exit {summary.rc}): {summary.output.strip()[:300]}; "
            "is this a machine with an NVIDIA GPU and its driver? (--dry-run tests the check on a CPU)"
        )
    query = run_cmd([nvidia_smi, "--query-gpu=name,memory.total,compute_cap", "--format=csv,noheader"],
                    log, timeout=30, quiet=True)
    info = parse_nvidia_smi(summary.output, query.output if query.rc == 0 else "")
    if not info.names:
        # Older drivers lack compute_cap: ask for the name alone.
        q = run_cmd([nvidia_smi, "--query-gpu=name,memory.total", "--format=csv,noheader"], log, timeout=30, quiet=True)
        info = parse_nvidia_smi(summary.output, q.output if q.rc == 0 else "")
    if not info.names:
        raise CheckError(f"{nvidia_smi} lists no GPU")
    details = run_cmd([nvidia_smi, "-q"], log, timeout=30, quiet=True)  # clocks, power, ECC, MIG: provenance
    if details.rc == 0:
        info.details = details.output
    return info


def run_probe(python: str, log: Log, extra_path: Sequence[Path] = ()) -> dict[str, Any]:
    r = run_cmd([python, "-m", "servesim_harness.gpucheck", "probe"], log, env=harness_env(extra_path),
                timeout=300, quiet=True)
    last = r.output.strip().splitlines()[-1] if r.output.strip() else ""
    try:
        info = json.loads(last)
    except ValueError:
        return {"executable": python, "python_ok": False, "python": "unknown",
                "probe_error": f"exit {r.rc}: {r.output.strip()[-500:]}"}
    if not isinstance(info, dict):
        return {"executable": python, "python_ok": False, "python": "unknown", "probe_error": last[:200]}
    return info


def run_sweep_info(python: str, sweep: Path, shipped: str, gpu: str | None, log: Log,
                   extra_path: Sequence[Path] = ()) -> dict[str, Any]:
    cmd = [python, "-m", "servesim_harness.gpucheck", "sweep-info", str(sweep), shipped, gpu or ""]
    r = run_cmd(cmd, log, env=harness_env(extra_path), timeout=300, quiet=True)
    last = r.output.strip().splitlines()[-1] if r.output.strip() else ""
    try:
        info = json.loads(last)
    except ValueError:
        raise CheckError(f"reading the sweep {sweep} failed (exit {r.rc}): {r.output.strip()[-500:]}") from None
    if "error" in info:
        raise CheckError(info["error"])
    return info


def describe_probe(info: dict[str, Any]) -> str:
    parts = [f"Python {info.get('python')} ({info.get('executable')})"]
    if info.get("torch"):
        parts.append(f"torch {info['torch']} (CUDA {info.get('torch_cuda')}, cuDNN {info.get('cudnn')})")
        if info.get("cuda_available"):
            parts.append(f"{info.get('device_count')} GPU(s), {info.get('device_name')}, "
                         f"compute capability {info.get('compute_capability')}, matmul {info.get('smoke')}")
        else:
            parts.append("no CUDA GPU visible")
    elif "probe_error" in info:
        parts.append(f"probe failed: {info['probe_error']}")
    else:
        parts.append("no torch")
    return "; ".join(parts)


@dataclass
class TorchChoice:
    python: str
    info: dict[str, Any]
    source: str  # how torch got there
    extra_path: list[Path] = field(default_factory=list)


def make_env(python: str, work: Path, log: Log) -> tuple[str, list[Path]]:
    """A virtualenv under ``work`` (or, when venv is missing, a ``--target`` folder for
    the base Python's pip): (python to install with and run, extra PYTHONPATH)."""
    venv = work / "venv"
    vpy = venv / "bin" / "python"
    if vpy.exists():
        return str(vpy), []
    r = run_cmd([python, "-m", "venv", str(venv)], log, timeout=300)
    if r.rc == 0 and vpy.exists():
        return str(vpy), []
    log("cannot create a virtualenv (Debian/Ubuntu: apt-get install python3-venv); trying pip install --target")
    shutil.rmtree(venv, ignore_errors=True)
    if run_cmd([python, "-m", "pip", "--version"], log, timeout=60).rc != 0:
        raise CheckError(f"{python} can make no virtualenv and has no pip: install python3-venv or pip, or pass "
                         "--torch system with a Python that has a CUDA torch")
    return python, [work / "site"]


def pip_install(python: str, packages: Sequence[str], log: Log, *, target: Path | None, timeout: float) -> None:
    cmd = [python, "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off"]
    if target is not None:
        cmd += ["--target", str(target)]
    r = run_cmd([*cmd, *packages], log, timeout=timeout)
    if r.rc != 0:
        why = "timed out" if r.timed_out else f"exit {r.rc}"
        raise CheckError(
            f"pip install {' '.join(packages)} failed ({why}); see the log above. This machine needs PyPI "
            "(or PIP_INDEX_URL) for it; with no network, run with a Python that already has a CUDA torch "
            "(--torch system)"
        )


def ensure_torch(args: argparse.Namespace, gpu: GpuInfo, work: Path, log: Log) -> TorchChoice:
    """Finds or installs a CUDA torch the driver can run (see the module docs)."""
    base = args.python or sys.executable
    if args.torch in ("auto", "system"):
        info = run_probe(base, log)
        log(f"this Python: {describe_probe(info)}")
        problem = probe_problem(info, gpu.cuda)
        if problem is None:
            ok, why = check_compat(info.get("torch_cuda"), gpu.cuda)
            log(f"using it: {why}")
            return finish_deps(TorchChoice(base, info, f"already installed ({base})"), work, log, args)
        if args.torch == "system":
            raise CheckError(problem)
        log(f"not usable: {problem}")
    spec = args.torch_spec
    if spec:
        log(f"installing {spec} (--torch-spec) from PyPI")
    else:
        spec, cuda = pypi_torch_for(gpu.cuda)
        log(f"the driver runs CUDA up to {gpu.cuda}: installing {spec} (bundles CUDA {show_version(cuda)}) from PyPI")
    python, extra = make_env(base, work, log)
    target = extra[0] if extra else None
    pip_install(python, [spec, *HARNESS_DEPS], log, target=target, timeout=args.install_timeout)
    info = run_probe(python, log, extra)
    log(f"installed: {describe_probe(info)}")
    problem = probe_problem(info, gpu.cuda)
    if problem is not None:
        raise CheckError(f"the torch just installed cannot be used: {problem}")
    return TorchChoice(python, info, f"PyPI: {spec} into {target or Path(python).parent.parent}", extra)


def finish_deps(choice: TorchChoice, work: Path, log: Log, args: argparse.Namespace) -> TorchChoice:
    """numpy and PyYAML beside an existing torch: installed into ``work/site`` if missing."""
    missing = [dep for dep, mod in zip(HARNESS_DEPS, ("numpy", "yaml"), strict=True) if not choice.info.get(f"has_{mod}")]
    if missing:
        site = work / "site"
        log(f"{choice.python} lacks {', '.join(missing)}: installing into {site}")
        pip_install(choice.python, missing, log, target=site, timeout=args.install_timeout)
        choice.extra_path.append(site)
    return choice


def find_servesim(given: str | None) -> str | None:
    """``--servesim``, else ``$SERVESIM``, else this checkout's newest build
    (``target/{release,debug}/servesim``), else ``servesim`` on the PATH."""
    for cand in (given, os.environ.get("SERVESIM")):
        if cand:
            return cand
    built = [p for p in (REPO / "target" / prof / "servesim" for prof in ("release", "debug"))
             if p.is_file() and os.access(p, os.X_OK)]
    if built:
        return str(max(built, key=lambda p: p.stat().st_mtime))
    return shutil.which("servesim")


def calibration_files(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*/*/*.csv.gz") if p.is_file())


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def harness_digest() -> str:
    """sha256 over the harness package's source files (names and bytes): identifies the
    code that ran when the checkout has no git history."""
    h = hashlib.sha256()
    for p in sorted((HARNESS / "servesim_harness").rglob("*.py")):
        h.update(str(p.relative_to(HARNESS)).encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def git_commit() -> str:
    try:
        r = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if r.returncode == 0:
            dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=30)
            return r.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown (no git checkout here; see harness_sha256)"


def now_iso() -> str:
    return _dt.datetime.now(tz=_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_provenance(path: Path, fields: list[tuple[str, object]], gpu: GpuInfo | None, probe_info: dict[str, Any] | None) -> None:
    lines = ["# servesim GPU check: where these numbers come from", ""]
    for k, v in fields:
        lines.append(f"{k}: {v}")
    if probe_info:
        for k in ("python", "executable", "torch", "torch_cuda", "cudnn", "nccl", "device_name", "device_count",
                  "compute_capability", "memory_gib"):
            if k in probe_info:
                lines.append(f"torch_python.{k}: {probe_info[k]}")
        for name, version in (probe_info.get("packages") or {}).items():
            lines.append(f"package.{name}: {version}")
    if gpu is not None:
        lines += ["", "## nvidia-smi", "", gpu.raw.rstrip()]
        if gpu.details:
            lines += ["", "## nvidia-smi -q", "", gpu.details.rstrip()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def servesim_steps(servesim: str, run_dir: Path, work: Path, gpu: str, backend: str, log: Log) -> bool:
    """``calibrate import`` of the run into ``work/imported`` and ``perf check`` on it
    (and, for reference, on the shipped tables).  True when both ran."""
    imported = work / "imported"
    shutil.rmtree(imported, ignore_errors=True)
    r = run_cmd([servesim, "calibrate", "import", str(run_dir), "--out", str(imported)], log, timeout=300)
    if r.rc != 0:
        log(f"servesim calibrate import failed (exit {r.rc})")
        return False
    r = run_cmd([servesim, "perf", "check", "--gpu", gpu, "--backend", backend, "--calibration", str(imported)],
                log, timeout=600)
    if r.rc != 0:
        log(f"servesim perf check on the measured tables failed (exit {r.rc})")
        return False
    log("for reference, the shipped tables of the same GPU and backend:")
    run_cmd([servesim, "perf", "check", "--gpu", gpu, "--backend", backend], log, timeout=600)
    return True


def post_steps(run_dir: Path, report_dir: Path, gpu: str, backend: str, work: Path, args: argparse.Namespace,
               log: Log, timings: dict[str, float], require_match: bool) -> int:
    """The comparison and the servesim steps; returns the exit code they call for."""
    from servesim_harness.compare import compare, render_csv, render_markdown

    code = 0
    t = time.monotonic()
    log("\n==> compare with the shipped tables")
    try:
        cmp = compare(run_dir, args.shipped, gpu)
    except (OSError, ValueError) as e:
        raise CheckError(f"compare: {e}") from None
    md = render_markdown(cmp)
    (report_dir / COMPARE_MD).write_text(md, encoding="utf-8")
    (report_dir / COMPARE_CSV).write_text(render_csv(cmp), encoding="utf-8")
    log(md.rstrip())
    if not cmp.matches:
        log(f"no measured row has a shipped row in {args.shipped}/{gpu}")
        code = 1
    elif cmp.total_unmatched() and require_match:
        log(f"{cmp.total_unmatched()} measured rows have no shipped row: the sweep should hold only shipped shapes")
        code = 1
    timings["compare"] = time.monotonic() - t

    t = time.monotonic()
    log("\n==> servesim calibrate import and perf check")
    servesim = find_servesim(args.servesim)
    if servesim is None:
        log("no servesim binary here (--servesim, $SERVESIM, target/{release,debug}/servesim, PATH): skipped. "
            f"Where servesim is built: harness/gpu_check.sh --post {run_dir} --out DIR")
    elif not servesim_steps(servesim, run_dir, work, gpu, backend, log):
        code = 1
    timings["servesim"] = time.monotonic() - t
    return code


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="harness/gpu_check.sh",
        description="Check the harness on a GPU against the shipped tables: install torch if needed, "
        "time sweeps/h200-check.yaml under a time limit into --out, compare, import. See harness/README.md.",
    )
    p.add_argument("--out", metavar="DIR", help="output folder (default: $OUT, else out/gpu-check); must hold no calibration files yet")
    p.add_argument("--dry-run", action="store_true", help="on a CPU: numpy timer, canned nvidia-smi, no torch install")
    p.add_argument("--time-limit", type=float, default=DEFAULT_TIME_LIMIT_S, metavar="SECONDS",
                   help=f"start no case after this many seconds of the sweep (default {DEFAULT_TIME_LIMIT_S:g})")
    p.add_argument("--sweep", default=None, metavar="FILE",
                   help="sweep file (default: the GPU's own, sweeps/h100-check.yaml on an H100, else sweeps/h200-check.yaml)")
    p.add_argument("--gpu", metavar="SKU", help="SKU folder (default: recognised from nvidia-smi, else the sweep's)")
    p.add_argument("--reps", type=int, metavar="N", help="timed repetitions per case (default: the sweep's)")
    p.add_argument("--torch", choices=("auto", "system", "pypi"), default="auto",
                   help="auto: this Python's torch if usable, else install from PyPI (default); system: only this Python's; pypi: always install")
    p.add_argument("--torch-spec", metavar="REQ", help="pip requirement to install instead of the one picked for the driver")
    p.add_argument("--python", metavar="PY", help="the Python whose torch to try and that makes the virtualenv (default: this one)")
    p.add_argument("--install-timeout", type=float, default=DEFAULT_INSTALL_TIMEOUT_S, metavar="SECONDS")
    p.add_argument("--work", metavar="DIR", help="scratch folder: virtualenv, imported tables (default: $TMPDIR/servesim-gpu-check)")
    p.add_argument("--shipped", default=str(REPO / "data" / "calibration"), metavar="DIR", help="shipped tables to compare with")
    p.add_argument("--servesim", metavar="PATH", help="servesim binary for calibrate import and perf check")
    p.add_argument("--nvidia-smi", metavar="PATH", help="nvidia-smi to run (default: nvidia-smi; in a dry run a canned H200 one)")
    p.add_argument("--post", metavar="RUN_DIR",
                   help="only compare, import and check an existing run (e.g. one fetched from the GPU machine); reports go to --out (default RUN_DIR)")
    return p


def main(argv: Sequence[str] | None = None, stream: TextIO | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.time_limit > 0:
        print("gpu_check: --time-limit must be positive", file=sys.stderr)
        return 2
    work = Path(args.work or Path(tempfile.gettempdir()) / "servesim-gpu-check")
    work.mkdir(parents=True, exist_ok=True)

    if args.post:
        run_dir = Path(args.post)
        out = Path(args.out) if args.out else run_dir
        if not run_dir.is_dir():
            print(f"gpu_check: error: --post {run_dir}: no such folder", file=sys.stderr)
            return 2
        out.mkdir(parents=True, exist_ok=True)
        if not os.access(out, os.W_OK):
            print(f"gpu_check: error: cannot write reports into {out}: give --out DIR", file=sys.stderr)
            return 2
        log = Log(out / POST_LOG_NAME, stream)
        try:
            files = calibration_files(run_dir)
            if not files:
                raise CheckError(f"{run_dir}: no <gpu>/<backend>/<family>.csv.gz files")
            gpu = args.gpu or files[0].parts[-3]
            backend = next((p.parts[-2] for p in files if p.parts[-2] != "nccl"), "vllm")
            log(f"post-processing {run_dir} ({gpu}/{backend}); reports in {out}")
            return post_steps(run_dir, out, gpu, backend, work, args, log, {}, require_match=False)
        except CheckError as e:
            log(f"gpu_check: error: {e}")
            return 1
        finally:
            log.close()

    out = Path(args.out or os.environ.get("OUT") or REPO / "out" / "gpu-check")
    out.mkdir(parents=True, exist_ok=True)
    if calibration_files(out):
        print(f"gpu_check: error: {out} already holds calibration files; give an empty --out", file=sys.stderr)
        return 2
    log = Log(out / LOG_NAME, stream)
    timings: dict[str, float] = {}
    started = time.monotonic()
    gpu_info: GpuInfo | None = None
    choice: TorchChoice | None = None
    fields: list[tuple[str, object]] = [
        ("created", now_iso()),
        ("mode", "dry run (CPU, numpy timer; not GPU data)" if args.dry_run else "gpu"),
        ("command", " ".join(["harness/gpu_check.sh", *(argv if argv is not None else sys.argv[1:])])),
        ("repo_commit", git_commit()),
        ("harness_sha256", harness_digest()),
    ]
    try:
        if args.sweep is not None and not Path(args.sweep).is_file():
            raise CheckError(f"--sweep {args.sweep}: no such file")
        fields += [("time_limit_s", f"{args.time_limit:g}")]
        fields += [("host", platform.node()), ("platform", platform.platform()), ("cpus", os.cpu_count())]

        log("==> GPU and driver")
        t = time.monotonic()
        smi = args.nvidia_smi or (str(FAKE_NVIDIA_SMI) if args.dry_run else "nvidia-smi")
        if args.dry_run and not args.nvidia_smi:
            log(f"dry run: canned nvidia-smi output ({smi})")
        gpu_info = query_gpu(smi, log)
        for i, name in enumerate(gpu_info.names):
            log(f"GPU {i}: {name}, {gpu_info.memory[i]}, compute capability {gpu_info.compute_cap[i] or '?'}")
        log(f"driver {gpu_info.driver}, runs CUDA up to {gpu_info.cuda}")
        fields += [("nvidia_smi", smi + (" (canned output: not this machine)" if smi == str(FAKE_NVIDIA_SMI) else "")),
                   ("gpu", "; ".join(gpu_info.names)), ("gpu_memory", "; ".join(gpu_info.memory)),
                   ("driver", gpu_info.driver), ("driver_cuda", gpu_info.cuda)]
        timings["nvidia-smi"] = time.monotonic() - t
        named_sku = args.gpu or gpu_sku(gpu_info.names[0])
        sweep_path = Path(args.sweep) if args.sweep is not None else default_sweep(named_sku)
        fields += [("sweep", sweep_path), ("sweep_sha256", sha256_file(sweep_path))]
        if args.sweep is None:
            log(f"sweep: {sweep_path.relative_to(HARNESS)} (made for this GPU's shipped tables where one is)")

        log("\n==> PyTorch")
        t = time.monotonic()
        if args.dry_run:
            python = args.python or sys.executable
            info = run_probe(python, log)
            problem = probe_problem(info, gpu_info.cuda, dry_run=True)
            if problem is None and not (info.get("has_numpy") and info.get("has_yaml")):
                problem = f"{python} lacks numpy or PyYAML (pip install -r harness/requirements-dev.txt)"
            if problem:
                raise CheckError(problem)
            try:
                spec, cuda = pypi_torch_for(gpu_info.cuda)
                log(f"dry run: no torch needed; on this driver a GPU run without a usable torch would install {spec} "
                    f"(CUDA {show_version(cuda)}) from PyPI")
            except CheckError as e:
                log(f"dry run: a GPU run on this driver would stop here: {e}")
            choice = TorchChoice(python, info, "dry run: none")
        else:
            choice = ensure_torch(args, gpu_info, work, log)
        fields.append(("torch_source", choice.source))
        timings["torch"] = time.monotonic() - t

        log("\n==> sweep")
        # Read by the Python that runs the harness: this one may lack PyYAML.
        info = run_sweep_info(choice.python, sweep_path, args.shipped, named_sku, log,
                              choice.extra_path)
        sku, backend = info["gpu"], info["backend"]
        if not sku:
            raise CheckError(f"cannot tell the GPU's SKU from {gpu_info.names[0]!r} and the sweep names none: pass --gpu")
        if info.get("sweep_gpu") and sku != info["sweep_gpu"]:
            log(f"note: the sweep's shapes were picked from {info['sweep_gpu']}'s shipped tables; this GPU is {sku}")
        fields.append(("gpu_sku", sku))
        if "estimate_s" in info:
            log(f"{sweep_path.name}: {info['cases']} cases; about {info['estimate_s']:.0f} s on {sku} from the shipped latencies")
        t = time.monotonic()
        cmd = [choice.python, "-m", "servesim_harness", "run", str(sweep_path), "--out", str(out), "--gpu", sku,
               "--time-limit", f"{args.time_limit:g}"]
        if args.reps:
            cmd += ["--reps", str(args.reps)]
        if args.dry_run:
            cmd.append("--dry-run")
        r = run_cmd(cmd, log, env=harness_env(choice.extra_path), timeout=args.time_limit + HARD_MARGIN_S,
                    interrupt_first=True)
        timings["sweep"] = time.monotonic() - t
        written = calibration_files(out)
        fields.append(("sweep_exit", r.rc))
        if not written:
            raise CheckError(f"the sweep wrote nothing (exit {r.rc})")
        if r.rc != 0:
            log(f"the sweep exited {r.rc}; going on with the {len(written)} files it wrote")

        code = post_steps(out, out, sku, backend, work, args, log, timings, require_match=args.dry_run)
        if r.rc != 0:
            code = 1
        log(f"\n==> done in {time.monotonic() - started:.0f} s: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
        log(f"wrote {', '.join(str(p.relative_to(out)) for p in written)}, {PROVENANCE_NAME}, {COMPARE_MD}, {COMPARE_CSV}, "
            f"{LOG_NAME} in {out}")
        return code
    except CheckError as e:
        log(f"gpu_check: error: {e}")
        return 1
    except KeyboardInterrupt:
        log("gpu_check: interrupted")
        return 130
    finally:
        fields.append(("timings_s", ", ".join(f"{k} {v:.1f}" for k, v in timings.items())))
        write_provenance(out / PROVENANCE_NAME, fields, gpu_info, choice.info if choice else None)
        log.close()


if __name__ == "__main__":
    if sys.argv[1:2] == ["probe"]:
        print(json.dumps(probe()))
        sys.exit(0)
    if sys.argv[1:2] == ["sweep-info"] and len(sys.argv) == 5:
        print(json.dumps(sweep_info(sys.argv[2], sys.argv[3], sys.argv[4] or None)))
        sys.exit(0)
    sys.exit(main())
