from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from servesim_harness.timers.base import CaseSkipped, Sampler, Timer

HARNESS = Path(__file__).resolve().parent.parent
SWEEPS = HARNESS / "sweeps"

#: A small sweep touching every family and option.
SMALL = """\
gpu: test_gpu
backend: sglang
backend_version: "0.5.0"
repetitions: 3
warmup: 1
gemm:
  dtypes: [bf16, fp8]
  m: [1, 8]
  nk: [[256, 128]]
context_attention:
  batch: [1, 2]
  isl: [16, 64]
  heads: [[8, 2]]
  head_dim: [64]
  windows: [0, 32]
  max_tokens: 64
generation_attention:
  batch: [2]
  kv_len: {from: 32, to: 128, mul: 2}
  heads: [[8, 8], [4, 1]]
  head_dim: [64]
  attn_dtypes: [fp16]
  kv_dtypes: [fp16, fp8]
nccl:
  ops: [all_reduce, all_gather]
  num_gpus: [2, 4]
  message_elems: [1024, 4096]
p2p_copy:
  pairs: [[0, 1], [1, 0]]
  bytes: [4096]
"""


class FakeTimer(Timer):
    """Deterministic timer: run i of every case takes (case index + 1) * (1 + i) ms /
    1000; it records the calls it got and skips cases whose fields contain ``skip``."""

    measured_on = "gpu"

    def __init__(self, skip: set[str] | None = None):
        self.calls: list[tuple[str, object]] = []
        self.index = itertools.count(1)
        self.skip = skip or set()
        self.released = 0

    def metadata(self) -> dict[str, str]:
        return {"timer": "fake", "device_name": "Fake GPU"}

    def family_metadata(self, family: str) -> dict[str, str]:
        return {"nccl_version": "2.99.1"} if family == "nccl" else {}

    def prepare(self, family: str, case) -> Sampler:
        self.calls.append((family, case))
        if self.skip & set(case.fields()):
            raise CaseSkipped("not on this fake")
        base = next(self.index)
        runs = itertools.count()
        return lambda: base * (1 + next(runs)) / 1000

    def release(self) -> None:
        self.released += 1


@pytest.fixture
def small_sweep_file(tmp_path: Path) -> Path:
    p = tmp_path / "small.yaml"
    p.write_text(SMALL)
    return p
