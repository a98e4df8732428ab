"""The CUDA timer: PyTorch on NVIDIA GPUs.

Method, for every case but GPU-to-GPU copies:

1. allocate the inputs once on the GPU;
2. run the kernel a few times on a side stream, then capture one call into a CUDA graph
   (so the measured time has no Python or launch overhead);
3. warm up by replaying the graph ``warmup`` times;
4. ``reps`` times: (GEMMs only) overwrite an L2 flush buffer twice the L2 size so the
   weights come from HBM as in serving, record a CUDA event, replay the graph, record a
   second event, synchronise, and read the elapsed time;
5. the runner keeps the median of the ``reps`` times.

NCCL collectives run in one process per GPU (``torch.multiprocessing.spawn``) with
``torch.distributed``; each repetition is the slowest rank's time.  Copies between GPUs
(``dst.copy_(src)``) are timed eagerly with events on the source GPU's stream.

torch is imported when a :class:`CudaTimer` is built, never when this module is imported.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from servesim_harness import HarnessError
from servesim_harness.families import AttnCase, Case, GemmCase, NcclCase, P2pCase
from servesim_harness.timers.base import CaseSkipped, Sampler, Timer, collect

#: KV page size used with flash-attn's paged decode kernel (it needs a multiple of 256).
FLASH_PAGE = 256
#: Smallest L2 flush buffer (bytes), used when the device does not report its L2 size.
MIN_FLUSH_BYTES = 256 << 20


def gpu_sku_from_name(name: str) -> str | None:
    """servesim's SKU name for a CUDA device name, when recognised
    (``NVIDIA H100 80GB HBM3`` -> ``h100_sxm``)."""
    n = name.lower()
    for chip in ("b200", "h200", "h100", "a100"):
        if chip in n:
            if "nvl" in n:
                return f"{chip}_nvl"
            if "pcie" in n:
                return f"{chip}_pcie"
            return f"{chip}_sxm"
    return None


def group_by_num_gpus(cases: Sequence[NcclCase]) -> dict[int, list[int]]:
    """Indices of the cases for each GPU count, in first-seen order (one set of worker
    processes per GPU count)."""
    groups: dict[int, list[int]] = defaultdict(list)
    for i, c in enumerate(cases):
        groups[c.num_gpus].append(i)
    return dict(groups)


def _torch_dtype(torch: Any, name: str) -> Any:
    return {
        "bf16": torch.bfloat16,
        "fp16": torch.float16,
        "fp32": torch.float32,
        "fp8": torch.float8_e4m3fn,
    }[name]


def _version_at_least(version: str, major: int, minor: int) -> bool:
    try:
        parts = version.split("+")[0].split(".")
        return (int(parts[0]), int(parts[1])) >= (major, minor)
    except (ValueError, IndexError):
        return False


def _capture(torch: Any, fn: Any) -> Any:
    """Runs ``fn`` on a side stream (required before capture), then captures one call."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    torch.cuda.synchronize()
    return graph


