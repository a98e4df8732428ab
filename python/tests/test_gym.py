"""The gymnasium environment: the checker's rules, determinism, reward and actions."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

import servesim

gymnasium = pytest.importorskip("gymnasium")
from gymnasium.utils.env_checker import check_env  # noqa: E402

from servesim.gym import ServesimEnv  # noqa: E402

SMALL = """
seed: 1
duration_s: 100
model: Qwen/Qwen3-32B-FP8
gpu: h100_sxm
backend: vllm
slo: {ttft_ms: 500, itl_ms: 30}
cluster:
  nodes: 1
  pools:
    - {name: prefill, role: prefill, tp: 2, workers: 1, startup_s: 20}
    - {name: decode, role: decode, tp: 2, workers: 1, startup_s: 20}
traffic:
  streams:
    - name: chat
      open:
        arrival: {kind: poisson, rate_per_s: 3}
        input: {kind: lognormal, mean: 1000, p50: 800}
        output: {kind: fixed, value: 100}
"""


@pytest.fixture(scope="module")
def small() -> servesim.Scenario:
    return servesim.Scenario.from_yaml_str(SMALL)


def episode(env: ServesimEnv, seed: int, actions: list[np.ndarray]) -> list[tuple[object, ...]]:
    obs, info = env.reset(seed=seed)
    out: list[tuple[object, ...]] = [(obs, info["observation"])]
    for a in actions:
        obs, reward, terminated, truncated, info = env.step(a)
        out.append((obs, reward, terminated, truncated, info["observation"]))
        if terminated:
            break
    return out


def same(a: object, b: object) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    return a == b


def test_passes_the_gymnasium_checker(small: servesim.Scenario) -> None:
    env = ServesimEnv(small, seed=3, interval_s=20)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        check_env(env, skip_render_check=True)  # no render modes to check
    # Only the unbounded counts (queues, tokens, time) are worth a warning.
    other = [str(w.message) for w in seen if "maximum value is infinity" not in str(w.message)]
    assert other == []


def test_spaces_come_from_the_deployment(small: servesim.Scenario) -> None:
    env = ServesimEnv(small, interval_s=20, max_workers={"decode": 2})
    # 8 GPUs, TP2: up to 4 prefill workers; decode capped at 2; one more value each for
    # "unchanged".
    assert list(env.action_space.nvec) == [6, 4]
    assert env.pool_names == ["prefill", "decode"]
    assert env.observation_space["pools"].shape == (2, len(ServesimEnv.POOL_FEATURES))
    assert env.observation_space["cluster"].shape == (len(ServesimEnv.CLUSTER_FEATURES),)
    obs, info = env.reset()
    pools = obs["pools"]
    col = ServesimEnv.POOL_FEATURES.index
    assert list(pools[:, col("active")]) == [1.0, 1.0]
    assert list(pools[:, col("gpus_per_worker")]) == [2.0, 2.0]
    cluster = dict(zip(ServesimEnv.CLUSTER_FEATURES, obs["cluster"]))
    assert cluster["time_s"] == 20.0 and cluster["gpu_budget"] == 8.0
    assert info["observation"]["now_s"] == 20.0
    assert info["seed"] == 1  # the scenario's, the constructor giving none


def test_same_seed_and_actions_same_observations_and_rewards(small: servesim.Scenario) -> None:
    env = ServesimEnv(small, interval_s=20)
    rng = np.random.default_rng(0)
    actions = [rng.integers(0, env.action_space.nvec) for _ in range(6)]
    a = episode(env, 7, actions)
    b = episode(ServesimEnv(small, interval_s=20), 7, actions)
    assert same(a, b)
    assert len(a) == 5  # decisions at 20, 40, 60, 80 s; the episode ends at 100 s
    assert a[-1][2] is True and all(step[2] is False for step in a[1:-1])
    c = episode(env, 8, actions)
    assert not same(a, c)
    # reset() without a seed: the constructor's first, then draws from np_random, which
    # reset(seed=...) fixes.
    fresh = ServesimEnv(small, seed=7, interval_s=20)
    _, first = fresh.reset()
    assert first["seed"] == 7
    fresh.reset(seed=11)
    _, then = fresh.reset()
    fresh.reset(seed=11)
    _, again = fresh.reset()
    assert then["seed"] == again["seed"] != 11


def test_reward_is_goodput_minus_gpu_cost(small: servesim.Scenario) -> None:
    env = ServesimEnv(small, interval_s=20, gpu_cost=500.0)
    _, info = env.reset()
    start = info["progress"]
    total, good, hours = 0.0, 0, 0.0
    terminated = False
    while not terminated:
        _, reward, terminated, _, info = env.step(env.unchanged())
        assert reward == pytest.approx(info["good_requests"] - 500.0 * info["gpu_hours"])
        # 4 GPUs held throughout: 20 s of them per step.
        assert info["gpu_hours"] == pytest.approx(4 * 20 / 3600)
        total += reward
        good += info["good_requests"]
        hours += info["gpu_hours"]
    end = info["progress"]
    summary = env.summary()
    assert end["gpu_hours"] == pytest.approx(summary["gpu_hours"])
    assert good == end["slo_met"] - start["slo_met"] > 0
    assert total == pytest.approx(good - 500.0 * (end["gpu_hours"] - start["gpu_hours"]))
    assert summary["scaling_events"] == []  # "unchanged" changes nothing
    # Free GPUs: the reward is the goodput alone.
    free = ServesimEnv(small, interval_s=20, gpu_cost=0.0)
    free.reset()
    _, reward, _, _, info = free.step(free.unchanged())
    assert reward == info["good_requests"]


def test_actions_set_targets(small: servesim.Scenario) -> None:
    env = ServesimEnv(small, interval_s=20)
    env.reset()
    obs, _, _, _, info = env.step(np.array([3, env.max_workers[1] + 1]))
    col = ServesimEnv.POOL_FEATURES.index
    assert obs["pools"][0, col("active")] == 3.0  # two more starting (20 s start-up)
    assert obs["pools"][1, col("active")] == 1.0
    events = env.summary()["scaling_events"]
    assert [(e["pool"], e["active_before"], e["target"], e["started"]) for e in events] == [("prefill", 1, 3, 2)]
    assert env.summary()["planner"] == "external"
    with pytest.raises(ValueError, match="not in MultiDiscrete"):
        env.step(np.array([9, 0]))
    with pytest.raises(ValueError):
        env.step(np.array([1]))
    while not env.step(env.unchanged())[2]:
        pass
    with pytest.raises(RuntimeError, match="reset"):
        env.step(env.unchanged())


def test_bad_arguments_are_config_errors(small: servesim.Scenario) -> None:
    with pytest.raises(servesim.ConfigError, match="gpu_cost"):
        ServesimEnv(small, gpu_cost=-1.0)
    with pytest.raises(servesim.ConfigError, match="max_workers: decode"):
        ServesimEnv(small, max_workers={"decode": -2})
    with pytest.raises(servesim.ConfigError, match=r"max_workers: decod: not a pool of the scenario \(its pools: prefill, decode\)"):
        ServesimEnv(small, max_workers={"decod": 2})
    with pytest.raises(servesim.ConfigError, match="interval"):
        ServesimEnv(small, interval_s=0.0)
    # Booleans are not numbers, NumPy's numbers are.
    with pytest.raises(servesim.ConfigError, match="interval_s: must be a number"):
        ServesimEnv(small, interval_s=True)
    with pytest.raises(servesim.ConfigError, match="seed"):
        ServesimEnv(small, seed=3.7)
    env = ServesimEnv(small, seed=np.int64(3), interval_s=np.float32(20), gpu_cost=np.float64(500), max_workers=np.int8(4))
    assert (env.interval_s, env.gpu_cost, env._seed) == (20.0, 500.0, 3)


def test_importing_servesim_does_not_import_gymnasium() -> None:
    code = "import sys, servesim; print('gymnasium' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
