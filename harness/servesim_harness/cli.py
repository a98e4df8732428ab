"""Command line: ``servesim-harness run SWEEP.yaml --out DIR`` and ``servesim-harness
validate SWEEP.yaml``.

Exit codes: 0 success; 1 the run failed (no GPU, cannot write...); 2 bad command line or
bad sweep file; 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from servesim_harness import HarnessError, __version__
from servesim_harness.families import FAMILIES
from servesim_harness.sweep import SweepError, load_sweep

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return v


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return v


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="servesim-harness",
        description="Time GPU kernels over the shapes of a sweep file and write them in "
        "servesim's calibration format (read back with `servesim calibrate import DIR`).",
    )
    p.add_argument("--version", action="version", version=f"servesim-harness {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="time every case of a sweep and write the calibration files")
    run.add_argument("sweep", metavar="SWEEP.yaml", help="sweep file (see harness/README.md)")
    run.add_argument("--out", required=True, metavar="DIR", help="output root: DIR/<gpu>/<backend>/<family>.csv.gz")
    run.add_argument("--dry-run", action="store_true", help="run on the CPU with numpy, no torch (rows marked cpu-dry-run)")
    run.add_argument("--gpu", metavar="SKU", help="SKU folder name (h100_sxm, h200_sxm...); overrides the sweep's `gpu`")
    run.add_argument("--reps", type=_positive_int, metavar="N", help="timed repetitions per case (overrides `repetitions`)")
    run.add_argument(
        "--families", metavar="LIST",
        help=f"comma-separated subset of the sweep's families to run ({', '.join(FAMILIES)})",
    )
    run.add_argument(
        "--time-limit", type=_positive_float, metavar="SECONDS",
        help="start no case after SECONDS; the cases left are skipped and what was measured is written",
    )
    run.add_argument("--created", metavar="ISO_TIME", help="the `# created:` time to write (default: now, or SOURCE_DATE_EPOCH)")
    run.add_argument("--device", type=int, default=0, metavar="N", help="CUDA device for single-GPU kernels (default 0)")
    run.add_argument("--no-graphs", action="store_true", help="time eager calls instead of CUDA-graph replays")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress lines")

    val = sub.add_parser("validate", help="check a sweep file and print how many cases it has")
    val.add_argument("sweep", metavar="SWEEP.yaml")
    return p


def _err(msg: str) -> None:
    print(f"servesim-harness: error: {msg}", file=sys.stderr)


def _sweep_error(e: SweepError) -> int:
    print(f"servesim-harness: error: invalid sweep file {e.file}", file=sys.stderr)
    for line in e.errors:
        print(f"{e.file}: {line}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "validate":
            return _validate(args)
        return _run(args)
    except SweepError as e:
        return _sweep_error(e)
    except HarnessError as e:
        _err(str(e))
        return EXIT_FAILED
    except KeyboardInterrupt:
        _err("interrupted; families already finished were written")
        return 130


def _validate(args: argparse.Namespace) -> int:
    sweep = load_sweep(args.sweep)
    counts = sweep.count()
    print(f"{args.sweep}: ok, {sum(counts.values())} cases")
    for fam, n in counts.items():
        print(f"  {fam}: {n}")
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from servesim_harness.runner import check_created, resolve_gpu, run_sweep, utc_now_iso

    sweep = load_sweep(args.sweep)
    families = None
    if args.families:
        families = [f.strip() for f in args.families.split(",") if f.strip()]
        bad = [f for f in families if f not in FAMILIES]
        if bad:
            _err(f"--families: unknown family {bad[0]!r} (expected: {', '.join(FAMILIES)})")
            return EXIT_USAGE
        absent = [f for f in families if f not in sweep.families()]
        if absent:
            _err(f"--families: the sweep has no `{absent[0]}` section")
            return EXIT_USAGE
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        _err(f"--out {out} exists and is not a folder")
        return EXIT_USAGE
    created = check_created(args.created) if args.created else utc_now_iso()

    if args.dry_run:
        from servesim_harness.timers.dry import DryRunTimer

        timer = DryRunTimer()
    else:
        from servesim_harness.timers.cuda import CudaTimer

        timer = CudaTimer(device=args.device, use_graphs=not args.no_graphs)
    try:
        gpu = resolve_gpu(sweep, args.gpu, timer)
        total = sum(len(sweep.cases(f)) for f in (families or sweep.families()))
        mode = "dry run (CPU, numpy)" if args.dry_run else "GPU"
        print(f"servesim-harness: {total} cases, {mode}, gpu {gpu}, backend {sweep.backend} -> {out}", file=sys.stderr)

        def progress(family: str, i: int, n: int) -> None:
            step = max(1, n // 10) if n >= 50 else n
            if not args.quiet and (i % step == 0 or i == n):
                print(f"  {family}: {i}/{n}", file=sys.stderr)

        try:
            results = run_sweep(
                sweep, timer, out, gpu=gpu, created=created, reps=args.reps, families=families,
                progress=progress, time_limit=args.time_limit,
            )
        except OSError as e:
            raise HarnessError(f"cannot write under {out}: {e.strerror or e}") from None
    finally:
        timer.close()
    for r in results:
        print(f"wrote {r.path} ({r.rows} rows, {len(r.skipped)} skipped)")
    if not results:
        _err("no case could be measured; nothing written")
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
