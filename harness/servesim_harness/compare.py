"""Measured kernels against the shipped tables.

For every row of a harness run (``<run>/<gpu>/<backend>/<family>.csv.gz``) whose shape
has a row in a shipped table of the same GPU (``data/calibration/<gpu>/<backend>/``,
every backend there), the ratio ``measured / shipped`` latency; summarised per family,
shipped backend and dtype (GEMM dtype, attention KV dtype) by the median, p10, p90,
minimum and maximum of the ratios.  A shape matches only a row with every key column
equal (no interpolation): a run meant for this comparison times shapes the shipped
tables hold (``sweeps/h200-check.yaml``).

    python -m servesim_harness.compare run RUN_DIR [--shipped data/calibration] [--md F] [--csv F]
    python -m servesim_harness.compare estimate SWEEP.yaml --gpu h200_sxm

``estimate`` adds up, for every case of a sweep, the shipped latency of its shape times
the runs the harness makes of it, plus a fixed cost per case: what the sweep should take
on that GPU.

Standard library only (no numpy), so it runs with any Python >= 3.11.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import statistics
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from servesim_harness.calibfmt import read_family
from servesim_harness.families import COLUMNS

#: Runs of a case beyond warm-up and repetitions: three on a side stream before the
#: CUDA-graph capture, and the captured one (timers/cuda.py).
EXTRA_RUNS = 4
#: Fixed cost per case (allocating and filling inputs, capture, freeing), seconds; a
#: deliberately high guess for the estimate.
CASE_OVERHEAD_S = 0.25


def _key(fields: Sequence[str]) -> tuple[str | int, ...]:
    """A row's key fields, integers as integers (``0128`` and ``128`` are one shape)."""
    out: list[str | int] = []
    for f in fields:
        f = f.strip()
        out.append(int(f) if f.isdigit() else f)
    return tuple(out)


def group_of(family: str, key: tuple[str | int, ...]) -> str:
    """The sub-family a row is summarised in: the GEMM dtype, the attention KV dtype,
    the NCCL op."""
    if family == "gemm":
        return str(key[0])
    if family in ("context_attention", "generation_attention"):
        return f"kv {key[7]}" if key[6] == "bf16" else f"{key[6]} kv {key[7]}"
    if family == "nccl":
        return str(key[0])
    return "all"


def shape_text(family: str, key: tuple[str | int, ...]) -> str:
    """``m=8 n=5120 k=5120 dtype=bf16``-style text of a key."""
    cols = COLUMNS[family][:-1]
    return " ".join(f"{c}={v}" for c, v in zip(cols, key, strict=True))


@dataclass
class Table:
    """One calibration file: its header and latency (ms) by key."""

    path: Path
    header: dict[str, str]
    rows: dict[tuple[str | int, ...], float]


def read_table(path: str | Path) -> Table:
    """Reads a calibration file (duplicate keys keep the median of their latencies)."""
    header, columns, raw = read_family(path)
    family = header["family"]
    expected = COLUMNS.get(family)
    if expected is None:
        raise ValueError(f"{path}: family {family!r} is not one the harness compares")
    try:
        idx = [columns.index(c) for c in expected]
    except ValueError:
        raise ValueError(f"{path}: columns {columns} lack some of {expected}") from None
    values: dict[tuple[str | int, ...], list[float]] = defaultdict(list)
    for row in raw:
        fields = [row[i] for i in idx]
        values[_key(fields[:-1])].append(float(fields[-1]))
    return Table(Path(path), header, {k: statistics.median(v) for k, v in values.items()})


def family_files(root: str | Path, gpu: str | None = None) -> list[tuple[str, str, str, Path]]:
    """``(gpu, backend, family, path)`` of every ``<root>/<gpu>/<backend>/<family>.csv[.gz]``
    whose family the harness knows, by GPU, backend and family (in run order)."""
    out = []
    for g in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        if gpu is not None and g.name != gpu:
            continue
        for b in sorted(p for p in g.iterdir() if p.is_dir()):
            for f in sorted(b.iterdir()):
                name = f.name
                for suffix in (".csv.gz", ".csv"):
                    if name.endswith(suffix) and name[: -len(suffix)] in COLUMNS:
                        out.append((g.name, b.name, name[: -len(suffix)], f))
                        break
    order = list(COLUMNS)
    return sorted(out, key=lambda t: (t[0], t[1], order.index(t[2]), t[3].name))


class Shipped:
    """The shipped tables of one GPU, every backend, read on first use."""

    def __init__(self, root: str | Path, gpu: str):
        self.root = Path(root)
        self.gpu = gpu
        self._tables: dict[tuple[str, str], Table] = {}
        gdir = self.root / gpu
        self.files: dict[tuple[str, str], Path] = {}
        if gdir.is_dir():
            for _, backend, family, path in family_files(self.root, gpu):
                self.files.setdefault((backend, family), path)

    def backends(self, family: str) -> list[str]:
        """Backends with a table of ``family``, sorted."""
        return sorted(b for (b, f) in self.files if f == family)

    def table(self, backend: str, family: str) -> Table:
        if (backend, family) not in self._tables:
            self._tables[(backend, family)] = read_table(self.files[(backend, family)])
        return self._tables[(backend, family)]

    def lookup(self, family: str, key: tuple[str | int, ...]) -> dict[str, float]:
        """The shipped latency of one shape in each backend that has it."""
        out = {}
        for b in self.backends(family):
            v = self.table(b, family).rows.get(key)
            if v is not None:
                out[b] = v
        return out


