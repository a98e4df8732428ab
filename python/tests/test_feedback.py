"""What a user waiting on or correcting a call sees: progress (tqdm optional), warnings
before a long run, and errors that point into the user's own text in words."""

from __future__ import annotations

import sys
import threading
import warnings
from pathlib import Path
from typing import Any

import pytest

import servesim
from servesim import _progress

ROOT = Path(__file__).resolve().parents[2]

BASE = """
seed: 1
duration_s: 30
model: meta-llama/Llama-3.1-8B-Instruct
gpu: h100_sxm
backend: vllm
slo: {ttft_ms: 1000, itl_ms: 30}
cluster:
  nodes: 1
  pools:
    - {name: agg, role: aggregated, tp: 1, workers: 1, startup_s: 0}
traffic:
  streams:
    - name: s
      open:
        arrival: {kind: poisson, rate_per_s: 2}
        input: {kind: fixed, value: 200}
        output: {kind: fixed, value: 20}
"""


class Log:
    """A progress object: records what it is told, from whichever thread."""

    def __init__(self) -> None:
        self.phases: list[tuple[str, int]] = []
        self.done_count = 0
        self._lock = threading.Lock()

    def phase(self, what: str, total: int) -> None:
        with self._lock:
            self.phases.append((what, total))

    def done(self) -> None:
        with self._lock:
            self.done_count += 1


def test_a_run_tells_its_progress_and_stays_the_same_run() -> None:
    sc = servesim.Scenario.from_yaml_str(BASE)
    log = Log()
    told = sc.run(progress=log)
    assert log.phases == [("% simulated", 100)] and log.done_count == 100
    assert told.summary == sc.run(progress=False).summary == sc.run().summary


def test_ab_tells_each_run() -> None:
    sc = servesim.Scenario.from_yaml_str(BASE)
    log = Log()
    servesim.ab(sc, ["static", "sla"], seeds=2, progress=log)
    assert log.phases == [("runs", 4)] and log.done_count == 4


def test_progress_draws_only_where_someone_watches_and_tqdm_is_optional(monkeypatch: pytest.MonkeyPatch) -> None:
    # Under pytest stderr is not a terminal: no bar, whatever tqdm.
    assert _progress.observer(True, "x") is None
    assert _progress.observer(False, "x") is None
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    bar = _progress.observer(True, "x")
    assert isinstance(bar, _progress.TqdmProgress)
    bar.phase("runs", 3)
    bar.done()
    _progress.close(bar)
    # Without tqdm, silently none.
    monkeypatch.setitem(sys.modules, "tqdm", None)
    assert _progress.observer(True, "x") is None
    servesim.Scenario.from_yaml_str(BASE).run(progress=True)


def test_a_bad_progress_is_a_clear_error() -> None:
    with pytest.raises(servesim.ConfigError, match="progress: give True, False or an object"):
        servesim.Scenario.from_yaml_str(BASE).run(progress="yes")


def test_a_long_run_is_warned_before_it_starts() -> None:
    long = BASE.replace("rate_per_s: 2", "rate_per_s: 50000").replace("duration_s: 30", "duration_s: 100")
    sc = servesim.Scenario.from_yaml_str(long + "limits: {max_requests: 1000}\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(servesim.ServesimError):
            sc.run(progress=False)
    assert any("up to 5.0 million requests" in str(w.message) for w in caught), [str(w.message) for w in caught]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        servesim.Scenario.from_yaml_str(BASE).run(progress=False)


def test_errors_point_into_the_users_text_in_words() -> None:
    # A value out of range in YAML text: the line and column where it is written.
    with pytest.raises(servesim.ConfigError) as e:
        servesim.Scenario.from_yaml_str(BASE.replace("tp: 1,", "tp: 3,"), origin="mine.yaml")
    assert str(e.value).startswith("mine.yaml: cluster.pools[0].tp: 3 is not a power of two at line 11")
    # A dict has no text of the user's: no position in a JSON string they never wrote,
    # no Rust type names, a suggestion for a typo.
    cfg: dict[str, Any] = servesim.Scenario.from_yaml_str(BASE).to_dict()
    cfg["cluster"]["pools"][0]["tp"] = "three"
    with pytest.raises(servesim.ParseError) as e:
        servesim.Scenario.from_dict(cfg)
    msg = str(e.value)
    assert "expected a whole number" in msg and "line" not in msg and "u32" not in msg, msg
    assert msg.count("cluster.pools[0].tp") == 1, msg
    cfg = servesim.Scenario.from_yaml_str(BASE).to_dict()
    cfg["cluster"]["pools"][0]["worker"] = cfg["cluster"]["pools"][0].pop("workers")
    with pytest.raises(servesim.ParseError, match="did you mean `workers`"):
        servesim.Scenario.from_dict(cfg)


def test_distilled_models_resolve_to_their_architecture() -> None:
    sc = servesim.Scenario.from_yaml_str(BASE.replace("meta-llama/Llama-3.1-8B-Instruct", "deepseek-ai/DeepSeek-R1-Distill-Llama-8B"))
    assert sc.run(progress=False).summary["all"]["completed"] > 0
    with pytest.raises(servesim.ServesimError, match="Qwen2.5-32B"):
        servesim.Scenario.from_yaml_str(BASE.replace("meta-llama/Llama-3.1-8B-Instruct", "DeepSeek-R1-Distill-Qwen-32B"))
