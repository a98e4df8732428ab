"""Kernel-time predictions (``servesim perf predict``), their accuracy table by table
(``servesim perf check``) and one iteration of a scenario's pool, kind by kind (``servesim
perf step``)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from servesim import _native
from servesim._args import count, optional_text, text
from servesim.errors import ConfigError

if TYPE_CHECKING:
    from servesim import Scenario

__all__ = ["check", "predict", "step"]


def __dir__() -> list[str]:
    """The public names alone (PEP 562), as the package's."""
    return sorted(__all__)


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


def check(
    gpu: str,
    backend: str,
    calibration: str | os.PathLike[str] | None = None,
) -> list[dict[str, Any]]:
    """The leave-shape-out check of ``gpu``'s calibration as ``backend`` reads it (the shipped
    tables, or those of the folder ``calibration``): each measured row predicted with every
    row of its shape left out. One dict per public kernel table: ``table``,
    ``measured_under`` (the backend folder of its rows), ``rows`` checked, ``median`` and
    ``p90`` of their absolute relative errors (fractions: 0.05 is 5 %; ``None`` where no row
    could be checked), and the spread of the table's own repeated measurements of one kernel
    call: ``repeated`` rows, on which their call's mean errs by ``repeat_p90`` at the 90th
    percentile (``None`` where no call is measured twice)."""
    folder = None if calibration is None else os.fspath(calibration)
    return list(_native.perf_check(text("gpu", gpu), text("backend", backend), folder))


def step(
    scenario: Scenario | str | os.PathLike[str],
    pool: str | None = None,
    decode: int = 0,
    context: int = 1024,
    prefill: Iterable[int | tuple[int, int] | list[int]] = (),
) -> dict[str, Any]:
    """``servesim perf step``: one iteration of a worker of ``scenario``'s pool ``pool`` (when
    None, the decode pool for a step with ``decode`` sequences, else the first) as the
    simulator times it, built as a run builds the worker (model, GPU,
    backend, parallelism, DeepEP, CUDA graphs). The step runs ``decode`` sequences of
    ``context`` tokens each already in the cache (each attends to them and to the token it
    makes) and the prompt chunks ``prefill``: each a number of tokens, or ``(tokens,
    context)`` for a chunk after ``context`` tokens already in the cache.
    ``scenario`` is a ``Scenario`` or a scenario file (as ``servesim validate --scenarios``
    writes a measured row's).

    Returns ``pool``, ``launch`` (``{"kind": "graph", "batch": N, "ranks": R, "sequences":
    S}`` for a decode-only step replaying on each of ``R`` attention-DP ranks the CUDA graph
    of ``N`` sequences, ``S`` in all with the padding's; ``{"kind": "eager"}`` for one
    launched kernel by kernel; ``{"kind": "with_prefill"}``), ``kinds`` (``[name, ms]`` per
    kind of operation: GEMMs, attention, all-reduce, MoE experts, …) and ``total_ms``. An
    unknown pool, an
    empty step or one the pool's engine never runs (more sequences than its
    ``max_num_seqs``, prompt chunks over its ``max_batched_tokens``, a sequence longer than
    the model's context, sequences whose KV its cache cannot hold) raises ``ConfigError``
    naming the argument."""
    from servesim import Scenario

    sc = scenario if isinstance(scenario, Scenario) else Scenario.from_yaml(scenario)
    chunks = [_chunk(c) for c in _chunks(prefill)]
    return dict(
        _native.perf_step(
            json.dumps(sc.to_dict()),
            sc.base_dir,
            optional_text("pool", pool),
            count("decode", decode, bits=32),
            count("context", context, bits=32),
            chunks,
        )
    )


def _chunks(prefill: object) -> list[object]:
    """``prefill`` as a list of chunks; anything but an iterable of them is a ``ConfigError``."""
    # A mapping's keys alone are not chunks (its values would be lost).
    if isinstance(prefill, (str, bytes, Mapping)) or not isinstance(prefill, Iterable):
        raise ConfigError(f"prefill: must be a list of prompt chunks, got {prefill!r}")
    return list(prefill)


def _chunk(c: object) -> tuple[int, int]:
    """A prompt chunk: a number of tokens, or a ``(tokens, context)`` pair (a tuple or a list)."""
    if isinstance(c, (tuple, list)):
        if len(c) != 2:
            raise ConfigError(f"prefill: a chunk is TOKENS or (TOKENS, CONTEXT), got {c!r}")
        tokens, after = c
    else:
        tokens, after = c, 0
    return count("prefill tokens", tokens, bits=32), count("prefill context", after, bits=32)
