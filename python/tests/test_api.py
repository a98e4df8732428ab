"""API, errors, Python planners, GIL release and sweeps."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import servesim
from servesim import errors

ROOT = Path(__file__).resolve().parents[2]
AIRLINE = ROOT / "scenarios" / "airline-disruption.yaml"

SMALL = """
seed: 1
duration_s: 60
model: Qwen/Qwen3-32B-FP8
gpu: h100_sxm
backend: vllm
slo: {ttft_ms: 500, itl_ms: 30}
metrics: {keep_requests: true, sample_interval_s: 5}
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


@pytest.fixture(scope="module")
def small() -> servesim.Scenario:
    return servesim.Scenario.from_yaml_str(SMALL)


def test_run_summary_and_tables(small: servesim.Scenario) -> None:
    r = small.run()
    assert r.summary["arrived"] > 60
    assert r.requests is not None and r.requests.num_rows == r.summary["all"]["completed"]
    assert set(r.timeseries.column("pool").to_pylist()) == {"prefill", "decode"}
    assert len(r.requests_pandas()) == r.requests.num_rows
    assert r.timeseries_polars().height == r.timeseries.num_rows


def test_request_rows_carry_class_names_slo_and_policy() -> None:
    two = SMALL + """    - name: batch
      class: summarise
      open:
        arrival: {kind: poisson, rate_per_s: 1}
        input: {kind: fixed, value: 4000}
        output: {kind: fixed, value: 50}
"""
    r = servesim.Scenario.from_yaml_str(two).run()
    t = r.requests
    assert t is not None
    assert set(t.column("class").to_pylist()) == set(r.summary["by_class"]) == {"chat", "summarise"}
    met = t.column("slo_met").to_pylist()
    assert all(isinstance(m, bool) for m in met)
    assert set(t.column("policy").to_pylist()) == {r.policy} == {"none"}
    # Open-loop requests reach the cluster as they are sent: no wait for a client connection.
    assert set(t.column("client_wait_ms").to_pylist()) == {0.0}
    # slo_met counts as the summary's attainment does, class by class (no warm-up here).
    df = r.requests_pandas()
    share = df.groupby("class", observed=True)["slo_met"].mean()
    for name, g in r.summary["by_class"].items():
        assert share[name] == pytest.approx(g["slo_met_share"]), name


def test_a_run_without_capacity_warns(small: servesim.Scenario) -> None:
    assert small.run().warnings == []
    idle = servesim.Scenario.from_yaml_str(
        SMALL.replace("{name: decode, role: decode, tp: 2, workers: 1}", "{name: decode, role: decode, tp: 2, workers: 0}")
    )
    with pytest.warns(RuntimeWarning) as caught:
        r = idle.run()
    said = [str(w.message) for w in caught]
    assert any("pool decode starts with no workers" in m for m in said), said
    # Nothing is served either, so requests pile up: that is said too.
    assert any("queue grows with the run" in m for m in said), said
    assert len(said) == len(r.warnings) and r.warnings == r.summary["warnings"]


def test_deterministic_and_changes(small: servesim.Scenario) -> None:
    a, b = small.run(), small.run()
    assert a.summary == b.summary
    c = small.with_seed(2).run()
    assert c.summary != a.summary
    d = small.with_load(2.0).run()
    assert d.summary["arrived"] > 1.5 * a.summary["arrived"]


def test_with_load_scales_every_rate_or_says_why_not(small: servesim.Scenario) -> None:
    mmpp = small.replace(
        traffic__streams=[
            {
                "name": "chat",
                "open": {
                    "arrival": {
                        "kind": "mmpp",
                        "base_rate_per_s": 1,
                        "burst_rate_per_s": 4,
                        "mean_base_s": 10,
                        "mean_burst_s": 5,
                    },
                    "input": {"kind": "fixed", "value": 100},
                    "output": {"kind": "fixed", "value": 10},
                },
            }
        ]
    )
    arrival = mmpp.with_load(3).to_dict()["traffic"]["streams"][0]["open"]["arrival"]
    assert (arrival["base_rate_per_s"], arrival["burst_rate_per_s"]) == (3, 12)
    with pytest.raises(errors.ConfigError, match="factor"):
        small.with_load(0)
    # A rate the factor takes beyond any number is named, not left to fail the run.
    with pytest.raises(errors.ConfigError, match=r"traffic\.streams\[0\]\.open\.arrival\.burst_rate_per_s times 1e\+308"):
        mmpp.with_load(1e308)
    airline = servesim.Scenario.from_yaml(AIRLINE)
    rate = airline.to_dict()["traffic"]["airline"]["passenger_rate_per_s"]
    doubled = airline.with_load(2).to_dict()["traffic"]["airline"]["passenger_rate_per_s"]
    assert doubled == 2 * rate
    # A rate left at its default (3 passengers/s) is scaled too, and written out.
    cfg = airline.to_dict()
    del cfg["traffic"]["airline"]["passenger_rate_per_s"]
    defaulted = servesim.Scenario.from_dict(cfg, airline.base_dir).with_load(2).to_dict()
    assert defaulted["traffic"]["airline"]["passenger_rate_per_s"] == 6
    fixed = lambda v: {"kind": "fixed", "value": v}  # noqa: E731
    users = {"users": 2, "first_input": fixed(100), "followup_input": fixed(10), "output": fixed(10)}
    users |= {"think_s": fixed(1), "turns": fixed(2)}
    closed = small.replace(traffic__streams=[{"name": "users", "end_s": 60, "closed": users}])
    with pytest.raises(errors.ConfigError, match="no arrival rate"):
        closed.with_load(2)


