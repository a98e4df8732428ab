"""The CUDA timer's control flow, run against a stand-in for torch (no GPU or torch
here): every family is prepared, timed, skipped or written as on a GPU.  Kernel results
are meaningless; what is checked is that the code around the CUDA calls holds together."""

from __future__ import annotations

import sys
import types
from unittest import mock

import pytest

from servesim_harness.calibfmt import read_family
from servesim_harness.runner import resolve_gpu, run_sweep
from servesim_harness.sweep import parse_sweep

from conftest import SMALL


class FakeTensor(list):
    def tolist(self):
        return list(self)


class FakeOOM(RuntimeError):
    pass


@pytest.fixture
def torch(monkeypatch):
    t = mock.MagicMock(name="torch")
    t.__version__ = "2.5.1+cu124"
    t.version.cuda = "12.4"
    t.cuda.is_available.return_value = True
    t.cuda.device_count.return_value = 2
    t.cuda.get_device_properties.return_value = types.SimpleNamespace(
        name="NVIDIA H100 80GB HBM3", major=9, minor=0, L2_cache_size=50 << 20
    )
    t.cuda.OutOfMemoryError = FakeOOM
    t.cuda.nccl.version.return_value = (2, 21, 5)
    t.cuda.can_device_access_peer.return_value = True
    t.tensor.side_effect = lambda data, **kw: FakeTensor(data)
    event = mock.MagicMock(name="event")
    event.elapsed_time.return_value = 0.25
    t.cuda.Event.return_value = event
    mp = types.ModuleType("torch.multiprocessing")
    spawned = []

    def spawn(fn, args=(), nprocs=1, join=True):
        spawned.append(nprocs)
        for rank in range(nprocs):
            fn(rank, *args)

    mp.spawn = spawn
    t.multiprocessing = mp
    t.spawned = spawned
    monkeypatch.setitem(sys.modules, "torch", t)
    monkeypatch.setitem(sys.modules, "torch.distributed", t.distributed)
    monkeypatch.setitem(sys.modules, "torch.multiprocessing", mp)
    monkeypatch.setitem(sys.modules, "flash_attn", None)  # not installed
    return t


def small():
    return parse_sweep(SMALL, "small.yaml")


def test_every_family_through_the_cuda_timer(torch, tmp_path):
    from servesim_harness.timers.cuda import CudaTimer

    timer = CudaTimer()
    assert resolve_gpu(parse_sweep("p2p_copy: {bytes: [1]}"), None, timer) == "h100_sxm"
    sweep = small()
    results = run_sweep(sweep, timer, tmp_path, gpu="h100_sxm", created="2025-01-01T00:00:00Z")
    timer.close()
    by_family = {r.family: r for r in results}
    assert list(by_family) == sweep.families()
    # nccl over 4 GPUs is skipped on this 2-GPU node; the rest is measured.
    assert [str(s[1]) for s in by_family["nccl"].skipped] == ["needs 4 GPUs, 2 visible"] * 4
    assert torch.spawned == [2]
    for r in results:
        header, _, rows = read_family(r.path)
        assert header["measured_on"] == "gpu"
        assert header["device_name"] == "NVIDIA H100 80GB HBM3"
        assert header["timer"] == "CUDA events around CUDA-graph replays after warm-up"
        assert {row[-1] for row in rows} == {"0.25"}
        assert len(rows) + int(header["skipped"]) == len(sweep.cases(r.family))
    nccl, _, _ = read_family(by_family["nccl"].path)
    assert nccl["backend_version"] == "2.21.5"
    gemm, _, _ = read_family(by_family["gemm"].path)
    assert "torch._scaled_mm" in gemm["kernel"] and "linear" in gemm["kernel"]
    gen, _, _ = read_family(by_family["generation_attention"].path)
    assert "scaled_dot_product_attention" in gen["kernel"]  # flash-attn absent
    # Graphs were captured and the L2 flush buffer written before timed GEMM runs.
    assert torch.cuda.CUDAGraph.called
    assert torch.empty.return_value.add_.called


def test_out_of_memory_and_old_gpus_skip_cases(torch, tmp_path):
    from servesim_harness.timers.cuda import CudaTimer

    torch.cuda.get_device_properties.return_value.major = 8  # A100: no fp8
    torch.nn.functional.linear.side_effect = FakeOOM("CUDA out of memory")
    timer = CudaTimer(use_graphs=False)
    sweep = small()
    assert run_sweep(sweep, timer, tmp_path, gpu="a100_sxm", created="2025-01-01T00:00:00Z", families=["gemm"]) == []
    skipped = [str(r) for _, r in timer.measure("gemm", sweep.cases("gemm"), 0, 1)]
    assert skipped == ["out of GPU memory"] * 2 + ["fp8 GEMM needs compute capability 8.9 or newer, this GPU is 8.0"] * 2


def test_p2p_needs_the_gpus(torch):
    from servesim_harness.families import P2pCase
    from servesim_harness.timers.cuda import CudaTimer

    torch.cuda.device_count.return_value = 1
    [(_, res)] = list(CudaTimer().measure("p2p_copy", [P2pCase(0, 1, 4096)], 0, 1))
    assert str(res) == "needs GPUs 0 and 1, 1 visible"


def test_no_cuda_is_a_clear_error(torch):
    from servesim_harness import HarnessError
    from servesim_harness.timers.cuda import CudaTimer

    torch.cuda.is_available.return_value = False
    with pytest.raises(HarnessError, match="no CUDA GPU"):
        CudaTimer()
    torch.cuda.is_available.return_value = True
    with pytest.raises(HarnessError, match="--device 5: this node has 2 visible GPUs"):
        CudaTimer(device=5)
