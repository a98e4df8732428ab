"""Kernel-time predictions (``servesim perf predict``)."""

from __future__ import annotations

import os

from servesim import _native

__all__ = ["predict"]


def predict(
    gpu: str,
    backend: str,
    table: str,
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
) -> tuple[int, int]:
    """Predicts every row of a kernel table in the public layout (``gemm_perf``,
    ``context_attention_perf``, ``generation_attention_perf``, ``custom_allreduce_perf``,
    ``nccl_perf``) with the shipped calibration of ``gpu`` and ``backend``; writes ``output``
    with ``predicted_ms`` and ``reason`` columns. Returns (rows, rows predicted)."""
    rows, predicted = _native.perf_predict(gpu, backend, table, os.fspath(input), os.fspath(output))
    return int(rows), int(predicted)