def test_python_planner_interval_is_bounded(small: servesim.Scenario) -> None:
    class Hasty:
        interval_s = 1e-9

        def decide(self, obs: dict) -> None:
            return None

    with pytest.raises(errors.ConfigError, match="interval_s.*at least 0.001"):
        small.run(planner=Hasty())


def test_replace_lists_and_foreign_values(small: servesim.Scenario) -> None:
    import numpy as np

    two = small.replace(cluster__pools__1__workers=np.int64(2))
    assert two.to_dict()["cluster"]["pools"][1]["workers"] == 2
    with pytest.raises(errors.ConfigError, match="cluster.pools has no item '5'"):
        small.replace(cluster__pools__5__workers=2)
    with pytest.raises(errors.ConfigError, match=r"^slo\.ttft_ms: inf is not a finite number$"):
        small.replace(slo={"ttft_ms": np.float64("inf"), "itl_ms": 30})
    with pytest.raises(errors.ConfigError, match=r"^duration_s: nan is not a finite number$"):
        servesim.Scenario.from_dict({**small.to_dict(), "duration_s": float("nan")})
    with pytest.raises(errors.ConfigError, match=r"seed: Decimal is not a scenario value"):
        from decimal import Decimal

        small.replace(seed=Decimal(3))
    with pytest.raises(errors.ConfigError, match="executor 'threads'"):
        servesim.sweep([small], executor="threads")


def test_from_dict_roundtrip(small: servesim.Scenario) -> None:
    again = servesim.Scenario.from_dict(small.to_dict())
    assert again.run().summary == small.run().summary


def test_file_and_policy() -> None:
    s = servesim.Scenario.from_yaml(AIRLINE).replace(duration_s=300)
    r = s.with_policy("load-threshold").run()
    assert r.summary["scenario"] == "airline-disruption"


def test_frontend_delays_first_tokens(small: servesim.Scenario) -> None:
    ideal = small.run().summary["all"]["ttft_ms"]["mean"]
    slow = small.replace(frontend__latency_ms=40.0).run().summary["all"]["ttft_ms"]["mean"]
    assert 35.0 < slow - ideal < 45.0
    with pytest.raises(errors.ConfigError, match="frontend.token_cost_us"):
        small.replace(frontend__token_cost_us=-1.0)


def test_expert_routing_is_the_models_unless_the_scenario_says(small: servesim.Scenario) -> None:
    with pytest.raises(errors.ConfigError, match="expert_routing: power_law_1.2: Qwen3-32B has no experts"):
        small.replace(expert_routing="power_law_1.2")
    moe = small.replace(model="openai/gpt-oss-20b", duration_s=30)
    with pytest.raises(errors.ConfigError, match="expert_routing.*power_law_1.01"):
        moe.replace(expert_routing="zipf")

    def ttft(s: servesim.Scenario) -> float:
        return float(s.run().summary["all"]["ttft_ms"]["mean"])

    # gpt-oss is timed under the power law of exponent 1.2 unless told otherwise; its
    # prompts' experts take longer than routed evenly.
    default = ttft(moe)
    assert ttft(moe.replace(expert_routing="power_law_1.2")) == default
    assert ttft(moe.replace(expert_routing="balanced")) < default


def test_a_calibration_folder_times_the_run(tmp_path: Path, small: servesim.Scenario) -> None:
    import shutil

    shipped = ROOT / "data" / "calibration"
    for table in ["h100_sxm/vllm/gemm.csv.gz", "h200_sxm/vllm/gemm.csv.gz"]:
        (tmp_path / table).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shipped / table, tmp_path / table)
    # The shipped H100 table, copied: the same run. The H200 one is not read, and said so.
    mine = small.replace(calibration=str(tmp_path))
    with pytest.warns(RuntimeWarning, match="calibration: this run reads none of h200_sxm/vllm/gemm"):
        timed = mine.run().summary
    assert [w for w in timed.pop("warnings") if w.startswith("calibration")] != []
    assert timed == {k: v for k, v in small.run().summary.items() if k != "warnings"}
    with pytest.raises(errors.ConfigError, match="^calibration: .*no such folder"):
        small.replace(calibration=str(tmp_path / "missing"))


