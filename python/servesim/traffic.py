"""Traffic without a cluster: synthetic requests and workload statistics from a scenario or a
``traffic:`` section, and traces (Azure, Mooncake, BurstGPT) as Arrow tables."""

from __future__ import annotations

import json
import os
import warnings as _warnings
from typing import TYPE_CHECKING, Any, Mapping

from servesim import _arrow, _native
from servesim._args import optional_count, optional_number, real

if TYPE_CHECKING:
    import pyarrow as pa

    from servesim import Scenario

__all__ = ["generate", "stats", "read_trace", "MAX_REQUESTS", "MAX_STATS_REQUESTS"]

#: Default of ``max_requests``: about 0.5 GB of columns.
MAX_REQUESTS = 10_000_000

#: Default of ``max_requests`` for :func:`stats`, which keeps no requests: a guard against
#: closed loops with zero think and response times, which never advance the clock (as the
#: CLI's ``--max-requests``).
MAX_STATS_REQUESTS = 100_000_000


def __dir__() -> list[str]:
    """The public names alone (PEP 562), as the package's."""
    return sorted(__all__)


def _source(
    source: Scenario | Mapping[str, Any] | str | os.PathLike[str],
    base_dir: str | os.PathLike[str] | None,
) -> tuple[str, str, str]:
    """(kind, text, base directory) for the native module."""
    from servesim import Scenario, _plain

    if isinstance(source, Scenario):
        return "scenario", json.dumps(source.to_dict()), str(base_dir or source.base_dir)
    if isinstance(source, Mapping):
        return "traffic", json.dumps(_plain(dict(source), "traffic")), str(base_dir or ".")
    if isinstance(source, (str, os.PathLike)):
        # A relative path is relative to `base_dir` when one is given.
        path = os.path.join(os.fspath(base_dir), os.fspath(source)) if base_dir else os.fspath(source)
        return "file", path, str(base_dir or ".")
    raise TypeError(
        f"source: expected a Scenario, a traffic dict or a path, not {type(source).__name__}"
    )


def _workload(
    source: Scenario | Mapping[str, Any] | str | os.PathLike[str],
    base_dir: str | os.PathLike[str] | None,
    seed: int | None,
    duration_s: float | None,
    response_s: float,
    max_requests: int | None,
    format: str | None,
) -> _native.Workload:
    """The native workload of ``source``, run as :func:`generate` and :func:`stats` say."""
    kind, text, base = _source(source, base_dir)
    return _native.Workload(
        kind,
        text,
        base,
        optional_count("seed", seed),
        optional_number("duration_s", duration_s),
        real("response_s", response_s),
        optional_count("max_requests", max_requests),
        format,
    )


