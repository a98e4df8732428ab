from __future__ import annotations

import gzip

import pytest

from servesim_harness.calibfmt import format_latency, gzip_bytes, read_family, render, write_family
from servesim_harness.families import COLUMNS

# The format's columns, as the issue specifies them (servesim's reader requires these).
SPEC_COLUMNS = {
    "gemm": "dtype,m,n,k,latency_ms",
    "context_attention": "batch,isl,num_heads,num_kv_heads,head_dim,window,attn_dtype,kv_dtype,latency_ms",
    "generation_attention": "batch,kv_len,num_heads,num_kv_heads,head_dim,window,attn_dtype,kv_dtype,latency_ms",
    "nccl": "op,dtype,num_gpus,message_elems,latency_ms",
    "p2p_copy": "src_gpu,dst_gpu,bytes,latency_ms",
}


def test_columns_match_the_format():
    assert {f: ",".join(c) for f, c in COLUMNS.items()} == SPEC_COLUMNS


@pytest.mark.parametrize(
    "ms, text",
    [
        (0.0123, "0.0123"),
        (1.0, "1"),
        (100.0, "100"),
        (2.5, "2.5"),
        (1e-05, "0.00001"),
        (0.1 + 0.2, "0.3"),  # rounded to 6 significant digits
        (12345.678901, "12345.7"),
        (1234567.0, "1234570"),
        (0.000123456789, "0.000123457"),
    ],
)
def test_latency_text(ms, text):
    assert format_latency(ms) == text
    assert float(text) == float(f"{ms:.6g}")  # reads back to the rounded value exactly


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_latency_must_be_positive(bad):
    with pytest.raises(ValueError):
        format_latency(bad)


def test_render_header_order_and_rows():
    text = render(
        "gemm", "h100_sxm", "vllm",
        {"source": "servesim-harness 0.1.0", "measured_on": "gpu", "created": "2025-01-01T00:00:00Z", "backend_version": "0.11.0"},
        [(["bf16", "1", "4096", "4096"], 0.0125), (["fp8", "16", "4096", "4096"], 0.5)],
    )
    assert text == (
        "# servesim-calibration: 1\n"
        "# family: gemm\n"
        "# gpu: h100_sxm\n"
        "# backend: vllm\n"
        "# backend_version: 0.11.0\n"
        "# created: 2025-01-01T00:00:00Z\n"
        "# measured_on: gpu\n"
        "# source: servesim-harness 0.1.0\n"
        "dtype,m,n,k,latency_ms\n"
        "bf16,1,4096,4096,0.0125\n"
        "fp8,16,4096,4096,0.5\n"
    )


def test_render_rejects_bad_rows_and_keys():
    with pytest.raises(ValueError, match="key fields"):
        render("gemm", "g", "vllm", {}, [(["bf16", "1", "2"], 1.0)])
    with pytest.raises(ValueError, match="reserved"):
        render("gemm", "g", "vllm", {"family": "x"}, [])
    with pytest.raises(ValueError, match="bad header key"):
        render("gemm", "g", "vllm", {"a:b": "x"}, [])
    # Values are kept on one line.
    assert "# note: a b\n" in render("gemm", "g", "vllm", {"note": "a\nb"}, [])


def test_gzip_is_deterministic():
    assert gzip_bytes("abc\n") == gzip_bytes("abc\n")
    assert gzip.decompress(gzip_bytes("abc\n")) == b"abc\n"


def test_write_and_read_round_trip(tmp_path):
    rows = [(["all_reduce", "bf16", "8", "1048576"], 0.0412), (["all_gather", "bf16", "2", "1024"], 0.00529)]
    path = write_family(tmp_path, "nccl", "h200_sxm", "trtllm", {"measured_on": "gpu"}, rows)
    # NCCL collectives live under `nccl`, whatever the serving backend.
    assert path == tmp_path / "h200_sxm" / "nccl" / "nccl.csv.gz"
    header, columns, got = read_family(path)
    assert header == {
        "servesim-calibration": "1", "family": "nccl", "gpu": "h200_sxm", "backend": "nccl", "measured_on": "gpu",
    }
    assert columns == COLUMNS["nccl"]
    assert got == [f + [format_latency(ms)] for f, ms in rows]
    assert [float(r[-1]) for r in got] == [ms for _, ms in rows]
    assert not list(tmp_path.rglob("*.tmp"))
    p2p = write_family(tmp_path, "p2p_copy", "h200_sxm", "trtllm", {}, [(["0", "1", "4096"], 0.01)])
    assert p2p == tmp_path / "h200_sxm" / "trtllm" / "p2p_copy.csv.gz"


def test_read_family_checks(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("# family: gemm\ndtype,m,n,k,latency_ms\n")
    with pytest.raises(ValueError, match="missing header keys"):
        read_family(p)
    p.write_text("# servesim-calibration: 1\n# family: gemm\n# gpu: g\n# backend: vllm\ndtype,m,n,k,latency_ms\nbf16,1,2\n")
    with pytest.raises(ValueError, match="3 fields"):
        read_family(p)
