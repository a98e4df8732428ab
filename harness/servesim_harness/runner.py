"""The pipeline: sweep -> cases -> timer -> medians -> one calibration file per family."""

from __future__ import annotations

import datetime as _dt
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from servesim_harness import HarnessError, __version__
from servesim_harness.calibfmt import write_family
from servesim_harness.families import backend_dir
from servesim_harness.sweep import GPU_NAME, Sweep
from servesim_harness.timers.base import CaseSkipped, Timer, median


@dataclass
class FamilyResult:
    family: str
    path: Path
    rows: int
    skipped: list[tuple[object, str]] = field(default_factory=list)


def utc_now_iso() -> str:
    """The current time, UTC, ISO 8601 to the second; ``SOURCE_DATE_EPOCH`` fixes it."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            t = _dt.datetime.fromtimestamp(int(epoch), tz=_dt.UTC)
        except ValueError:
            raise HarnessError(f"SOURCE_DATE_EPOCH={epoch!r} is not a number of seconds") from None
    else:
        t = _dt.datetime.now(tz=_dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def check_created(value: str) -> str:
    """Validates a ``--created`` timestamp (ISO 8601); returns it normalised to UTC."""
    try:
        t = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise HarnessError(f"--created {value!r} is not an ISO 8601 time such as 2025-01-31T12:00:00Z") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.UTC)
    return t.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def resolve_gpu(sweep: Sweep, override: str | None, timer: Timer) -> str:
    """The SKU folder name: ``--gpu``, else the sweep's ``gpu``, else what the timer
    recognises (``h100_sxm`` from an H100 SXM...)."""
    gpu = override or sweep.gpu or timer.detect_gpu()
    if not gpu:
        raise HarnessError(
            "no GPU SKU name: set `gpu:` in the sweep file or pass --gpu (e.g. h100_sxm)"
            + (" (the dry run cannot detect one)" if timer.measured_on != "gpu" else "")
        )
    if not GPU_NAME.match(gpu):
        raise HarnessError(f"--gpu {gpu!r} is not a valid SKU folder name (letters, digits, _ . -)")
    return gpu


def run_sweep(
    sweep: Sweep,
    timer: Timer,
    out: str | Path,
    *,
    gpu: str,
    created: str,
    reps: int | None = None,
    families: list[str] | None = None,
    log: TextIO | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    time_limit: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> list[FamilyResult]:
    """Times every case of the sweep (or of ``families``) and writes one file per family
    under ``out``.  Returns what was written.

    ``time_limit`` (seconds, read on ``clock``): once it has passed, no further case is
    started; the cases left are skipped ("time limit ... reached") and each family file
    holds what was measured before."""
    log = log if log is not None else sys.stderr
    deadline = None if time_limit is None else clock() + time_limit
    cut_reason = f"time limit ({time_limit:g} s) reached" if time_limit is not None else ""
    reps = reps or sweep.repetitions
    wanted = sweep.families() if families is None else [f for f in sweep.families() if f in families]
    common = {
        "source": f"servesim-harness {__version__}",
        "measured_on": timer.measured_on,
        "created": created,
        "repetitions": str(reps),
        "warmup": str(sweep.warmup),
        "statistic": "median",
        "sweep": Path(sweep.source_file).name if sweep.source_file else "unknown",
        **timer.metadata(),
    }
    timer.configure({f: getattr(sweep, f) for f in sweep.families()})
    if time_limit is not None:
        common["time_limit_s"] = f"{time_limit:g}"
    results = []
    for family in wanted:
        cases = sweep.cases(family)
        rows: list[tuple[list[str], float]] = []
        skipped: list[tuple[object, str]] = []
        done = 0
        if deadline is None or clock() < deadline:
            measured = timer.measure(family, cases, sweep.warmup, reps)
            for i, (case, res) in enumerate(measured, start=1):
                done = i
                if isinstance(res, CaseSkipped):
                    skipped.append((case, str(res)))
                    print(f"  skipped {family} {case}: {res}", file=log)
                else:
                    rows.append((case.fields(), median(res)))
                if progress is not None:
                    progress(family, i, len(cases))
                if deadline is not None and i < len(cases) and clock() >= deadline:
                    measured.close()  # type: ignore[attr-defined]
                    break
        cut = len(cases) - done
        if cut:
            skipped += [(case, cut_reason) for case in cases[done:]]
            print(f"{family}: {cut_reason}; {cut} of {len(cases)} cases not run", file=log)
        extra = dict(common)
        if family == "nccl":
            extra["backend_version"] = timer.family_metadata(family).get("nccl_version", "unknown")
            extra["serving_backend"] = sweep.backend
        elif sweep.backend_version:
            extra["backend_version"] = sweep.backend_version
        extra.update({k: v for k, v in timer.family_metadata(family).items() if k != "nccl_version"})
        extra["cases"] = str(len(cases))
        extra["skipped"] = str(len(skipped))
        if cut:
            extra["skipped_time_limit"] = str(cut)
        if not rows:
            print(f"{family}: every case was skipped; no file written", file=log)
            continue
        path = write_family(out, family, gpu, sweep.backend, extra, rows)
        results.append(FamilyResult(family, path, len(rows), skipped))
    return results


__all__ = ["FamilyResult", "backend_dir", "check_created", "resolve_gpu", "run_sweep", "utc_now_iso"]