def test_errors_are_classes(small: servesim.Scenario) -> None:
    with pytest.raises(errors.ParseError, match="cluster"):
        servesim.Scenario.from_dict({**small.to_dict(), "cluster": {"nodes": "x"}})
    with pytest.raises(errors.ParseError, match="bogus"):
        servesim.Scenario.from_dict({**small.to_dict(), "bogus": 1})
    with pytest.raises(errors.ConfigError, match="duration_s"):
        small.replace(duration_s=-1)
    # A policy no planner has is refused by the copy itself, not first by its run.
    with pytest.raises(errors.PlannerError, match="planner.policy: unknown policy 'no-such-policy'"):
        small.with_policy("no-such-policy")
    with pytest.raises(errors.IoError):
        servesim.Scenario.from_yaml("/nonexistent/x.yaml")
    with pytest.raises(errors.ServesimError):
        small.replace(gpu="no_such_gpu")
    assert issubclass(errors.TrafficError, errors.ServesimError)
    assert not issubclass(errors.ServesimError, RuntimeError)


def test_run_writes_a_timeline_trace_like_the_cli(tmp_path: Path, small: servesim.Scenario) -> None:
    import json

    path = tmp_path / "out.json"
    r = small.run(trace=path)
    assert r.trace is not None and r.trace["path"] == str(path)
    assert r.trace["events"] > 0 and r.trace["stopped_at_s"] is None
    doc = json.loads(path.read_text())
    assert len(doc["traceEvents"]) > r.trace["events"] // 2
    assert r.summary == small.run().summary, "tracing changes nothing of the run"
    assert small.run().trace is None
    # Capped: the trace stops and says when; a window keeps what starts in it.
    capped = small.run(trace=tmp_path / "capped.json", trace_max_events=10)
    assert capped.trace is not None and capped.trace["stopped_at_s"] is not None
    assert "cap" in capped.trace["message"]
    windowed = small.run(trace=tmp_path / "w.json", trace_window=(10, 20))
    assert windowed.trace is not None and 0 < windowed.trace["events"] < r.trace["events"]
    with pytest.raises(errors.ConfigError, match="trace_window: the end must come after"):
        small.run(trace=tmp_path / "x.json", trace_window=(20, 10))
    with pytest.raises(errors.ConfigError, match="trace_max_events: must be at least 1"):
        small.run(trace=tmp_path / "x.json", trace_max_events=0)
    # As the CLI: the window and the cap shape a trace, and are refused without one.
    with pytest.raises(errors.ConfigError, match="give trace=PATH"):
        small.run(trace_window=(0, 10))
    for bad in [(10,), (5, None), "0:10"]:
        with pytest.raises(errors.ConfigError, match=r"trace_window: must be \(START, END\)"):
            small.run(trace=tmp_path / "x.json", trace_window=bad)  # type: ignore[arg-type]
    with pytest.raises(errors.ConfigError, match="trace_max_events: must be an integer"):
        small.run(trace=tmp_path / "x.json", trace_max_events=-1)
    with pytest.raises(errors.ServesimError, match="no-such-folder"):
        small.run(trace=tmp_path / "no-such-folder" / "t.json")


def test_run_writes_no_trace_over_what_the_scenario_reads(tmp_path: Path) -> None:
    # The scenario file, and a trace it replays: each would be lost under the timeline.
    rows = '{"timestamp": 0, "input_length": 200, "output_length": 20}\n'
    (tmp_path / "day.jsonl").write_text(rows)
    text = SMALL.split("traffic:")[0] + (
        "traffic:\n  streams:\n    - name: day\n      trace: {path: day.jsonl, format: mooncake}\n"
    )
    (tmp_path / "s.yaml").write_text(text)
    s = servesim.Scenario.from_yaml(tmp_path / "s.yaml")
    assert s.source == str(tmp_path / "s.yaml") and s.with_seed(2).source == s.source
    with pytest.raises(errors.ConfigError, match="is the scenario file"):
        s.with_seed(2).run(trace=tmp_path / "s.yaml")
    with pytest.raises(errors.ConfigError, match=r"is the scenario's traffic.streams\[0\].trace.path"):
        s.run(trace=tmp_path / "day.jsonl")
    assert (tmp_path / "s.yaml").read_text() == text and (tmp_path / "day.jsonl").read_text() == rows
    assert s.run(trace=tmp_path / "t.json").trace is not None


