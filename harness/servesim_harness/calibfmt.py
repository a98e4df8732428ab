"""Writing (and, for tests and checks, reading) the servesim calibration format v1.

``<out>/<gpu>/<backend>/<family>.csv.gz``: gzip CSV, ``# key: value`` comment lines (the
required keys ``servesim-calibration``, ``family``, ``gpu``, ``backend`` first, then the
others sorted by key), a header row, one row per measured case, latency in milliseconds
last.  The bytes depend only on the inputs (gzip mtime 0, no file name), and numbers are
written the way servesim's own writer writes them, so a file read and rewritten by
servesim comes out the same.
"""

from __future__ import annotations

import gzip
import io
import math
from decimal import Decimal
from pathlib import Path

from servesim_harness.families import COLUMNS, backend_dir

FORMAT_VERSION = 1
REQUIRED_KEYS = ("servesim-calibration", "family", "gpu", "backend")
LATENCY_DIGITS = 6


def format_latency(ms: float) -> str:
    """A latency in ms, rounded to 6 significant digits, in plain positional notation
    with the shortest digits that read back to the same float (as Rust's ``{}`` does)."""
    if not math.isfinite(ms) or ms <= 0:
        raise ValueError(f"latency must be a positive finite number of ms, got {ms!r}")
    rounded = float(f"{ms:.{LATENCY_DIGITS}g}")
    text = format(Decimal(repr(rounded)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _clean(value: object) -> str:
    return " ".join(str(value).split())


def render(family: str, gpu: str, backend: str, extra: dict[str, object], rows: list[tuple[list[str], float]]) -> str:
    """The CSV text of one family file.  ``backend`` is the folder name (``nccl`` for
    NCCL collectives); ``rows`` are (key fields, latency in ms)."""
    columns = COLUMNS[family]
    lines = [
        f"# servesim-calibration: {FORMAT_VERSION}",
        f"# family: {family}",
        f"# gpu: {gpu}",
        f"# backend: {backend}",
    ]
    for key in sorted(extra):
        if key in REQUIRED_KEYS:
            raise ValueError(f"header key {key!r} is reserved")
        if not key or ":" in key or key != _clean(key):
            raise ValueError(f"bad header key {key!r}")
        lines.append(f"# {key}: {_clean(extra[key])}")
    lines.append(",".join(columns))
    for fields, latency in rows:
        if len(fields) != len(columns) - 1:
            raise ValueError(f"{family}: row {fields} has {len(fields)} key fields, expected {len(columns) - 1}")
        lines.append(",".join([*fields, format_latency(latency)]))
    return "\n".join(lines) + "\n"


def family_path(root: str | Path, gpu: str, backend: str, family: str) -> Path:
    """``<root>/<gpu>/<backend>/<family>.csv.gz``."""
    return Path(root) / gpu / backend / f"{family}.csv.gz"


def gzip_bytes(text: str) -> bytes:
    """Deterministic gzip (no name, mtime 0)."""
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(text.encode("utf-8"))
    return buf.getvalue()


def write_family(
    root: str | Path,
    family: str,
    gpu: str,
    backend: str,
    extra: dict[str, object],
    rows: list[tuple[list[str], float]],
) -> Path:
    """Writes one family file under ``root`` (``backend``: the serving backend; NCCL
    collectives go under ``nccl``) and returns its path.  Written to a temporary name
    and renamed, so an interrupted run never leaves half a file."""
    folder = backend_dir(family, backend)
    path = family_path(root, gpu, folder, family)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(gzip_bytes(render(family, gpu, folder, extra, rows)))
    tmp.replace(path)
    return path


def read_family(path: str | Path) -> tuple[dict[str, str], list[str], list[list[str]]]:
    """Reads a calibration file: (header keys, column names, rows as strings).  Checks
    the required keys and that every row has every column; raises ``ValueError``."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    header: dict[str, str] = {}
    columns: list[str] | None = None
    rows: list[list[str]] = []
    for n, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
        if columns is None and line.startswith("#"):
            key, sep, value = line[1:].partition(":")
            if not sep:
                raise ValueError(f"{path}: line {n}: comment is not `# key: value`")
            header[key.strip()] = value.strip()
        elif columns is None:
            columns = line.split(",")
        elif line:
            row = line.split(",")
            if len(row) != len(columns):
                raise ValueError(f"{path}: line {n}: {len(row)} fields, header has {len(columns)}")
            rows.append(row)
    missing = [k for k in REQUIRED_KEYS if k not in header]
    if missing:
        raise ValueError(f"{path}: missing header keys {missing}")
    if columns is None:
        raise ValueError(f"{path}: no column header")
    return header, columns, rows
