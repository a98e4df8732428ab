"""Traffic without a cluster (generate, stats), servesim.validate, and the lazy cold start."""

from __future__ import annotations

import csv
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import servesim
from servesim import errors, traffic

ROOT = Path(__file__).resolve().parents[2]

CHAT = {
    "streams": [
        {
            "name": "chat",
            "class": "status",
            "open": {
                "arrival": {"kind": "poisson", "rate_per_s": 5},
                "input": {"kind": "lognormal", "mean": 1000, "p50": 800},
                "output": {"kind": "fixed", "value": 100},
            },
        }
    ]
}

CONV = {
    "block_tokens": 64,
    "streams": [
        {
            "name": "conv",
            "end_s": 200,
            "closed": {
                "users": 4,
                "first_input": {"kind": "fixed", "value": 1000},
                "followup_input": {"kind": "fixed", "value": 50},
                "output": {"kind": "fixed", "value": 200},
                "think_s": {"kind": "fixed", "value": 2},
                "turns": {"kind": "fixed", "value": 3},
            },
        }
    ],
}

SMALL = """
seed: 3
duration_s: 120
model: Qwen/Qwen3-32B-FP8
gpu: h100_sxm
backend: vllm
slo: {ttft_ms: 500, itl_ms: 30}
cluster:
  nodes: 1
  pools:
    - {name: prefill, role: prefill, tp: 2, workers: 1}
    - {name: decode, role: decode, tp: 2, workers: 1}
traffic:
  streams:
    - name: chat
      open:
        arrival: {kind: poisson, rate_per_s: 2}
        input: {kind: lognormal, mean: 1000, p50: 800}
        output: {kind: fixed, value: 100}
"""


