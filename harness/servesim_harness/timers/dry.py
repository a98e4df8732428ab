"""The dry-run timer: the same pipeline on a CPU with numpy, no torch.

Each case runs a small *proxy* of itself (dimensions clamped so a run takes
microseconds), timed with ``time.perf_counter_ns``, and the time is scaled by the work of
the real shape over the work of the proxy.  The numbers are CPU numbers, not GPU
predictions; files say ``measured_on: cpu-dry-run`` so nothing mistakes them for GPU
data.  The point is to exercise sweep enumeration, repetitions, medians and file writing
anywhere, fast (a few seconds for the example sweep).
"""

from __future__ import annotations

import platform
import time

import numpy as np

from servesim_harness.families import DTYPE_BYTES, AttnCase, Case, GemmCase, NcclCase, P2pCase
from servesim_harness.timers.base import Sampler, Timer

#: Largest GEMM / attention dimension actually computed.
PROXY_DIM = 64
#: Largest sequence length actually computed.
PROXY_LEN = 64
#: Largest collective buffer actually reduced (elements).
PROXY_ELEMS = 1 << 14
#: Largest copy actually done (bytes).
PROXY_BYTES = 1 << 16


def _timed(fn, scale: float) -> Sampler:
    def sample() -> float:
        t0 = time.perf_counter_ns()
        fn()
        dt = max(time.perf_counter_ns() - t0, 1)
        return dt * 1e-6 * scale

    return sample


class DryRunTimer(Timer):
    """numpy on the CPU; see the module docs."""

    measured_on = "cpu-dry-run"

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def metadata(self) -> dict[str, str]:
        return {
            "timer": "dry run: numpy proxy kernels on the CPU timed with perf_counter_ns, scaled by work",
            "note": "not GPU data; for testing the pipeline only",
            "python": platform.python_version(),
            "numpy": np.__version__,
            "machine": platform.machine() or "unknown",
        }

    def detect_gpu(self) -> str | None:
        return None

    def family_metadata(self, family: str) -> dict[str, str]:
        return {"nccl_version": "none (dry run)"} if family == "nccl" else {}

    def _rand(self, *shape: int) -> np.ndarray:
        return self.rng.standard_normal(shape, dtype=np.float32)

    def prepare(self, family: str, case: Case) -> Sampler:
        if isinstance(case, GemmCase):
            m, n, k = (min(d, PROXY_DIM) for d in (case.m, case.n, case.k))
            a, w = self._rand(m, k), self._rand(n, k)
            out = np.empty((m, n), dtype=np.float32)
            scale = (case.m * case.n * case.k) / (m * n * k)
            return _timed(lambda: np.matmul(a, w.T, out=out), scale)
        if isinstance(case, AttnCase):
            return self._attention(family, case)
        if isinstance(case, NcclCase):
            elems = min(case.message_elems, PROXY_ELEMS)
            bufs = [self._rand(elems) for _ in range(case.num_gpus)]
            acc = np.empty(elems, dtype=np.float32)
            # Ring all-reduce moves 2(n-1)/n of the buffer; the others (n-1)/n.
            factor = 2.0 if case.op == "all_reduce" else 1.0
            scale = factor * (case.message_elems / elems) * DTYPE_BYTES[case.dtype] / 4

            def reduce() -> None:
                np.copyto(acc, bufs[0])
                for b in bufs[1:]:
                    np.add(acc, b, out=acc)

            return _timed(reduce, scale)
        if isinstance(case, P2pCase):
            size = min(case.bytes, PROXY_BYTES)
            src = np.frombuffer(self.rng.bytes(size), dtype=np.uint8)
            dst = np.empty_like(src)
            return _timed(lambda: np.copyto(dst, src), case.bytes / size)
        raise TypeError(f"unknown case {case!r}")

    def _attention(self, family: str, c: AttnCase) -> Sampler:
        heads = min(c.num_heads, 2)
        d = min(c.head_dim, PROXY_DIM)
        attended = min(c.length, c.window) if c.window else c.length
        if family == "context_attention":
            q_len = min(c.length, PROXY_LEN)
            kv_len = q_len
            # Causal: about half of the (length x attended) score matrix.
            work = c.batch * c.num_heads * c.length * attended * c.head_dim
        else:
            q_len = 1
            kv_len = min(attended, PROXY_LEN)
            work = c.batch * c.num_heads * attended * c.head_dim
        q = self._rand(heads, q_len, d)
        k = self._rand(heads, kv_len, d)
        v = self._rand(heads, kv_len, d)
        proxy = heads * q_len * kv_len * d
        scale = work / proxy
        inv = 1.0 / np.sqrt(d)

        def attend() -> None:
            s = np.matmul(q, k.transpose(0, 2, 1)) * inv
            s -= s.max(axis=-1, keepdims=True)
            np.exp(s, out=s)
            s /= s.sum(axis=-1, keepdims=True)
            np.matmul(s, v)

        return _timed(attend, scale)