@dataclass
class Match:
    family: str
    backend: str  # the shipped table's backend folder
    key: tuple[str | int, ...]
    measured_ms: float
    shipped_ms: float

    @property
    def ratio(self) -> float:
        return self.measured_ms / self.shipped_ms

    @property
    def group(self) -> str:
        return group_of(self.family, self.key)


@dataclass
class Stats:
    family: str
    backend: str
    group: str
    n: int  # rows matched in this backend
    measured: int  # rows measured in this family / group
    median: float
    p10: float
    p90: float
    min: float
    max: float


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile, linear between the closest ranks (numpy's default)."""
    if not values:
        raise ValueError("no values")
    xs = sorted(values)
    pos = q * (len(xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summarise(
    family: str, backend: str, group: str, ratios: Sequence[float], measured: int
) -> Stats:
    return Stats(
        family, backend, group, len(ratios), measured,
        statistics.median(ratios), quantile(ratios, 0.1), quantile(ratios, 0.9), min(ratios), max(ratios),
    )


@dataclass
class Comparison:
    run: Path
    shipped_root: Path
    gpus: list[str] = field(default_factory=list)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)  # family -> header
    measured: dict[str, list[tuple[str | int, ...]]] = field(default_factory=dict)
    matches: list[Match] = field(default_factory=list)
    unmatched: dict[str, list[tuple[str | int, ...]]] = field(default_factory=dict)

    def stats(self) -> list[Stats]:
        """Per family and shipped backend: every group, then ``all``."""
        out = []
        by: dict[tuple[str, str], list[Match]] = defaultdict(list)
        for m in self.matches:
            by[(m.family, m.backend)].append(m)
        for (family, backend), ms in sorted(by.items(), key=lambda kv: (list(COLUMNS).index(kv[0][0]), kv[0][1])):
            groups: dict[str, list[float]] = defaultdict(list)
            for m in ms:
                groups[m.group].append(m.ratio)
            counts: dict[str, int] = defaultdict(int)
            for key in self.measured[family]:
                counts[group_of(family, key)] += 1
            for g in sorted(groups):
                out.append(summarise(family, backend, g, groups[g], counts[g]))
            if len(groups) > 1:
                out.append(summarise(family, backend, "all", [m.ratio for m in ms], len(self.measured[family])))
        return out

    def total_unmatched(self) -> int:
        return sum(len(v) for v in self.unmatched.values())


def compare(run: str | Path, shipped_root: str | Path, gpu: str | None = None) -> Comparison:
    """Matches every row of the run's family files against the shipped tables of its GPU."""
    run = Path(run)
    files = family_files(run, gpu)
    if not files:
        where = f"{run}/{gpu}" if gpu else str(run)
        raise ValueError(f"{where}: no <gpu>/<backend>/<family>.csv.gz files (is it a harness --out folder?)")
    cmp = Comparison(run, Path(shipped_root))
    shipped_by_gpu: dict[str, Shipped] = {}
    for g, _backend, family, path in files:
        if family in cmp.measured:
            raise ValueError(f"{path}: a second {family} file in the run; compare one GPU and backend at a time")
        table = read_table(path)
        if g not in cmp.gpus:
            cmp.gpus.append(g)
        shipped = shipped_by_gpu.setdefault(g, Shipped(shipped_root, g))
        cmp.headers[family] = table.header
        cmp.measured[family] = list(table.rows)
        missing = []
        for key, ms in table.rows.items():
            found = shipped.lookup(family, key)
            if not found:
                missing.append(key)
            for b, shipped_ms in found.items():
                cmp.matches.append(Match(family, b, key, ms, shipped_ms))
        cmp.unmatched[family] = missing
    return cmp


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def render_markdown(cmp: Comparison) -> str:
    lines = [
        "# Measured kernels / shipped tables",
        "",
        f"- run: `{cmp.run}` (GPU folder: {', '.join(cmp.gpus)})",
        f"- shipped tables: `{cmp.shipped_root}`",
    ]
    any_header = next(iter(cmp.headers.values()), {})
    for k in ("measured_on", "device_name", "driver", "cuda", "torch", "created", "timer"):
        if k in any_header:
            lines.append(f"- {k}: {any_header[k]}")
    if any(h.get("measured_on") == "cpu-dry-run" for h in cmp.headers.values()):
        lines.append("- **dry run**: CPU proxy timings; the ratios only test the pipeline")
    for family, h in cmp.headers.items():
        extra = [f"{h.get('cases', '?')} cases", f"{h.get('skipped', '0')} skipped"]
        if "skipped_time_limit" in h:
            extra.append(f"{h['skipped_time_limit']} cut by the time limit")
        if "kernel" in h:
            extra.append(f"kernel: {h['kernel']}")
        lines.append(f"- {family}: {', '.join(extra)}")
    lines += [
        "",
        "Ratio = measured latency / shipped latency of the same shape (1.0: equal; above: the",
        "measured kernel is slower). Quantiles are linear between ranks.",
        "",
        "| family | shipped backend | group | rows matched / measured | median | p10 | p90 | min | max |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in cmp.stats():
        lines.append(
            f"| {s.family} | {s.backend} | {s.group} | {s.n} / {s.measured} | {_fmt(s.median)} | "
            f"{_fmt(s.p10)} | {_fmt(s.p90)} | {_fmt(s.min)} | {_fmt(s.max)} |"
        )
    lines.append("")
    total = cmp.total_unmatched()
    if total:
        lines.append(f"{total} measured rows have no shipped row of the same shape:")
        for family, keys in cmp.unmatched.items():
            for key in keys[:20]:
                lines.append(f"- {family}: {shape_text(family, key)}")
            if len(keys) > 20:
                lines.append(f"- {family}: ... and {len(keys) - 20} more")
    else:
        lines.append("Every measured row has a shipped row of the same shape.")
    return "\n".join(lines) + "\n"


def render_csv(cmp: Comparison) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["family", "shipped_backend", "group", "shape", "measured_ms", "shipped_ms", "ratio"])
    for m in cmp.matches:
        w.writerow([m.family, m.backend, m.group, shape_text(m.family, m.key), repr(m.measured_ms),
                    repr(m.shipped_ms), f"{m.ratio:.6g}"])
    return buf.getvalue()


def estimate_seconds(
    sweep, shipped_root: str | Path, gpu: str, *, overhead_s: float = CASE_OVERHEAD_S
) -> tuple[float, int]:
    """(seconds, cases without a shipped row) a GPU run of ``sweep`` should take on
    ``gpu``: per case, (warm-up + repetitions + capture runs) x the slowest shipped
    latency of its shape, plus ``overhead_s``.  Cases without a shipped row count the
    overhead only."""
    shipped = Shipped(shipped_root, gpu)
    total = 0.0
    missing = 0
    runs = sweep.warmup + sweep.repetitions + EXTRA_RUNS
    for family in sweep.families():
        for case in sweep.cases(family):
            found = shipped.lookup(family, _key(case.fields())) if shipped.backends(family) else {}
            if not found:
                missing += 1
            total += overhead_s + runs * max(found.values(), default=0.0) / 1000.0
    return total, missing


def _main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m servesim_harness.compare", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="compare a harness run with the shipped tables")
    r.add_argument("run_dir", metavar="RUN_DIR", help="a harness --out folder")
    r.add_argument("--shipped", default="data/calibration", metavar="DIR", help="shipped tables (default data/calibration)")
    r.add_argument("--gpu", help="compare only this GPU folder of the run")
    r.add_argument("--md", metavar="FILE", help="write the summary (Markdown) here too")
    r.add_argument("--csv", metavar="FILE", help="write every matched row here")
    r.add_argument("--require-match", action="store_true", help="exit 1 when a measured row has no shipped row")
    e = sub.add_parser("estimate", help="GPU time of a sweep from the shipped latencies")
    e.add_argument("sweep", metavar="SWEEP.yaml")
    e.add_argument("--shipped", default="data/calibration", metavar="DIR")
    e.add_argument("--gpu", help="GPU whose shipped tables to use (default: the sweep's gpu)")
    args = p.parse_args(argv)
    try:
        if args.command == "estimate":
            from servesim_harness.sweep import SweepError, load_sweep

            try:
                sweep = load_sweep(args.sweep)
            except SweepError as err:
                print(f"compare: {err}", file=sys.stderr)
                return 2
            gpu = args.gpu or sweep.gpu
            if not gpu:
                print("compare: give --gpu (the sweep names none)", file=sys.stderr)
                return 2
            secs, missing = estimate_seconds(sweep, args.shipped, gpu)
            n = sum(sweep.count().values())
            print(f"{args.sweep}: {n} cases, about {secs:.0f} s on {gpu} "
                  f"(shipped latencies x {sweep.warmup + sweep.repetitions + EXTRA_RUNS} runs + {CASE_OVERHEAD_S} s a case)"
                  + (f"; {missing} cases have no shipped row" if missing else ""))
            return 0
        cmp = compare(args.run_dir, args.shipped, args.gpu)
    except (OSError, ValueError) as err:
        print(f"compare: error: {err}", file=sys.stderr)
        return 1
    md = render_markdown(cmp)
    sys.stdout.write(md)
    if args.md:
        Path(args.md).write_text(md, encoding="utf-8")
    if args.csv:
        Path(args.csv).write_text(render_csv(cmp), encoding="utf-8")
    if not cmp.matches:
        print("compare: error: no measured row has a shipped row of the same shape", file=sys.stderr)
        return 1
    if args.require_match and cmp.total_unmatched():
        print(f"compare: error: {cmp.total_unmatched()} measured rows have no shipped row (--require-match)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main())