def test_generate_is_deterministic_for_a_seed() -> None:
    a = traffic.generate(CHAT, duration_s=60, seed=4)
    assert a.column_names == [
        "request_id",
        "time_s",
        "input_tokens",
        "output_tokens",
        "prefix_blocks",
        "class",
        "stream",
        "user",
        "session",
        "turn",
    ]
    assert a.equals(traffic.generate(CHAT, duration_s=60, seed=4))
    assert not a.equals(traffic.generate(CHAT, duration_s=60, seed=5))
    assert a.column("request_id").to_pylist() == list(range(a.num_rows))
    times = a.column("time_s").to_numpy()
    assert (times[1:] >= times[:-1]).all() and times[-1] < 60
    assert set(a.column("class").to_pylist()) == {"status"}
    assert a.column("user").null_count == a.num_rows
    assert (a.column("output_tokens").to_numpy() == 100).all()
    # One block id per started block of block_tokens (512 by default) tokens.
    blocks = a.column("prefix_blocks").to_numpy()
    assert (blocks == (a.column("input_tokens").to_numpy() + 511) // 512).all()


def test_poisson_rate_over_a_long_window() -> None:
    t = traffic.generate(CHAT, duration_s=4000, seed=1)
    # 20 000 expected, standard deviation about 141: within 3 %.
    assert abs(t.num_rows - 20_000) < 600, t.num_rows
    gaps = t.column("time_s").to_numpy()
    assert abs((gaps[1:] - gaps[:-1]).mean() - 0.2) < 0.01


def test_open_loop_traffic_is_what_a_run_sees() -> None:
    sc = servesim.Scenario.from_yaml_str(SMALL)
    t = traffic.generate(sc)  # the scenario's seed and duration
    assert t.num_rows == sc.run().summary["arrived"]
    assert t.equals(traffic.generate(sc.to_dict()["traffic"], duration_s=120, seed=3))
    assert traffic.generate(sc, seed=4).num_rows != t.num_rows
    assert traffic.generate(sc, duration_s=30).num_rows < t.num_rows / 2


def test_closed_loop_users_assume_a_response_time() -> None:
    t = traffic.generate(CONV, response_s=1.5, block_ids=True)
    assert t.column("user").null_count == 0
    df = t.to_pandas()
    assert sorted(df["user"].unique()) == [0, 1, 2, 3]
    assert set(df["turn"]) == {0, 1, 2}
    for (_, _), conv in df.groupby(["user", "session"]):
        conv = conv.sort_values("turn")
        if len(conv) < 2:
            continue
        # Next turn: answered 1.5 s after arrival, then a fixed 2 s think.
        gaps = conv["time_s"].diff().dropna()
        assert (abs(gaps - 3.5) < 1e-9).all(), gaps
        # The prompt grows by the answer (200) and the follow-up (50), and repeats the
        # previous prompt's full blocks.
        assert list(conv["input_tokens"].diff().dropna()) == [250] * (len(conv) - 1)
        ids = list(conv["block_ids"])
        for prev, nxt in zip(ids, ids[1:]):
            full = 1000 // 64
            assert list(prev[:full]) == list(nxt[:full])
    # The whole stream ends by itself (end_s), no duration needed.
    assert df["time_s"].max() < 200
    # A slower answer means fewer follow-ups.
    assert traffic.generate(CONV, response_s=10).num_rows < t.num_rows


def test_stats_match_generate() -> None:
    st = traffic.stats(CHAT, duration_s=600, seed=2)
    t = traffic.generate(CHAT, duration_s=600, seed=2)
    assert st["total"]["count"] == t.num_rows
    assert [c["class"] for c in st["classes"]] == ["status"]
    assert abs(st["total"]["rate_per_s"] - 5) < 0.5
    assert st["total"]["output"]["p50"] == 100


def test_trace_files_and_scenario_files() -> None:
    trace = ROOT / "data" / "traces" / "azure_llm_2023_conv.csv.gz"
    t = traffic.generate(trace)
    assert t.num_rows == 19366
    assert traffic.generate(trace, duration_s=600).num_rows < t.num_rows
    # A relative path is read from `base_dir`.
    near = traffic.stats("azure_llm_2023_conv.csv.gz", base_dir=ROOT / "data" / "traces")
    assert near["total"]["count"] == 19366
    scenario = traffic.generate(ROOT / "scenarios" / "airline-disruption.yaml", duration_s=300)
    assert scenario.equals(traffic.generate(servesim.Scenario.from_yaml(
        ROOT / "scenarios" / "airline-disruption.yaml"), duration_s=300))


def test_bad_input_names_the_field(tmp_path: Path) -> None:
    bad = {"streams": [dict(CHAT["streams"][0])]}
    bad["streams"][0]["open"] = {**CHAT["streams"][0]["open"], "arrival": {"kind": "poisson", "rate_per_s": -5}}
    with pytest.raises(errors.ConfigError, match=r"traffic\.streams\[0\]\.open\.arrival\.rate_per_s"):
        traffic.generate(bad, duration_s=10)
    # A NaN or an infinity, which JSON cannot carry to the engine, is named as such.
    nan = {"streams": [dict(CHAT["streams"][0])]}
    nan["streams"][0]["open"] = {**CHAT["streams"][0]["open"], "arrival": {"kind": "poisson", "rate_per_s": float("nan")}}
    with pytest.raises(errors.ConfigError, match=r"traffic\.streams\[0\]\.open\.arrival\.rate_per_s: nan is not a finite number"):
        traffic.generate(nan, duration_s=10)
    with pytest.raises(errors.ParseError, match=r"traffic\.streams\[0\]\.bogus"):
        traffic.generate({"streams": [{"name": "x", "bogus": 1}]}, duration_s=10)
    with pytest.raises(errors.ConfigError, match="duration_s: .*never ends"):
        traffic.generate(CHAT)
    with pytest.raises(errors.ConfigError, match="duration_s"):
        traffic.generate(CHAT, duration_s=-1)
    with pytest.raises(errors.ConfigError, match="response_s"):
        traffic.generate(CONV, response_s=float("nan"))
    with pytest.raises(errors.ConfigError, match="seed"):
        traffic.generate(CHAT, duration_s=10, seed=-1)
    with pytest.raises(errors.ConfigError, match="max_requests: more than 10 requests"):
        traffic.generate(CHAT, duration_s=100, max_requests=10)
    with pytest.raises(errors.ConfigError, match="format"):
        traffic.generate(CHAT, duration_s=10, format="azure")
    with pytest.raises(errors.IoError, match="nonexistent"):
        traffic.generate(tmp_path / "nonexistent.csv")
    row = tmp_path / "bad.csv"
    row.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,x,10\n")
    with pytest.raises(errors.TrafficError, match="bad.csv:2"):
        traffic.generate(row)
    # A closed loop with zero think and response times stops at max_requests.
    spin = {"streams": [{**CONV["streams"][0], "closed": {**CONV["streams"][0]["closed"], "think_s": {"kind": "fixed", "value": 0}}}]}
    with pytest.raises(errors.ConfigError, match="max_requests"):
        traffic.generate(spin, max_requests=1000)
    # Scenarios report bad traffic fields the same way.
    sc = servesim.Scenario.from_yaml_str(SMALL).to_dict()
    sc["traffic"]["streams"][0]["open"]["arrival"]["rate_per_s"] = 0
    with pytest.raises(errors.ConfigError, match=r"traffic\.streams\[0\]\.open\.arrival\.rate_per_s"):
        servesim.Scenario.from_dict(sc)


def test_validate_three_rows(tmp_path: Path) -> None:
    lines = (ROOT / "data" / "e2e" / "measured_serving.csv").read_text().splitlines()
    rows = list(csv.reader(lines[:4]))
    # The third row as if measured with pipeline parallelism: not modelled, with a reason.
    rows[3][rows[0].index("pp_size")] = "2.0"
    measured = tmp_path / "measured.csv"
    with measured.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    out = tmp_path / "predicted.csv"
    v = servesim.validate(measured, out)
    assert v["rows"] == 3 and v["predicted"] == 2
    assert v["overall"]["rows"] == 2 and v["groups"]["trtllm/agg"]["rows"] == 2
    assert 0 < v["overall"]["tpot_pct"] < 50
    p = v["predictions"]
    assert [r["line"] for r in p] == [2, 3, 4]
    assert p[0]["predicted_ttft_ms"] > 0 and p[0]["measured_tpot_ms"] > 0
    assert p[2]["predicted_ttft_ms"] is None and "pipeline" in p[2]["reason"]
    written = list(csv.DictReader(out.open()))
    assert len(written) == 3 and written[2]["reason"] and written[0]["predicted_tpot_ms"]
    # The default is aiperf's recipe: the client's own statistics come with the means.
    ttft = p[0]["client"]["ttft_ms"]
    assert ttft["mean"] == p[0]["predicted_ttft_ms"] and ttft["p50"] <= ttft["p90"] <= ttft["p99"]
    assert float(written[0]["predicted_output_tokens_per_s"]) == pytest.approx(
        p[0]["client"]["output_tokens_per_s"], rel=1e-3
    )
    assert written[2]["predicted_ttft_p99_ms"] == ""
    steady = servesim.validate(measured, tmp_path / "steady.csv", steady=True)["predictions"]
    assert steady[0]["client"] is None and steady[0]["predicted_ttft_ms"] > 0
    with pytest.raises(errors.ConfigError, match="steady"):
        servesim.validate(measured, out, steady="yes")  # type: ignore[arg-type]
    with pytest.raises(errors.ConfigError, match="not both"):
        servesim.validate(measured, out, from_start=2, steady=True)
    # Measured from the start (one request a user, the start burst): first tokens wait longer.
    burst = servesim.validate(measured, tmp_path / "burst.csv", from_start=1)["predictions"]
    assert burst[0]["predicted_ttft_ms"] > p[0]["predicted_ttft_ms"]
    # aiperf's repeating prompts: a server with prefix caching computes less of each prompt.
    cached = servesim.validate(measured, tmp_path / "cached.csv", dataset_entries=2)["predictions"]
    assert cached[0]["predicted_ttft_ms"] < p[0]["predicted_ttft_ms"]
    for k in (0, 1.5, True, 2**40):
        with pytest.raises(errors.ConfigError, match="dataset_entries"):
            servesim.validate(measured, out, dataset_entries=k)  # type: ignore[arg-type]
    with pytest.raises(errors.ConfigError, match="dataset_entries"):
        servesim.validate(measured, out, dataset_entries=5, steady=True)
    # A client pool smaller than the users: the others wait in the client, in their TTFT.
    pooled = servesim.validate(measured, tmp_path / "pooled.csv", client_connections=1)["predictions"]
    assert pooled[0]["predicted_ttft_ms"] > p[0]["predicted_ttft_ms"]
    for k in (0, 1.5, True, 2**40):
        with pytest.raises(errors.ConfigError, match="client_connections"):
            servesim.validate(measured, out, client_connections=k)  # type: ignore[arg-type]
    with pytest.raises(errors.ConfigError, match="client_connections applies to the aiperf recipe"):
        servesim.validate(measured, out, client_connections=5, steady=True)
    # Kernel tables measured on the user's GPUs: a copy of the shipped ones predicts the same,
    # and a missing folder is an error naming the keyword.
    import shutil

    cal = tmp_path / "cal" / "h100_sxm" / "trtllm"
    cal.mkdir(parents=True)
    shutil.copy(ROOT / "data" / "calibration" / "h100_sxm" / "trtllm" / "gemm.csv.gz", cal)
    same = servesim.validate(measured, tmp_path / "cal.csv", calibration=tmp_path / "cal")["predictions"]
    assert same[0]["predicted_ttft_ms"] == p[0]["predicted_ttft_ms"]
    with pytest.raises(errors.ConfigError, match="^calibration: "):
        servesim.validate(measured, out, calibration=tmp_path / "nowhere")
    # Users in step, as the client starts them: each cohort's prompts queue behind each other.
    folder = tmp_path / "scenarios"
    in_step = servesim.validate(measured, tmp_path / "in_step.csv", in_step=True, scenarios=folder)["predictions"]
    assert in_step[0]["predicted_ttft_ms"] > p[0]["predicted_ttft_ms"]
    # Each predicted row's scenario, written for the user to rerun: in step, its one run is
    # the prediction (the summary's histograms hold three digits).
    assert sorted(f.name for f in folder.iterdir()) == ["line-2.yaml", "line-3.yaml"]
    rerun = servesim.Scenario.from_yaml(folder / "line-2.yaml").run(progress=False)
    assert rerun.summary["by_class"]["bench"]["ttft_ms"]["mean"] == pytest.approx(
        in_step[0]["predicted_ttft_ms"], rel=1e-3
    )
    with pytest.raises(errors.ConfigError, match="in_step"):
        servesim.validate(measured, out, in_step="yes")  # type: ignore[arg-type]
    with pytest.raises(errors.ConfigError, match="in_step applies to the aiperf recipe"):
        servesim.validate(measured, out, in_step=True, from_start=2)
    for k in (0, -1, 1.5, True, "10", 2**40):
        with pytest.raises(errors.ConfigError, match="from_start"):
            servesim.validate(measured, out, from_start=k)  # type: ignore[arg-type]
    bad = tmp_path / "bad.csv"
    # A malformed row gets a reason naming its column; the run goes on to the next row.
    bad.write_text(lines[0] + "\n" + lines[1].replace(",1024,", ",x,", 1) + "\n" + lines[2] + "\n")
    b = servesim.validate(bad, tmp_path / "o.csv")["predictions"]
    assert b[0]["predicted_ttft_ms"] is None and "column isl" in b[0]["reason"]
    assert b[0]["isl"] is None and b[1]["predicted_ttft_ms"] > 0 and b[1]["note"] is None
    # A file without a required column is an error.
    headless = tmp_path / "headless.csv"
    headless.write_text("id,backend\nx,vllm\n")
    with pytest.raises(errors.ParseError, match="silicon_data_source"):
        servesim.validate(headless, tmp_path / "o.csv")
    with pytest.raises(errors.IoError):
        servesim.validate(tmp_path / "missing.csv", tmp_path / "o.csv")


def test_import_is_lazy_and_results_pickle() -> None:
    code = (
        "import sys, servesim\n"
        "assert 'numpy' not in sys.modules and 'pyarrow' not in sys.modules, 'eager'\n"
        "r = servesim.Scenario.from_yaml_str(sys.argv[1]).run()\n"
        "assert 'pyarrow' not in sys.modules, 'run() built tables'\n"
        "assert r.timeseries.num_rows > 0 and 'pyarrow' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code, SMALL], check=True)
    r = servesim.Scenario.from_yaml_str(SMALL).replace(metrics__keep_requests=True).run()
    n = r.requests.num_rows if r.requests is not None else -1
    again = pickle.loads(pickle.dumps(r))
    assert again.requests is not None and again.requests.num_rows == n > 0
    assert again.timeseries.equals(r.timeseries) and again.summary == r.summary


def test_a_scenario_file_runs_for_its_duration_as_the_cli_runs_it() -> None:
    path = ROOT / "scenarios" / "disagg-small.yaml"
    from_file = traffic.stats(path)["total"]["count"]
    from_scenario = traffic.stats(servesim.Scenario.from_yaml(path))["total"]["count"]
    assert from_file == from_scenario > 0


def test_a_trace_cut_by_the_sources_duration_warns_as_the_cli_does() -> None:
    # The suite's replay of 600 s, cut to 300 s: its rows after that are not in the run.
    whole = servesim.Scenario.from_yaml(ROOT / "scenarios" / "planner-suite" / "azure-conv-replay.yaml")
    cut = whole.replace(duration_s=300)
    said = "stream azure-conv: its trace goes on past the run's end at 300 s"
    with pytest.warns(RuntimeWarning, match=said + r".*not counted \(duration_s\)"):
        counted = traffic.stats(cut)["total"]["count"]
    with pytest.warns(RuntimeWarning, match=said + r".*not generated \(duration_s\)"):
        generated = traffic.generate(cut).num_rows
    assert counted == generated > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # The whole replay, and a cut where the caller asked, say nothing.
        assert traffic.stats(whole)["total"]["count"] > counted
        assert traffic.stats(whole, duration_s=300)["total"]["count"] == counted