def generate(
    source: Scenario | Mapping[str, Any] | str | os.PathLike[str],
    duration_s: float | None = None,
    seed: int | None = None,
    *,
    response_s: float = 0.0,
    max_requests: int | None = MAX_REQUESTS,
    block_ids: bool = False,
    format: str | None = None,
    base_dir: str | os.PathLike[str] | None = None,
) -> pa.Table:
    """The requests of a workload, generated without a cluster, as an Arrow table (built from
    raw column buffers: no Python object per row; the GIL is released while generating).

    ``source`` is a ``Scenario`` (its ``traffic:``, ``seed`` and ``duration_s`` are used), a
    dict with the schema of a scenario's ``traffic:`` section (``streams``, ``preset``,
    ``airline``, ``block_tokens``), or a path: a trace file (``.csv``/``.jsonl``, optionally
    ``.gz``; ``format`` = ``azure``/``mooncake``/``burstgpt`` when the name or header does not
    tell) or a YAML file with a ``traffic:`` key, read as ``servesim traffic export`` reads it
    (its ``seed:`` and a scenario's ``duration_s`` are used, as the CLI uses them; a trace
    that the source's ``duration_s`` cuts short is named in a ``RuntimeWarning``, as the CLI
    says so on stderr). ``duration_s`` and ``seed`` override the source's (and cut where
    asked, without a warning); without either, the seed is 0 and the run lasts until every stream ends
    (a stream that never ends is then a ``ConfigError`` on ``duration_s``). Relative trace
    paths are resolved against ``base_dir`` (default: the scenario's folder, else ``.``).

    Open-loop and trace streams come out exactly as ``Scenario.run()`` with the same seed sees
    them. **Closed-loop users** cannot be answered by a cluster here: every closed-loop
    request is assumed answered ``response_s`` seconds after it arrives (default 0: at once),
    then its user thinks (``think_s``) and sends the next turn. So their follow-ups come as
    early as the think times allow; in a served run they come later by the cluster's
    latency, and a slower cluster sees fewer of them. ``max_requests`` (default ten million;
    None: no limit) raises ``ConfigError`` rather than fill memory, e.g. for a closed loop
    with zero think time and zero ``response_s``, which never advances the clock.

    Columns: ``request_id`` (emission order), ``time_s`` (arrival), ``input_tokens``,
    ``output_tokens``, ``prefix_blocks`` (number of prompt blocks of ``block_tokens``
    tokens), ``class`` and ``stream`` (dictionary columns of names), ``user``, ``session``
    and ``turn`` (closed-loop position; null for open-loop and trace requests), and with
    ``block_ids=True`` ``block_ids`` (the prompt's block ids, a list column: equal ids mean
    equal content, so a prefix cache can reuse the longest common leading run).

    Bad input raises ``servesim.errors``: ``ConfigError`` for a field out of range (the
    message names its path, e.g. ``traffic.streams[0].open.arrival.rate_per_s``),
    ``ParseError`` for an unknown field or a wrong type, ``IoError`` for a file that cannot be
    read and ``TrafficError`` for a malformed trace row (file, line and column).
    """
    out = _workload(source, base_dir, seed, duration_s, response_s, max_requests, format).generate(block_ids)
    for w in out["warnings"]:
        _warnings.warn(w, RuntimeWarning, stacklevel=2)
    t = _arrow.table(out["columns"], names={"class": out["classes"], "stream": out["streams"]})
    if out["block_ids"] is not None:
        import pyarrow as pa

        offsets, values = out["block_ids"]
        ids = pa.LargeListArray.from_arrays(
            _arrow.array("<i8", offsets), _arrow.array("<u8", values)
        )
        t = t.append_column("block_ids", ids)
    return t


def stats(
    source: Scenario | Mapping[str, Any] | str | os.PathLike[str],
    duration_s: float | None = None,
    seed: int | None = None,
    *,
    response_s: float = 0.0,
    max_requests: int | None = MAX_STATS_REQUESTS,
    format: str | None = None,
    base_dir: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """``servesim traffic stats``: the same workload run as :func:`generate` (same arguments
    and closed-loop assumption), summarised without keeping the requests. Returns ``total``
    and ``classes`` (one per class with requests), each with ``class``, ``count``,
    ``first_s``, ``span_s``, ``rate_per_s`` (None with fewer than two requests or all at one
    instant), ``input`` and ``output`` (``mean``, ``p50``,
    ``p99``, ``max`` tokens), ``blocks`` and ``reusable_block_share`` (share of prompt blocks
    seen in an earlier prompt)."""
    raw, warned = _workload(source, base_dir, seed, duration_s, response_s, max_requests, format).stats()
    for w in warned:
        _warnings.warn(w, RuntimeWarning, stacklevel=2)
    return dict(json.loads(raw))


def read_trace(path: str | os.PathLike[str]) -> pa.Table:
    """Reads a trace (format from the name or the header; plain or gzip) into a table with
    ``time_s`` (from the first row), ``input_tokens`` and ``output_tokens``. A malformed
    row raises ``TrafficError`` naming the file and line."""
    return _arrow.table(_native.read_trace(os.fspath(path)))