class CudaTimer(Timer):
    """PyTorch/CUDA timer; see the module docs."""

    measured_on = "gpu"

    def __init__(self, device: int = 0, use_graphs: bool = True):
        try:
            import torch
        except ImportError:
            raise HarnessError(
                "PyTorch is not installed: install a CUDA build of torch (see harness/README.md), "
                "or pass --dry-run to test the pipeline on a CPU"
            ) from None
        if not torch.cuda.is_available():
            raise HarnessError("PyTorch sees no CUDA GPU here; pass --dry-run to test the pipeline on a CPU")
        self.torch = torch
        self.F = torch.nn.functional
        self.use_graphs = use_graphs
        if not 0 <= device < torch.cuda.device_count():
            raise HarnessError(f"--device {device}: this node has {torch.cuda.device_count()} visible GPUs")
        self.device = torch.device("cuda", device)
        torch.cuda.set_device(self.device)
        self.props = torch.cuda.get_device_properties(self.device)
        l2 = int(getattr(self.props, "L2_cache_size", 0) or 0)
        self.flush_bytes = max(2 * l2, MIN_FLUSH_BYTES)
        self.flush_buf = torch.empty(self.flush_bytes // 4, dtype=torch.int32, device=self.device)
        self.gqa_kwarg = _version_at_least(torch.__version__, 2, 5)
        self.notes: dict[str, set[str]] = defaultdict(set)
        self.nccl_version = "unknown"
        self._held: list[Any] = []
        self.decode_kernel = "auto"

    def configure(self, options: dict[str, dict]) -> None:
        grids = options.get("generation_attention") or [{}]
        self.decode_kernel = grids[0].get("kernel", "auto")  # the same in every grid

    # -- metadata ----------------------------------------------------------------------

    def metadata(self) -> dict[str, str]:
        torch = self.torch
        meta = {
            "timer": "CUDA events around CUDA-graph replays after warm-up"
            if self.use_graphs
            else "CUDA events around eager calls after warm-up (graphs disabled)",
            "device_name": self.props.name,
            "compute_capability": f"{self.props.major}.{self.props.minor}",
            "gpu_count": str(torch.cuda.device_count()),
            "torch": torch.__version__,
            "cuda": str(torch.version.cuda),
            "l2_flush_bytes": str(self.flush_bytes),
        }
        driver = _driver_version()
        if driver:
            meta["driver"] = driver
        return meta

    def family_metadata(self, family: str) -> dict[str, str]:
        meta = {}
        if self.notes.get(family):
            meta["kernel"] = "; ".join(sorted(self.notes[family]))
        if family == "nccl":
            meta["nccl_version"] = self.nccl_version
        return meta

    def detect_gpu(self) -> str | None:
        return gpu_sku_from_name(self.props.name)

    def skip_reason(self, exc: Exception) -> str | None:
        torch = self.torch
        if isinstance(exc, torch.cuda.OutOfMemoryError):
            torch.cuda.empty_cache()
            return "out of GPU memory"
        if isinstance(exc, (RuntimeError, NotImplementedError, ValueError)):
            try:
                torch.cuda.synchronize()
            except RuntimeError:
                pass
            return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        return None

    def release(self) -> None:
        # Drop the case's tensors and graph and give the memory back, so shapes of very
        # different sizes in a row do not fail on a fragmented cache.
        self._held.clear()
        self.torch.cuda.empty_cache()

    def close(self) -> None:
        self.release()
        self.flush_buf = None
        self.torch.cuda.empty_cache()

    # -- timing ------------------------------------------------------------------------

    def _sampler(self, fn: Any, flush_l2: bool) -> Sampler:
        torch = self.torch
        graph = _capture(torch, fn) if self.use_graphs else None
        run = graph.replay if graph is not None else fn
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        self._held.append(graph)

        def sample() -> float:
            if flush_l2:
                self.flush_buf.add_(1)
            start.record()
            run()
            end.record()
            end.synchronize()
            return float(start.elapsed_time(end))

        return sample

    def _randn(self, *shape: int, dtype: str) -> Any:
        torch = self.torch
        t = torch.randn(*shape, device=self.device, dtype=torch.bfloat16)
        return t.to(_torch_dtype(torch, dtype))

    def prepare(self, family: str, case: Case) -> Sampler:
        if isinstance(case, GemmCase):
            return self._gemm(case)
        if isinstance(case, AttnCase) and family == "context_attention":
            return self._context(case)
        if isinstance(case, AttnCase):
            return self._decode(case)
        if isinstance(case, P2pCase):
            return self._p2p(case)
        raise TypeError(f"{family}: cannot time {case!r} in this process")

    def _gemm(self, c: GemmCase) -> Sampler:
        torch = self.torch
        a = self._randn(c.m, c.k, dtype=c.dtype)
        w = self._randn(c.n, c.k, dtype=c.dtype)
        if c.dtype == "fp8":
            if not hasattr(torch, "_scaled_mm"):
                raise CaseSkipped("this torch has no torch._scaled_mm (fp8 GEMM)")
            if self.props.major < 9 and (self.props.major, self.props.minor) != (8, 9):
                raise CaseSkipped(f"fp8 GEMM needs compute capability 8.9 or newer, this GPU is {self.props.major}.{self.props.minor}")
            b = w.t()  # (k, n), column-major as _scaled_mm wants
            one = torch.ones((), device=self.device, dtype=torch.float32)
            self.notes["gemm"].add("fp8: torch._scaled_mm per-tensor scales, bf16 out")

            def fn() -> None:
                torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)
        else:
            self.notes["gemm"].add(f"{c.dtype}: torch.nn.functional.linear")

            def fn() -> None:
                self.F.linear(a, w)

        self._held += [a, w]
        return self._sampler(fn, flush_l2=True)

    def _kv(self, shape: tuple[int, ...], c: AttnCase) -> tuple[Any, Any, Any]:
        """K and V stored in ``kv_dtype`` and a function giving them in ``attn_dtype``
        (fp8 KV is converted inside the timed region, as a non-fused kernel would)."""
        torch = self.torch
        k = self._randn(*shape, dtype=c.kv_dtype)
        v = self._randn(*shape, dtype=c.kv_dtype)
        if c.kv_dtype == c.attn_dtype:
            return k, v, lambda: (k, v)
        adt = _torch_dtype(torch, c.attn_dtype)
        return k, v, lambda: (k.to(adt), v.to(adt))

    def _sdpa(self, q: Any, k: Any, v: Any, **kw: Any) -> Any:
        if q.shape[1] != k.shape[1] and self.gqa_kwarg:
            kw["enable_gqa"] = True
        return self.F.scaled_dot_product_attention(q, k, v, **kw)

    def _context(self, c: AttnCase) -> Sampler:
        torch = self.torch
        q = self._randn(c.batch, c.num_heads, c.length, c.head_dim, dtype=c.attn_dtype)
        kv_heads = c.num_kv_heads if self.gqa_kwarg else c.num_heads  # older torch: pre-expanded
        k, v, load = self._kv((c.batch, kv_heads, c.length, c.head_dim), c)
        mask = None
        if c.window and c.window < c.length:
            # Query i sees keys j with 0 <= i - j < window.
            ones = torch.ones(c.length, c.length, dtype=torch.bool, device=self.device)
            mask = torch.tril(ones) & ~torch.tril(ones, diagonal=-c.window)
            self.notes["context_attention"].add("sliding window: SDPA with a boolean mask")
        self.notes["context_attention"].add("torch.nn.functional.scaled_dot_product_attention, causal")
        if c.kv_dtype != c.attn_dtype:
            self.notes["context_attention"].add(f"{c.kv_dtype} KV converted to {c.attn_dtype} inside the timed region")

        def fn() -> None:
            kk, vv = load()
            if mask is None:
                self._sdpa(q, kk, vv, is_causal=True)
            else:
                self._sdpa(q, kk, vv, attn_mask=mask)

        self._held += [q, k, v, mask]
        return self._sampler(fn, flush_l2=False)

    def _decode_kernel(self, kernel: str, c: AttnCase) -> str:
        if kernel in ("auto", "flash_attn"):
            try:
                import flash_attn  # noqa: F401
            except ImportError:
                if kernel == "flash_attn":
                    raise CaseSkipped("flash_attn is not installed (generation_attention.kernel: flash_attn)") from None
                return "sdpa"
            if c.kv_dtype != c.attn_dtype:
                if kernel == "flash_attn":
                    raise CaseSkipped(f"flash_attn needs the KV cache in the attention dtype, not {c.kv_dtype}")
                return "sdpa"
            return "flash_attn"
        return "sdpa"

    def _decode(self, c: AttnCase) -> Sampler:
        torch = self.torch
        kernel = self._decode_kernel(self.decode_kernel, c)
        attended = min(c.length, c.window) if c.window else c.length
        q = self._randn(c.batch, c.num_heads, 1, c.head_dim, dtype=c.attn_dtype)
        if kernel == "flash_attn":
            from flash_attn import flash_attn_with_kvcache

            pages = -(-c.length // FLASH_PAGE)
            k, v, _ = self._kv((c.batch * pages, FLASH_PAGE, c.num_kv_heads, c.head_dim), c)
            table = torch.arange(c.batch * pages, device=self.device, dtype=torch.int32).view(c.batch, pages)
            lens = torch.full((c.batch,), c.length, device=self.device, dtype=torch.int32)
            qf = q.transpose(1, 2).contiguous()  # (batch, 1, heads, dim)
            window = (c.window - 1, 0) if c.window else (-1, -1)
            self.notes["generation_attention"].add(f"flash_attn_with_kvcache, paged KV ({FLASH_PAGE}-token pages)")

            def fn() -> None:
                flash_attn_with_kvcache(qf, k, v, cache_seqlens=lens, block_table=table, causal=True, window_size=window)

            self._held += [q, qf, k, v, table, lens]
        else:
            kv_heads = c.num_kv_heads if self.gqa_kwarg else c.num_heads
            k, v, load = self._kv((c.batch, kv_heads, attended, c.head_dim), c)
            self.notes["generation_attention"].add("scaled_dot_product_attention over a contiguous KV cache")
            if c.kv_dtype != c.attn_dtype:
                self.notes["generation_attention"].add(f"{c.kv_dtype} KV converted to {c.attn_dtype} inside the timed region")

            def fn() -> None:
                kk, vv = load()
                self._sdpa(q, kk, vv)

            self._held += [q, k, v]
        return self._sampler(fn, flush_l2=False)

    def _p2p(self, c: P2pCase) -> Sampler:
        torch = self.torch
        count = torch.cuda.device_count()
        if max(c.src_gpu, c.dst_gpu) >= count:
            raise CaseSkipped(f"needs GPUs {c.src_gpu} and {c.dst_gpu}, {count} visible")
        peer = torch.cuda.can_device_access_peer(c.src_gpu, c.dst_gpu)
        self.notes["p2p_copy"].add(
            "dst.copy_(src), eager, events on the source stream; "
            + ("peer access" if peer else "no peer access (staged through the host)")
        )
        src = torch.empty(c.bytes, dtype=torch.uint8, device=torch.device("cuda", c.src_gpu))
        dst = torch.empty(c.bytes, dtype=torch.uint8, device=torch.device("cuda", c.dst_gpu))
        with torch.cuda.device(c.src_gpu):
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
        self._held += [src, dst]

        def sample() -> float:
            with torch.cuda.device(c.src_gpu):
                start.record()
                dst.copy_(src, non_blocking=True)
                end.record()
                end.synchronize()
            return float(start.elapsed_time(end))

        return sample

    # -- NCCL: one process per GPU -----------------------------------------------------

    def measure(
        self, family: str, cases: Sequence[Case], warmup: int, reps: int
    ) -> Iterator[tuple[Case, list[float] | CaseSkipped]]:
        if family != "nccl":
            yield from super().measure(family, cases, warmup, reps)
            return
        torch = self.torch
        nccl_cases = [c for c in cases if isinstance(c, NcclCase)]
        results: dict[int, list[float] | CaseSkipped] = {}
        count = torch.cuda.device_count()
        for n, idxs in group_by_num_gpus(nccl_cases).items():
            group = [nccl_cases[i] for i in idxs]
            if n > count:
                for i in idxs:
                    results[i] = CaseSkipped(f"needs {n} GPUs, {count} visible")
                continue
            for i, r in zip(idxs, self._spawn_nccl(n, group, warmup, reps), strict=True):
                results[i] = r
        for i, c in enumerate(nccl_cases):
            yield c, results[i]

    def _spawn_nccl(self, n: int, cases: list[NcclCase], warmup: int, reps: int) -> list[list[float] | CaseSkipped]:
        import torch.multiprocessing as mp

        try:
            v = self.torch.cuda.nccl.version()
            self.nccl_version = ".".join(map(str, v)) if isinstance(v, tuple) else str(v)
        except Exception:  # noqa: BLE001 - only metadata
            pass
        self.notes["nccl"].add(
            "torch.distributed NCCL, one process per GPU, "
            + ("CUDA-graph replays" if self.use_graphs else "eager calls")
            + ", slowest rank per repetition"
        )
        with tempfile.TemporaryDirectory(prefix="servesim-nccl-") as tmp:
            out = os.path.join(tmp, "result.json")
            payload = [[c.op, c.dtype, c.message_elems] for c in cases]
            try:
                mp.spawn(_nccl_worker, args=(n, payload, warmup, reps, _free_port(), out, self.use_graphs), nprocs=n, join=True)
                with open(out, encoding="utf-8") as f:
                    raw = json.load(f)
            except Exception as e:  # noqa: BLE001 - a failed group skips its cases
                msg = (str(e).strip().splitlines() or [type(e).__name__])[-1][:200]
                return [CaseSkipped(f"NCCL workers failed: {msg}") for _ in cases]
        return [CaseSkipped(r["skip"]) if isinstance(r, dict) else [float(x) for x in r] for r in raw]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _driver_version() -> str | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    first = out.strip().splitlines()
    return first[0].strip() if first else None


def _nccl_worker(rank: int, world: int, payload: list, warmup: int, reps: int, port: int, out: str, use_graphs: bool) -> None:
    """One rank of an NCCL measurement (run by ``torch.multiprocessing.spawn``)."""
    import torch
    import torch.distributed as dist

    torch.cuda.set_device(rank)
    dev = torch.device("cuda", rank)
    dist.init_process_group("nccl", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    results: list[Any] = []
    try:
        for op, dtype, elems in payload:
            try:
                results.append(_nccl_case(torch, dist, dev, world, op, dtype, elems, warmup, reps, use_graphs))
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                results.append({"skip": "out of GPU memory"})
            dist.barrier()
        if rank == 0:
            with open(out, "w", encoding="utf-8") as f:
                json.dump(results, f)
    finally:
        dist.destroy_process_group()


def _nccl_case(torch: Any, dist: Any, dev: Any, world: int, op: str, dtype: str, elems: int, warmup: int, reps: int, use_graphs: bool) -> list[float]:
    dt = _torch_dtype(torch, dtype)
    if op == "all_reduce":
        buf = torch.ones(elems, dtype=dt, device=dev)

        def fn() -> None:
            dist.all_reduce(buf)
    elif op == "all_gather":
        inp = torch.ones(elems // world, dtype=dt, device=dev)
        outp = torch.empty(elems, dtype=dt, device=dev)

        def fn() -> None:
            dist.all_gather_into_tensor(outp, inp)
    elif op == "reduce_scatter":
        inp = torch.ones(elems, dtype=dt, device=dev)
        outp = torch.empty(elems // world, dtype=dt, device=dev)

        def fn() -> None:
            dist.reduce_scatter_tensor(outp, inp)
    elif op == "alltoall":
        inp = torch.ones(elems, dtype=dt, device=dev)
        outp = torch.empty(elems, dtype=dt, device=dev)

        def fn() -> None:
            dist.all_to_all_single(outp, inp)
    else:
        raise ValueError(f"unknown NCCL op {op!r}")
    fn()  # creates the communicator before any capture
    torch.cuda.synchronize()
    run = _capture(torch, fn).replay if use_graphs else fn
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)

    def sample() -> float:
        dist.barrier()
        torch.cuda.synchronize()
        start.record()
        run()
        end.record()
        end.synchronize()
        return float(start.elapsed_time(end))

    times = torch.tensor(collect(sample, warmup, reps), dtype=torch.float64, device=dev)
    dist.all_reduce(times, op=dist.ReduceOp.MAX)
    return times.tolist()
