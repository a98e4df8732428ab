from __future__ import annotations

import pytest

from servesim_harness.families import AttnCase, GemmCase, NcclCase, P2pCase
from servesim_harness.sweep import SweepError, load_sweep, parse_sweep

from conftest import SMALL, SWEEPS


def errors_of(text: str) -> list[str]:
    with pytest.raises(SweepError) as e:
        parse_sweep(text, "bad.yaml")
    assert str(e.value).startswith("bad.yaml: ")
    return e.value.errors


def test_small_sweep_enumerates_in_order():
    s = parse_sweep(SMALL, "small.yaml")
    assert (s.gpu, s.backend, s.backend_version, s.repetitions, s.warmup) == ("test_gpu", "sglang", "0.5.0", 3, 1)
    assert s.families() == ["gemm", "context_attention", "generation_attention", "nccl", "p2p_copy"]
    assert s.cases("gemm") == [
        GemmCase("bf16", 1, 256, 128), GemmCase("bf16", 8, 256, 128),
        GemmCase("fp8", 1, 256, 128), GemmCase("fp8", 8, 256, 128),
    ]
    ctx = s.cases("context_attention")
    # max_tokens 64 drops batch 2 x isl 64.
    assert [(c.window, c.batch, c.length) for c in ctx] == [
        (0, 1, 16), (0, 1, 64), (0, 2, 16), (32, 1, 16), (32, 1, 64), (32, 2, 16),
    ]
    assert all(c.attn_dtype == "bf16" and c.kv_dtype == "bf16" for c in ctx)  # defaults
    gen = s.cases("generation_attention")
    assert len(gen) == 2 * 2 * 3  # kv dtypes x heads x kv_len (32, 64, 128)
    assert gen[0] == AttnCase(2, 32, 8, 8, 64, 0, "fp16", "fp16")
    assert [c.length for c in gen[:3]] == [32, 64, 128]
    assert s.cases("nccl")[0] == NcclCase("all_reduce", "bf16", 2, 1024)
    assert len(s.cases("nccl")) == 8
    assert s.cases("p2p_copy") == [P2pCase(0, 1, 4096), P2pCase(1, 0, 4096)]
    assert s.count()["generation_attention"] == 12


def test_defaults_and_ranges():
    s = parse_sweep("gemm: {dtypes: [bf16], m: {from: 1, to: 10, step: 3}, nk: [[16, 16]]}\n")
    assert (s.gpu, s.backend, s.backend_version, s.repetitions, s.warmup) == (None, "vllm", None, 20, 5)
    assert [c.m for c in s.cases("gemm")] == [1, 4, 7, 10]
    s = parse_sweep("p2p_copy: {bytes: {from: 3, to: 100, mul: 3}}\n")
    assert s.cases("p2p_copy") == [P2pCase(0, 1, b) for b in (3, 9, 27, 81)]


def test_a_family_can_list_several_grids():
    s = parse_sweep(
        "gemm:\n"
        "  - {dtypes: [bf16, fp8], m: [1, 64], nk: [[32, 16]]}\n"
        "  - {dtypes: [bf16], m: [8], nk: [[16, 16], [32, 16]]}\n"
        "generation_attention:\n"
        "  - {batch: [1], kv_len: [8, 16], heads: [[8, 1]], head_dim: [64], kernel: sdpa}\n"
        "  - {batch: [4], kv_len: [8], heads: [[8, 1]], head_dim: [64], kernel: sdpa}\n"
    )
    # The grids' cases one after the other, each grid in its own order.
    assert s.cases("gemm") == [
        GemmCase("bf16", 1, 32, 16), GemmCase("bf16", 64, 32, 16),
        GemmCase("fp8", 1, 32, 16), GemmCase("fp8", 64, 32, 16),
        GemmCase("bf16", 8, 16, 16), GemmCase("bf16", 8, 32, 16),
    ]
    assert [(c.batch, c.length) for c in s.cases("generation_attention")] == [(1, 8), (1, 16), (4, 8)]
    assert s.count() == {"gemm": 6, "generation_attention": 3}
    # A single mapping is a list of one grid.
    assert len(parse_sweep(GOOD_GEMM).gemm) == 1


@pytest.mark.parametrize("name", ["example.yaml", "hopper-full.yaml"])
def test_shipped_sweeps_are_valid(name):
    s = load_sweep(SWEEPS / name)
    assert s.families() == ["gemm", "context_attention", "generation_attention", "nccl", "p2p_copy"]
    assert all(n > 0 for n in s.count().values())


