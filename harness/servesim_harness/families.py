"""Kernel families of the calibration format (v1): the cases the harness times and the
columns each family's file holds."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GemmCase:
    """``C[m, n] = A[m, k] @ W[n, k]^T`` in ``dtype``."""

    dtype: str
    m: int
    n: int
    k: int

    def fields(self) -> list[str]:
        return [self.dtype, str(self.m), str(self.n), str(self.k)]


@dataclass(frozen=True)
class AttnCase:
    """Attention over ``batch`` sequences; ``length`` is the prompt length (context
    attention, causal) or the number of KV tokens attended by one query token (generation
    attention).  ``window`` 0 means full attention, else a sliding window of that many
    tokens."""

    batch: int
    length: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    window: int
    attn_dtype: str
    kv_dtype: str

    def fields(self) -> list[str]:
        return [
            str(self.batch),
            str(self.length),
            str(self.num_heads),
            str(self.num_kv_heads),
            str(self.head_dim),
            str(self.window),
            self.attn_dtype,
            self.kv_dtype,
        ]


@dataclass(frozen=True)
class NcclCase:
    """An NCCL collective over ``num_gpus`` GPUs.  ``message_elems`` is the size of the
    whole buffer in elements (the nccl-tests convention: the all-reduce buffer, the
    all-gather output, the reduce-scatter input, the all-to-all buffer of each rank)."""

    op: str
    dtype: str
    num_gpus: int
    message_elems: int

    def fields(self) -> list[str]:
        return [self.op, self.dtype, str(self.num_gpus), str(self.message_elems)]


@dataclass(frozen=True)
class P2pCase:
    """A copy of ``bytes`` bytes from GPU ``src_gpu`` to GPU ``dst_gpu``."""

    src_gpu: int
    dst_gpu: int
    bytes: int

    def fields(self) -> list[str]:
        return [str(self.src_gpu), str(self.dst_gpu), str(self.bytes)]


Case = GemmCase | AttnCase | NcclCase | P2pCase

#: Families the harness measures, in the order it runs them, with their columns
#: (``latency_ms`` last, as in the format).
COLUMNS: dict[str, list[str]] = {
    "gemm": ["dtype", "m", "n", "k", "latency_ms"],
    "context_attention": [
        "batch", "isl", "num_heads", "num_kv_heads", "head_dim", "window", "attn_dtype",
        "kv_dtype", "latency_ms",
    ],
    "generation_attention": [
        "batch", "kv_len", "num_heads", "num_kv_heads", "head_dim", "window", "attn_dtype",
        "kv_dtype", "latency_ms",
    ],
    "nccl": ["op", "dtype", "num_gpus", "message_elems", "latency_ms"],
    "p2p_copy": ["src_gpu", "dst_gpu", "bytes", "latency_ms"],
}

FAMILIES: tuple[str, ...] = tuple(COLUMNS)

#: Dtype names used in the files (servesim's canonical short names).
DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4, "fp8": 1}


def backend_dir(family: str, backend: str) -> str:
    """The ``<backend>`` folder of a family: ``nccl`` for NCCL collectives, else the
    serving backend whose kernels were timed."""
    return "nccl" if family == "nccl" else backend