def test_trace_error_names_file(tmp_path: Path, small: servesim.Scenario) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n0.5,100,10\nbad,row\n")
    cfg = small.to_dict()
    cfg["traffic"] = {"streams": [{"name": "t", "trace": {"path": str(trace), "format": "azure"}}]}
    with pytest.raises((errors.TrafficError, errors.ParseError)) as e:
        servesim.Scenario.from_dict(cfg).run()
    assert "t.csv" in str(e.value) or "trace" in str(e.value)


class Doubler:
    """Doubles decode once, then holds."""

    interval_s = 10.0

    def __init__(self) -> None:
        self.calls = 0

    def decide(self, obs: dict) -> dict:
        self.calls += 1
        prefill = obs["pools"][0]
        assert prefill["name"] == "prefill" and prefill["role"] == "prefill"
        assert prefill["active"] == prefill["ready"] + prefill["starting"]
        # Every field of the Rust observation, recent engine iterations included.
        for it in prefill["iterations"]:
            assert set(it) == {"prefill_tokens", "decode_seqs", "decode_kv_tokens", "duration_ms"}
        assert len(obs["startup_s"]) == len(obs["pools"])
        return {"decode": 2}


def test_python_planner(small: servesim.Scenario) -> None:
    p = Doubler()
    r = small.run(planner=p)
    assert p.calls >= 5
    assert any(e["pool"] == "decode" and e["target"] == 2 for e in r.scaling_events)
    # The same decisions as an Arrow table.
    d = r.decisions
    assert d.num_rows == len(r.scaling_events) > 0
    assert d.column("pool").to_pylist() == [e["pool"] for e in r.scaling_events]
    assert d.column("target").to_pylist() == [e["target"] for e in r.scaling_events]
    assert d.column("pending").to_pylist() == [e["pending"] for e in r.scaling_events]
    assert d.schema.field("reason").type == "string"


def test_decisions_say_which_workers_wait_for_gpus() -> None:
    # After the node is lost, sla asks for more decode workers than the GPUs left hold.
    s = servesim.Scenario.from_yaml(ROOT / "scenarios" / "airline-node-loss.yaml")
    d = s.with_policy("sla").run().decisions.to_pylist()
    waiting = [r for r in d if r["pending"] > 0]
    assert waiting, d
    assert all(r["applied"] and r["active_before"] + r["started"] < r["target"] for r in waiting)


def test_decisions_sla_held_back_say_so() -> None:
    # Dynamo's connector ignores a scaling while workers start; sla records it, not applied.
    s = servesim.Scenario.from_yaml(ROOT / "scenarios" / "planner-suite" / "dynamo-sinusoid.yaml")
    d = s.with_policy("sla").run().decisions
    held = [r for r in d.to_pylist() if not r["applied"]]
    assert held, d.to_pylist()
    assert all(r["reason"].startswith("not ready") for r in held)
    assert all(r["started"] == 0 and r["stopped"] == 0 for r in held)


def test_python_planner_errors(small: servesim.Scenario) -> None:
    class Boom:
        interval_s = 10.0

        def decide(self, obs: dict) -> list:
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        small.run(planner=Boom())

    class Wrong:
        interval_s = 10.0

        def decide(self, obs: dict) -> list:
            return [1]

    with pytest.raises(errors.PlannerError, match="targets"):
        small.run(planner=Wrong())

    class Negative:
        interval_s = 10.0

        def decide(self, obs: dict) -> dict:
            return {"decode": -1}

    with pytest.raises(errors.PlannerError, match='decide\\(\\): pool "decode": -1 is not'):
        small.run(planner=Negative())

    # A bool is not a worker count, though Python counts False as 0: it would empty a pool.
    class Booleans:
        interval_s = 10.0

        def decide(self, obs: dict) -> list:
            return [False, True]

    with pytest.raises(errors.PlannerError, match="is not a dict of pool name to worker count"):
        small.run(planner=Booleans())

    class BooleanByName:
        interval_s = 10.0

        def decide(self, obs: dict) -> dict:
            return {"prefill": False}

    with pytest.raises(errors.PlannerError, match='decide\\(\\): pool "prefill": False is not'):
        small.run(planner=BooleanByName())


def test_runs_release_the_gil() -> None:
    """A Python thread keeps running while a simulation runs in another: with the GIL held
    for the whole run it would stall for the run's full length."""
    s = servesim.Scenario.from_yaml(AIRLINE)
    ticks: list[float] = []
    stop = threading.Event()

    def ticker() -> None:
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    t = threading.Thread(target=ticker)
    t.start()
    t0 = time.perf_counter()
    s.run()
    t1 = time.perf_counter()
    stop.set()
    t.join()
    during = [x for x in ticks if t0 <= x <= t1]
    gaps = [b - a for a, b in zip(during, during[1:])]
    assert len(during) > 10
    assert max(gaps) < 0.5 * (t1 - t0), (max(gaps), t1 - t0)

    # Two runs on two threads at once: both progress (each releases the GIL).
    results: list[dict] = []
    ts = [threading.Thread(target=lambda: results.append(s.run().summary)) for _ in range(2)]
    for x in ts:
        x.start()
    for x in ts:
        x.join()
    assert len(results) == 2 and results[0] == results[1]


