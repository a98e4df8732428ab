"""Traces: Azure, Mooncake and BurstGPT files as Arrow tables."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa

from servesim import _native

__all__ = ["read_trace"]


def read_trace(path: str | os.PathLike[str]) -> pa.Table:
    """Reads a trace (format from the name or the header; plain or gzip) into a table with
    ``time_s`` (from the first row), ``input_tokens`` and ``output_tokens``. A malformed
    row raises ``TrafficError`` naming the file and line."""
    cols = _native.read_trace(os.fspath(path))
    arrays = [pa.array(np.frombuffer(buf, dtype=np.dtype(dt))) for _, dt, buf in cols]
    return pa.Table.from_arrays(arrays, names=[n for n, _, _ in cols])