GOOD_GEMM = "gemm: {dtypes: [bf16], m: [1], nk: [[16, 16]]}\n"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("gemm: {dtypes: [bf16], m: [1, 2, 4, -4], nk: [[16, 16]]}", "gemm.m[3]: must be a positive integer, got -4"),
        ("gemm: {dtypes: [bf16], m: [1, 0], nk: [[16, 16]]}", "gemm.m[1]: must be a positive integer, got 0"),
        ("gemm: {dtypes: [bf16], m: [1.5], nk: [[16, 16]]}", "gemm.m[0]: must be a positive integer, got 1.5"),
        ("gemm: {dtypes: [bf16], m: [true], nk: [[16, 16]]}", "gemm.m[0]: must be a positive integer, got true (a boolean)"),
        ("gemm: {dtypes: [bf16], m: '8', nk: [[16, 16]]}", "gemm.m: must be a list of positive integers or a range {from, to, mul|step}, got '8' (a string)"),
        ("gemm: {dtypes: [bf16], m: [], nk: [[16, 16]]}", "gemm.m: must not be empty (give at least one value)"),
        ("gemm: {dtypes: [int4], m: [1], nk: [[16, 16]]}", "gemm.dtypes[0]: unknown dtype 'int4' (expected one of: bf16, fp16, fp8)"),
        ("gemm: {dtypes: [], m: [1], nk: [[16, 16]]}", "gemm.dtypes: must not be empty (give at least one dtype name)"),
        ("gemm: {dtypes: [bf16], m: [1], nk: [[16, 16, 16]]}", "gemm.nk[0]: must be a list [n, k], got a list"),
        ("gemm: {dtypes: [bf16], m: [1], nk: [[16, -1]]}", "gemm.nk[0][1]: must be a positive integer, got -1"),
        ("gemm: {dtypes: [fp8], m: [1], nk: [[16, 20]]}", "gemm.nk[0]: fp8 GEMMs need n and k to be multiples of 16, got [16, 20]"),
        ("gemm: {dtypes: [bf16], m: [1, 2, 1], nk: [[16, 16]]}", "gemm.m[2]: duplicate of gemm.m[0] (1)"),
        ("gemm: {dtypes: [bf16], m: [1], nk: [[16, 16]], mm: [1]}", "gemm.mm: unknown key (expected one of: dtypes, m, nk)"),
        ("gemm: {dtypes: [bf16], nk: [[16, 16]]}", "gemm.m: missing (required)"),
        ("gemm: [1, 2]", "gemm[0]: must be a mapping with keys dtypes, m, nk, got 1"),
        ("gemm: []", "gemm: must not be empty (give a mapping, or a list of mappings)"),
        ("gemm: [{dtypes: [bf16], m: [1], nk: [[16, 16]]}, {dtypes: [bf16], m: [0], nk: [[16, 16]]}]", "gemm[1].m[0]: must be a positive integer, got 0"),
        ("gemm: [{dtypes: [bf16], m: [1, 2], nk: [[16, 16]]}, {dtypes: [fp8, bf16], m: [2], nk: [[16, 16]]}]", "gemm[1]: repeats a case of gemm[0] (bf16, 2, 16, 16)"),
        ("generation_attention: [{batch: [1], kv_len: [8], heads: [[8, 4]], head_dim: [64]}, {batch: [2], kv_len: [8], heads: [[8, 4]], head_dim: [64], kernel: sdpa}]", "generation_attention[1].kernel: 'sdpa' differs from generation_attention[0].kernel ('auto'); a run uses one decode kernel"),
        ("gemm: {dtypes: [bf16], m: {from: 8, to: 2, mul: 2}, nk: [[16, 16]]}", "gemm.m: `to` (2) is below `from` (8)"),
        ("gemm: {dtypes: [bf16], m: {from: 1, to: 8}, nk: [[16, 16]]}", "gemm.m: a range needs exactly one of `mul` (geometric) or `step` (arithmetic)"),
        ("gemm: {dtypes: [bf16], m: {from: 1, to: 8, mul: 1}, nk: [[16, 16]]}", "gemm.m.mul: must be an integer >= 2, got 1"),
        ("gemm: {dtypes: [bf16], m: {from: 1, to: 100000000, step: 1}, nk: [[16, 16]]}", "gemm.m: range has 100000000 values; at most 100000 are allowed"),
        ("gemm: {dtypes: [bf16], m: {from: 1, to: 2000, step: 1}, nk: {from: 1, to: 2000, step: 1}}", "gemm.nk: must be a list of [n, k] pairs, got a mapping"),
        ("gemm: {dtypes: [bf16, fp16, fp8], m: {from: 1, to: 100000, step: 1}, nk: [[16, 16], [32, 32], [48, 48], [64, 64]]}", "gemm: up to 1200000 cases; at most 1000000 per family are allowed (split the sweep)"),
        (GOOD_GEMM + "repetitions: 0", "repetitions: must be a positive integer, got 0"),
        (GOOD_GEMM + "warmup: -1", "warmup: must be a non-negative integer, got -1"),
        (GOOD_GEMM + "backend: torch", "backend: unknown backend 'torch' (expected one of: trtllm, vllm, sglang)"),
        (GOOD_GEMM + "backend_version: 0.10", 'backend_version: must be a non-empty string (quote it, e.g. "0.10"), got 0.1'),
        (GOOD_GEMM + "gpu: h100/sxm", "gpu: 'h100/sxm' is not a valid SKU folder name (letters, digits, _ . -)"),
        (GOOD_GEMM + "gemmm: {}", "gemmm: unknown key (expected one of: gpu, backend, backend_version, repetitions, warmup, description, gemm, context_attention, generation_attention, nccl, p2p_copy)"),
        ("context_attention: {batch: [1], isl: [8], heads: [[6, 4]], head_dim: [64]}", "context_attention.heads[0]: num_heads 6 is not a multiple of num_kv_heads 4"),
        ("context_attention: {batch: [1], isl: [8], heads: [[8, 4]], head_dim: [64], windows: [-1]}", "context_attention.windows[0]: must be a non-negative integer, got -1"),
        ("context_attention: {batch: [2], isl: [8], heads: [[8, 4]], head_dim: [64], max_tokens: 4}", "context_attention.max_tokens: 4 excludes every (batch, isl) pair"),
        ("context_attention: {batch: [1], isl: [8], heads: [[8, 4]], head_dim: [64], kv_dtypes: [fp4]}", "context_attention.kv_dtypes[0]: unknown dtype 'fp4' (expected one of: bf16, fp16, fp8)"),
        ("generation_attention: {batch: [1], kv_len: [8], heads: [[8, 4]], head_dim: [64], kernel: triton}", "generation_attention.kernel: unknown decode kernel 'triton' (expected one of: auto, sdpa, flash_attn)"),
        ("generation_attention: {batch: [1], heads: [[8, 4]], head_dim: [64]}", "generation_attention.kv_len: missing (required)"),
        ("nccl: {num_gpus: [1, 2], message_elems: [1024]}", "nccl.num_gpus[0]: must be an integer >= 2, got 1"),
        ("nccl: {ops: [broadcast], num_gpus: [2], message_elems: [1024]}", "nccl.ops[0]: unknown NCCL op 'broadcast' (expected one of: all_reduce, all_gather, reduce_scatter, alltoall)"),
        ("nccl: {ops: [all_gather], num_gpus: [2, 3], message_elems: [1024]}", "nccl.message_elems[0]: 1024 is not divisible by num_gpus 3 (needed by all_gather)"),
        ("p2p_copy: {pairs: [[0, 0]], bytes: [1]}", "p2p_copy.pairs[0]: source and destination are the same GPU (0)"),
        ("p2p_copy: {pairs: [[0, 1]], bytes: [0]}", "p2p_copy.bytes[0]: must be a positive integer, got 0"),
        ("gpu: h100_sxm", "the sweep measures nothing: give at least one of gemm, context_attention, generation_attention, nccl, p2p_copy"),
        ("", "the file is empty (expected a mapping with keys such as gpu, backend, gemm, ...)"),
        ("- gemm", "(top level): must be a mapping of sweep settings, got a list"),
        ("gemm: {dtypes: [bf16], m: [1], m: [2], nk: [[16, 16]]}", "line 1, column 32: YAML error: duplicate key 'm'"),
        ("gemm: {dtypes: [bf16", "YAML error"),
    ],
)
def test_bad_sweeps_name_the_path(text, expected):
    errs = errors_of(text)
    assert any(e == expected or (expected == "YAML error" and "YAML error" in e) for e in errs), errs


def test_all_errors_are_reported_at_once():
    errs = errors_of("repetitions: -1\nwarmup: x\ngemm: {dtypes: [bf16, nope], m: [0], nk: [[16, 16]]}\n")
    assert errs == [
        "repetitions: must be a positive integer, got -1",
        "warmup: must be a non-negative integer, got 'x' (a string)",
        "gemm.dtypes[1]: unknown dtype 'nope' (expected one of: bf16, fp16, fp8)",
        "gemm.m[0]: must be a positive integer, got 0",
    ]


def test_file_errors(tmp_path):
    with pytest.raises(SweepError, match="no such file"):
        load_sweep(tmp_path / "missing.yaml")
    with pytest.raises(SweepError, match="is a folder"):
        load_sweep(tmp_path)
    bad = tmp_path / "bin.yaml"
    bad.write_bytes(b"\xff\xfe\x00gemm")
    with pytest.raises(SweepError, match="not UTF-8"):
        load_sweep(bad)