def test_ab(small: servesim.Scenario) -> None:
    base = small.with_policy("static", 10.0)
    rep = servesim.ab(base, ["static", "load-threshold"], seeds=2)
    assert len(rep.policies) == 2
    assert rep.runs.num_rows == 4
    assert all(p["runs_judged"] == 2 for p in rep.policies)
    assert servesim.ab(base, ["static"], seeds=2, threads=1).policies == rep.policies[:1]
    # The CLI's form, one string of names: not its characters.
    assert servesim.ab(base, "static, load-threshold", seeds=2).policies == rep.policies
    # Tidy tables: one row per policy × seed, and one per policy × metric of the differences.
    runs = rep.per_run()
    assert len(runs) == 4 and set(runs["policy"]) == {"static", "load-threshold"}
    assert sorted(set(runs["seed"])) == rep.raw["seeds"] == [1, 2]
    assert (runs["gpu_hours"] > 0).all()
    assert (runs["ttft_over_slo_s"] >= 0).all() and list(runs["ttft_over_slo_s"]) == [
        r["summary"]["ttft_over_slo_s"] for r in rep.raw["runs"]
    ]
    diff = rep.differences()
    assert list(diff["metric"]) == ["slo_attainment", "gpu_hours", "goodput_rps", "goodput_per_gpu"]
    assert set(diff["baseline"]) == {"static"}
    gpu = runs.groupby("policy")["gpu_hours"].mean()
    assert diff.loc[diff.metric == "gpu_hours", "mean"].iloc[0] == pytest.approx(gpu["load-threshold"] - gpu["static"])
    # Goodput per GPU held, paired by seed: goodput over the mean GPUs of each run.
    per_gpu = {
        (r["policy"], r["seed"]): r["summary"]["goodput_rps"] / (r["summary"]["gpu_hours"] * 3600 / r["summary"]["duration_s"])
        for r in rep.raw["runs"]
    }
    want = sum(per_gpu[("load-threshold", s)] - per_gpu[("static", s)] for s in (1, 2)) / 2
    assert diff.loc[diff.metric == "goodput_per_gpu", "mean"].iloc[0] == pytest.approx(want)
    text = repr(rep)
    assert text.startswith("AbReport('") and "2 seeds" in text and "load-threshold" in text and len(text) < 300
    for bad in (0, -1, 1.5, True):
        with pytest.raises(errors.ConfigError, match="threads"):
            servesim.ab(small, ["static"], seeds=2, threads=bad)  # type: ignore[arg-type]
    # Seeds the native module cannot take are named, not an OverflowError.
    for bad in (0, -1, 2**70, True):
        with pytest.raises(errors.ConfigError, match="ab: seeds: must be an integer from 1"):
            servesim.ab(small, ["static"], seeds=bad)  # type: ignore[arg-type]
    with pytest.raises(errors.ConfigError, match="ab: first_seed"):
        servesim.ab(small, ["static"], seeds=2, first_seed=-1)


def test_sweep_processes(small: servesim.Scenario) -> None:
    res = servesim.sweep([small.with_seed(s) for s in (1, 2, 3)], progress=False, max_workers=2)
    assert [r.summary["seed"] for r in res] == [1, 2, 3]
    assert res[0].summary == small.run().summary


def test_sweep_ray(small: servesim.Scenario) -> None:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        res = servesim.sweep([small.with_seed(s) for s in (1, 2)], executor="ray", progress=False)
        assert [r.summary["seed"] for r in res] == [1, 2]
    finally:
        ray.shutdown()


