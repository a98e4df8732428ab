from __future__ import annotations

import itertools
import sys

import pytest

from servesim_harness.families import AttnCase, GemmCase, NcclCase, P2pCase
from servesim_harness.timers import CaseSkipped, Timer, collect, median
from servesim_harness.timers.dry import DryRunTimer

from conftest import FakeTimer


def test_collect_discards_warmup():
    counter = itertools.count(1)
    assert collect(lambda: float(next(counter)), warmup=3, reps=4) == [4.0, 5.0, 6.0, 7.0]
    counter = itertools.count(1)
    assert collect(lambda: float(next(counter)), warmup=0, reps=1) == [1.0]
    with pytest.raises(ValueError):
        collect(lambda: 1.0, warmup=0, reps=0)


def test_collect_floors_unresolved_runs():
    assert collect(lambda: 0.0, warmup=0, reps=2) == [1e-6, 1e-6]
    assert collect(lambda: float("nan"), warmup=0, reps=1) == [1e-6]


@pytest.mark.parametrize(
    "xs, m",
    [([3.0], 3.0), ([5.0, 1.0, 3.0], 3.0), ([4.0, 1.0, 3.0, 2.0], 2.5), ([1.0, 100.0, 2.0], 2.0)],
)
def test_median(xs, m):
    assert median(xs) == m


def test_median_of_nothing():
    with pytest.raises(ValueError):
        median([])


def test_measure_skips_and_releases():
    t = FakeTimer(skip={"fp8"})
    cases = [GemmCase("bf16", 1, 16, 16), GemmCase("fp8", 1, 16, 16), GemmCase("bf16", 2, 16, 16)]
    out = list(t.measure("gemm", cases, warmup=2, reps=3))
    assert [c for c, _ in out] == cases
    assert out[0][1] == [0.003, 0.004, 0.005]  # runs 0-1 were warm-up
    assert isinstance(out[1][1], CaseSkipped) and str(out[1][1]) == "not on this fake"
    assert out[2][1] == [0.006, 0.008, 0.01]
    assert t.released == 3


class Exploding(Timer):
    def __init__(self, exc, reason):
        self.exc, self.reason = exc, reason

    def prepare(self, family, case):
        def sample():
            raise self.exc

        return sample

    def skip_reason(self, exc):
        return self.reason


def test_errors_abort_unless_classified_as_skips():
    case = GemmCase("bf16", 1, 16, 16)
    with pytest.raises(RuntimeError, match="boom"):
        list(Exploding(RuntimeError("boom"), None).measure("gemm", [case], 0, 1))
    [(c, res)] = list(Exploding(MemoryError(), "out of GPU memory").measure("gemm", [case], 0, 1))
    assert isinstance(res, CaseSkipped) and str(res) == "out of GPU memory"


@pytest.mark.parametrize(
    "family, case",
    [
        ("gemm", GemmCase("bf16", 8192, 8192, 8192)),
        ("gemm", GemmCase("fp8", 1, 16, 16)),
        ("context_attention", AttnCase(4, 4096, 64, 8, 128, 0, "bf16", "bf16")),
        ("context_attention", AttnCase(1, 4096, 64, 8, 128, 1024, "bf16", "fp8")),
        ("generation_attention", AttnCase(256, 131072, 8, 1, 128, 0, "bf16", "fp8")),
        ("nccl", NcclCase("all_reduce", "bf16", 8, 1 << 28)),
        ("nccl", NcclCase("reduce_scatter", "fp32", 2, 1024)),
        ("p2p_copy", P2pCase(0, 1, 1 << 30)),
        ("p2p_copy", P2pCase(1, 0, 1)),
    ],
)
def test_dry_timer_is_fast_and_positive(family, case):
    t = DryRunTimer()
    [(c, samples)] = list(t.measure(family, [case], warmup=1, reps=3))
    assert c == case and len(samples) == 3 and all(s > 0 for s in samples)


def test_dry_timer_scales_with_work():
    t = DryRunTimer()
    small = median(list(t.measure("p2p_copy", [P2pCase(0, 1, 1 << 16)], 1, 9))[0][1])
    big = median(list(t.measure("p2p_copy", [P2pCase(0, 1, 1 << 30)], 1, 9))[0][1])
    assert big > 100 * small  # 16384x the bytes


def test_dry_timer_marks_rows():
    t = DryRunTimer()
    assert t.measured_on == "cpu-dry-run"
    assert "not GPU data" in t.metadata()["note"]


def test_cuda_module_does_not_import_torch():
    had_torch = "torch" in sys.modules
    from servesim_harness.timers import cuda

    assert callable(cuda.CudaTimer)
    assert ("torch" in sys.modules) == had_torch


@pytest.mark.parametrize(
    "name, sku",
    [
        ("NVIDIA H100 80GB HBM3", "h100_sxm"),
        ("NVIDIA H100 PCIe", "h100_pcie"),
        ("NVIDIA H100 NVL", "h100_nvl"),
        ("NVIDIA H200", "h200_sxm"),
        ("NVIDIA A100-SXM4-80GB", "a100_sxm"),
        ("NVIDIA B200", "b200_sxm"),
        ("NVIDIA GeForce RTX 4090", None),
    ],
)
def test_gpu_sku_from_name(name, sku):
    from servesim_harness.timers.cuda import gpu_sku_from_name

    assert gpu_sku_from_name(name) == sku


def test_nccl_cases_grouped_by_gpu_count():
    from servesim_harness.timers.cuda import group_by_num_gpus

    cases = [NcclCase("all_reduce", "bf16", n, e) for n, e in [(2, 1), (4, 1), (2, 2), (8, 1), (4, 2)]]
    assert group_by_num_gpus(cases) == {2: [0, 2], 4: [1, 4], 8: [3]}