def test_perf_step_breaks_an_iteration_down_kind_by_kind() -> None:
    sc = ROOT / "scenarios" / "disagg-small.yaml"
    decode = servesim.perf.step(sc, pool="decode", decode=37, context=2000)
    # vLLM captures graphs of 32 and 40, not 37: the step replays the one of 40.
    assert decode["pool"] == "decode"
    assert decode["launch"] == {"kind": "graph", "batch": 40, "ranks": 1, "sequences": 40}
    kinds = dict(decode["kinds"])
    assert "generation_attention" in kinds and "context_attention" not in kinds
    assert sum(kinds.values()) == pytest.approx(decode["total_ms"], rel=1e-9)
    # The same from a Scenario; a prompt chunk after 3,000 cached tokens costs more.
    mixed = servesim.perf.step(
        servesim.Scenario.from_yaml(sc), pool="decode", decode=37, context=2000, prefill=[(1000, 3000)]
    )
    assert mixed["launch"] == {"kind": "with_prefill"} and mixed["total_ms"] > decode["total_ms"] + 10
    assert "context_attention" in dict(mixed["kinds"])
    with pytest.raises(errors.ConfigError, match=r"pool.*its pools: prefill, decode"):
        servesim.perf.step(sc, pool="x", decode=1)
    with pytest.raises(errors.ConfigError, match="empty step"):
        servesim.perf.step(sc)
    with pytest.raises(errors.ConfigError, match="decode"):
        servesim.perf.step(sc, decode=-1)
    with pytest.raises(errors.ConfigError, match=r"engine\.max_num_seqs"):
        servesim.perf.step(sc, decode=100000)
    # A chunk is a number of tokens or a (tokens, context) pair, as a tuple or a list.
    as_list = servesim.perf.step(sc, pool="decode", decode=37, context=2000, prefill=[[1000, 3000]])
    assert as_list["total_ms"] == mixed["total_ms"]
    for bad in [(1, 2, 3), [1000], "12", 1.5]:
        with pytest.raises(errors.ConfigError, match="prefill"):
            servesim.perf.step(sc, prefill=[bad])
    with pytest.raises(errors.ConfigError, match="prefill"):
        servesim.perf.step(sc, prefill=5)
    # A mapping's values would be lost; a pool is named by a string; counts say their range.
    with pytest.raises(errors.ConfigError, match="prefill"):
        servesim.perf.step(sc, prefill={100: 5})
    with pytest.raises(errors.ConfigError, match="pool: must be a string"):
        servesim.perf.step(sc, pool=1, decode=1)
    with pytest.raises(errors.ConfigError, match="decode: must be an integer from 0 to 4294967295"):
        servesim.perf.step(sc, decode=2**32)


def test_perf_check_gives_each_tables_errors_and_the_spread_of_its_repeats() -> None:
    checks = {c["table"]: c for c in servesim.perf.check("h200_sxm", "sglang")}
    gemm, gdn = checks["gemm_perf"], checks["gdn_perf"]
    assert gemm["measured_under"] == "sglang" and gemm["rows"] > 50_000
    assert 0 < gemm["median"] < gemm["p90"] < 1
    # No GEMM is measured twice; H200's Gated DeltaNet rows repeat calls, and disagree.
    assert gemm["repeated"] == 0 and gemm["repeat_p90"] is None
    assert 0 < gdn["repeated"] <= gdn["rows"] and gdn["repeat_p90"] > 0.15
    # SGLang reads vLLM's attention tables.
    assert checks["context_attention_perf"]["measured_under"] == "vllm"
    with pytest.raises(errors.ModelsError, match="no tables for b300_sxm"):
        servesim.perf.check("b300_sxm", "trtllm")
    with pytest.raises(errors.ModelsError, match="nosuch"):
        servesim.perf.check("nosuch", "trtllm")
    with pytest.raises(errors.ConfigError, match="gpu: must be a string"):
        servesim.perf.check(None, "trtllm")  # type: ignore[arg-type]


def test_completion_offers_the_api_not_the_helpers() -> None:
    # A notebook's completion lists dir(): the public names, each one there, and none of
    # the helpers or modules the package imports for itself (servesim.count was one).
    import servesim.gym

    for module in (servesim, servesim.traffic, servesim.perf, servesim.gym):
        public = set(module.__all__)
        assert set(dir(module)) - {"__version__", "gym"} == public, module.__name__
        assert all(hasattr(module, name) for name in public), module.__name__
    assert "__version__" in dir(servesim)
    # An optional submodule shows once imported.
    assert "gym" in dir(servesim)
    assert not {"count", "json", "number", "whole_in"} & set(dir(servesim))


def test_numpy_scalars_are_numbers_and_booleans_are_not(small: servesim.Scenario, tmp_path: Path) -> None:
    # A notebook's loop over np.arange hands numpy scalars: each argument takes them as the
    # Python numbers they stand for, and still refuses booleans, numpy's too.
    import numpy as np

    request = ROOT / "scenarios" / "profile-qwen3-32b-h200.yaml"
    given = servesim.profile(
        request, tmp_path / "np", concurrency=np.int64(64), ttft=np.float32(400), isl=np.uint16(3000), agg_tp=np.int32(2)
    )
    plain = servesim.profile(request, tmp_path / "py", concurrency=64, ttft=400, isl=3000, agg_tp=2)
    assert given["chosen"] == plain["chosen"] and given["request"] == plain["request"]
    for bad in (True, np.bool_(True)):
        with pytest.raises(errors.ConfigError, match="concurrency must be a whole number"):
            servesim.profile(request, tmp_path / "b", concurrency=bad)
        with pytest.raises(errors.ConfigError, match="ttft must be a number"):
            servesim.profile(request, tmp_path / "b", ttft=bad)
    with pytest.raises(errors.ConfigError, match="total_gpus must be a whole number"):
        servesim.profile(request, tmp_path / "b", total_gpus=np.float64(8.0))
    base = small.with_policy("static", 10.0)
    assert servesim.ab(base, ["static"], seeds=np.int64(2), threads=np.int8(1)).policies == (
        servesim.ab(base, ["static"], seeds=2, threads=1).policies
    )
    with pytest.raises(errors.ConfigError, match="seeds"):
        servesim.ab(base, ["static"], seeds=np.bool_(True))
    assert small.with_load(np.float32(2.0)).to_dict() == small.with_load(2.0).to_dict()
    with pytest.raises(errors.ConfigError, match="factor must be a positive number"):
        small.with_load(np.float64("inf"))
    windowed = small.run(trace=tmp_path / "t.json", trace_window=(np.float64(0.0), np.int64(5)))
    assert windowed.summary == small.run(trace=tmp_path / "u.json", trace_window=(0.0, 5.0)).summary
    # A 0-d array is the number it holds; a time delta is no number (numpy calls it an integer).
    zero_d = servesim.profile(request, tmp_path / "0d", concurrency=np.array(64), ttft=np.array(400.0), isl=3000)
    assert zero_d["chosen"] == plain["chosen"]
    with pytest.raises(errors.ConfigError, match="ttft must be a number"):
        servesim.profile(request, tmp_path / "b", ttft=np.timedelta64(5, "s"))
    with pytest.raises(errors.ConfigError, match="concurrency must be a whole number"):
        servesim.profile(request, tmp_path / "b", concurrency=np.timedelta64(5, "s"))
    with pytest.raises(errors.ConfigError, match="factor must be a positive number"):
        small.with_load(np.timedelta64(5, "s"))
    # The traffic generator's seconds likewise.
    five = servesim.traffic.generate(small, duration_s=np.float32(5.0))
    assert five.equals(servesim.traffic.generate(small, duration_s=5.0))
    with pytest.raises(errors.ConfigError, match="duration_s: must be a number"):
        servesim.traffic.generate(small, duration_s=True)


def test_profile_perf_predict_and_traces(tmp_path: Path) -> None:
    summary = servesim.profile(ROOT / "scenarios" / "profile-qwen3-32b-h200.yaml", tmp_path / "prof")
    assert (tmp_path / "prof" / "dgd.yaml").exists()
    assert summary
    rows = tmp_path / "gemm.csv"
    rows.write_text("version,kernel_source,gemm_dtype,m,n,k\n1,x,bfloat16,64,5120,5120\n1,x,nosuch,8,8,8\n")
    assert servesim.perf.predict("b200_sxm", "vllm", "gemm_perf", rows, tmp_path / "out.csv") == (2, 1)
    assert "predicted_ms" in (tmp_path / "out.csv").read_text()
    # The rows are not written over with their predictions, as the CLI refuses too.
    before = rows.read_text()
    with pytest.raises(errors.ConfigError, match="output: .*is the input table"):
        servesim.perf.predict("b200_sxm", "vllm", "gemm_perf", rows, rows)
    assert rows.read_text() == before
    t = servesim.traffic.read_trace(ROOT / "data" / "traces" / "azure_llm_2023_conv.csv.gz")
    assert t.num_rows == 19366 and t.column_names == ["time_s", "input_tokens", "output_tokens"]
    assert 3400 < t.column("time_s")[-1].as_py() < 3600
    bad = tmp_path / "bad.csv"
    bad.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,x,10\n")
    with pytest.raises(errors.TrafficError, match="bad.csv:2"):
        servesim.traffic.read_trace(bad)
    with pytest.raises(errors.ConfigError, match="mode"):
        servesim.profile(ROOT / "scenarios" / "profile-qwen3-32b-h200.yaml", tmp_path / "p2", mode="slow")
    # The choice rule and the TP pins, as the CLI takes them.
    agg = servesim.profile(ROOT / "scenarios" / "profile-qwen3-32b-h200.yaml", tmp_path / "p3", prefer="agg", agg_tp=2)
    assert agg["choice"]["prefer"] == "agg" and agg["request"]["pins"]["aggregated"] == 2
    with pytest.raises(errors.ConfigError, match="prefer"):
        servesim.profile(ROOT / "scenarios" / "profile-qwen3-32b-h200.yaml", tmp_path / "p4", prefer="cheap")
    with pytest.raises(errors.ConfigError, match="decode_tp"):
        servesim.profile(ROOT / "scenarios" / "profile-qwen3-32b-h200.yaml", tmp_path / "p5", decode_tp=0)
    with pytest.raises(errors.ConfigError, match="agg_tp must be a whole number from 1 to 4294967295"):
        servesim.profile(ROOT / "scenarios" / "profile-qwen3-32b-h200.yaml", tmp_path / "p6", agg_tp=2**40)
    # No output is written over the request.
    own = tmp_path / "own"
    own.mkdir()
    (own / "dgd.yaml").write_text((ROOT / "scenarios" / "profile-qwen3-32b-h200.yaml").read_text())
    with pytest.raises(errors.ConfigError, match="would write dgd.yaml over the request file"):
        servesim.profile(own / "dgd.yaml", own)
    assert "DynamoGraphDeploymentRequest" in (own / "dgd.yaml").read_text()
    # The request's fields are overridden as the CLI's flags do, and named by keyword.
    closed = servesim.profile(
        ROOT / "scenarios" / "profile-qwen3-32b-h200.yaml", tmp_path / "p8", concurrency=64, ttft=400, isl=3000
    )
    assert closed["request"]["concurrency"] == 64 and closed["request"]["isl"] == 3000
    assert closed["request"]["ttft_ms"] == 400.0
    assert abs(closed["chosen"]["concurrency"] - 64) < 64 * 0.1
    with pytest.raises(errors.ConfigError, match="^isl: must be a whole number of tokens") as e:
        servesim.profile(ROOT / "scenarios" / "profile-qwen3-32b-h200.yaml", tmp_path / "p9", isl=2_000_000)
    assert "--" not in str(e.value)
    with pytest.raises(errors.ConfigError, match="total_gpus must be a whole number"):
        servesim.profile(ROOT / "scenarios" / "profile-qwen3-32b-h200.yaml", tmp_path / "p9", total_gpus=2.5)
    with pytest.raises(errors.ConfigError, match="request_rate must be a finite number"):
        servesim.profile(ROOT / "scenarios" / "profile-qwen3-32b-h200.yaml", tmp_path / "p9", request_rate=10**400)
    with pytest.raises(errors.ConfigError, match="ttft must be a number"):
        servesim.profile(ROOT / "scenarios" / "profile-qwen3-32b-h200.yaml", tmp_path / "p9", ttft="fast")
    bare = tmp_path / "bare.yaml"
    bare.write_text(
        (ROOT / "scenarios" / "profile-qwen3-32b-h200.yaml").read_text().replace("    ttft: 500\n", "")
    )
    with pytest.raises(errors.ConfigError, match="give it to profile as a keyword argument"):
        servesim.profile(bare, tmp_path / "p10")
    assert servesim.profile(bare, tmp_path / "p11", ttft=500)["request"]["ttft_ms"] == 500.0
    # A pin the search does not try is named by its keyword, not the CLI's flag.
    with pytest.raises(errors.ConfigError, match="prefill_tp: 3 is not a worker size searched") as e:
        servesim.profile(ROOT / "scenarios" / "profile-qwen3-32b-h200.yaml", tmp_path / "p7", prefill_tp=3)
    assert "--" not in str(e.value)
    # Measured tables time the search: a slower GEMM table lowers what a GPU serves.
    import gzip

    slow = tmp_path / "cal" / "h200_sxm" / "vllm" / "gemm.csv.gz"
    slow.parent.mkdir(parents=True)
    lines = gzip.decompress((ROOT / "data" / "calibration" / "h200_sxm" / "vllm" / "gemm.csv.gz").read_bytes())
    out = []
    for line in lines.decode().splitlines():
        if not line.startswith(("#", "dtype,")):
            *head, ms = line.split(",")
            line = ",".join([*head, str(float(ms) * 3)])
        out.append(line)
    slow.write_bytes(gzip.compress(("\n".join(out) + "\n").encode()))
    base = servesim.profile(ROOT / "scenarios" / "profile-qwen3-32b-h200.yaml", tmp_path / "p8")
    mine = servesim.profile(
        ROOT / "scenarios" / "profile-qwen3-32b-h200.yaml", tmp_path / "p9", calibration=tmp_path / "cal"
    )
    assert mine["request"]["calibration"] == str(tmp_path / "cal")
    assert mine["chosen"]["tokens_per_s_per_gpu"] < base["chosen"]["tokens_per_s_per_gpu"]
    with pytest.raises(errors.ConfigError, match="^calibration: .*no such folder"):
        servesim.profile(ROOT / "scenarios" / "profile-qwen3-32b-h200.yaml", tmp_path / "p10", calibration=tmp_path / "no")
