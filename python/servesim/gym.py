"""A `gymnasium <https://gymnasium.farama.org>`_ environment over a scenario, for learned
planners: the agent is the planner, deciding every interval how many workers each pool
should have.

Needs the ``gym`` extra (``pip install servesim[gym]``); ``import servesim`` does not
import gymnasium, this module does.

>>> from servesim.gym import ServesimEnv                              # doctest: +SKIP
>>> env = ServesimEnv("scenarios/disagg-small.yaml", seed=1, gpu_cost=1000.0)  # doctest: +SKIP
>>> obs, info = env.reset()                                          # doctest: +SKIP
>>> obs, reward, terminated, truncated, info = env.step(env.action_space.sample())  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Mapping, Sequence

import gymnasium
import numpy as np
from gymnasium import spaces

from servesim import Scenario, _native
from servesim._args import count, float_of, optional_number, whole
from servesim.errors import ConfigError

__all__ = ["ServesimEnv"]


def __dir__() -> list[str]:
    """The public names alone (PEP 562), as the package's."""
    return sorted(__all__)


Obs = dict[str, np.ndarray]


class ServesimEnv(gymnasium.Env[dict[str, Any], np.ndarray]):
    """A scenario as an episode: each step is one planner decision.

    The simulation stops at each decision time (every ``interval_s`` simulated seconds,
    after the scenario's ``planner.scrape_lag_s``) and shows the agent what a planner
    policy would see (:class:`servesim.PythonPlanner`'s observation). ``step(action)``
    applies the action as the decision and simulates to the next decision time; the
    episode ends (``terminated``) at the scenario's ``duration_s``. The scenario's own
    ``planner:`` policy is not consulted (its ``interval_s`` is the default interval, its
    ``advisory`` is ignored: actions are applied).

    **Action** (``MultiDiscrete``): one entry per pool, in the scenario's order. A value
    ``k`` in ``0..max_workers[p]`` sets the pool's target to ``k`` workers (starting plus
    ready; a target above what the GPU budget allows starts what fits); the value
    ``max_workers[p] + 1`` (:meth:`unchanged`) leaves the pool as it is.
    ``max_workers[p]`` is the budget's worth of workers (``gpu_budget //
    gpus_per_worker``) unless ``max_workers`` says less.

    **Observation** (``Dict``, float32, everything ≥ 0; statistics with nothing to
    average are 0):

    - ``"pools"``: shape ``(pools, len(POOL_FEATURES))``, per pool
      :attr:`POOL_FEATURES`: workers ``ready``, ``starting``, ``draining``, ``active``
      (starting plus ready, what a target counts), ``queue_depth`` (requests), the
      ``queued_prefill_tokens``, mean ``kv_utilisation`` (0–1) of its serving workers,
      ``iteration_ms`` (mean duration of its recent engine iterations), ``gpus_per_worker``
      and ``startup_s``;
    - ``"cluster"``: shape ``(len(CLUSTER_FEATURES),)``, :attr:`CLUSTER_FEATURES`: the
      decision's ``time_s``; over the last interval, requests ``completed`` and their
      ``ttft_mean_ms``, ``ttft_p90_ms``, ``itl_mean_ms``, ``itl_p90_ms``, ``mean_isl``,
      ``mean_osl``, requests ``arrived`` and their ``arrived_mean_isl``; ``gpus_in_use``,
      ``gpu_budget``, and the SLO targets ``slo_ttft_ms``, ``slo_itl_ms``.

    The full observation, as a dict, is ``info["observation"]``.

    **Reward** of a step, in requests::

        reward = good_requests - gpu_cost * gpu_hours

    where ``good_requests`` is the number of requests that completed during the step
    within both SLOs (TTFT and mean ITL; those arriving after the scenario's warm-up, as
    the run's summary counts goodput), ``gpu_hours`` the GPU-hours held by all pools
    during the step (starting, ready and draining workers), and ``gpu_cost`` (constructor
    argument, requests per GPU-hour) what one GPU-hour is worth in SLO-meeting requests.
    Over an episode the rewards sum to the change of ``slo_met - gpu_cost * gpu_hours``
    (the run's totals, ``info["progress"]``) from the first decision to the end: what
    happens before the first decision is no action's doing. ``info`` holds both terms of
    the step (``good_requests``, ``gpu_hours``).

    **Seeding**: ``reset(seed=s)`` runs the scenario with seed ``s``; ``reset()`` uses
    the constructor's ``seed`` (default: the scenario's) the first time, and afterwards
    a seed drawn from ``np_random``. The same seed and actions give the same
    observations and rewards.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    POOL_FEATURES: tuple[str, ...] = (
        "ready",
        "starting",
        "draining",
        "active",
        "queue_depth",
        "queued_prefill_tokens",
        "kv_utilisation",
        "iteration_ms",
        "gpus_per_worker",
        "startup_s",
    )
    CLUSTER_FEATURES: tuple[str, ...] = (
        "time_s",
        "completed",
        "ttft_mean_ms",
        "ttft_p90_ms",
        "itl_mean_ms",
        "itl_p90_ms",
        "mean_isl",
        "mean_osl",
        "arrived",
        "arrived_mean_isl",
        "gpus_in_use",
        "gpu_budget",
        "slo_ttft_ms",
        "slo_itl_ms",
    )

    def __init__(
        self,
        scenario: Scenario | str | os.PathLike[str],
        seed: int | None = None,
        *,
        gpu_cost: float = 1000.0,
        interval_s: float | None = None,
        max_workers: int | Mapping[str, int] | None = None,
    ) -> None:
        if not isinstance(scenario, Scenario):
            scenario = Scenario.from_yaml(scenario)
        cost = float_of(gpu_cost)
        if cost is None or not math.isfinite(cost) or cost < 0:
            raise ConfigError(f"gpu_cost: {gpu_cost!r} is not a finite number >= 0 (requests per GPU-hour)")
        self.scenario = scenario
        self.gpu_cost = cost
        self.interval_s = optional_number("interval_s", interval_s)
        config = scenario.to_dict()
        self._seed = count("seed", seed if seed is not None else config.get("seed", 0))
        self._config = config
        self._stepper: Any = None
        self._progress: dict[str, Any] = {}

        probe = self._new_stepper(self._seed)
        pools: list[dict[str, Any]] = probe.pools()
        budget = int(probe.gpu_budget)
        self.pool_names: list[str] = [p["name"] for p in pools]
        if isinstance(max_workers, Mapping):
            # A misspelt pool would be left uncapped without a word.
            unknown = sorted(str(k) for k in max_workers if k not in self.pool_names)
            if unknown:
                raise ConfigError(
                    f"max_workers: {', '.join(unknown)}: not a pool of the scenario (its pools: "
                    f"{', '.join(self.pool_names)})"
                )
        self.max_workers: list[int] = [
            _cap(max_workers, p["name"], budget // max(1, int(p["gpus_per_worker"]))) for p in pools
        ]
        self.action_space = spaces.MultiDiscrete([m + 2 for m in self.max_workers])
        n = len(pools)
        self.observation_space = spaces.Dict(
            {
                "pools": spaces.Box(0.0, np.inf, shape=(n, len(self.POOL_FEATURES)), dtype=np.float32),
                "cluster": spaces.Box(0.0, np.inf, shape=(len(self.CLUSTER_FEATURES),), dtype=np.float32),
            }
        )

    def unchanged(self) -> np.ndarray:
        """The action that leaves every pool as it is."""
        return np.array([m + 1 for m in self.max_workers], dtype=np.int64)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Obs, dict[str, Any]]:
        if seed is None and self._np_random is None:
            seed = self._seed
        super().reset(seed=seed)
        episode_seed = seed if seed is not None else int(self.np_random.integers(0, 2**63 - 1))
        self._stepper = self._new_stepper(episode_seed)
        self._stepper.advance(None)
        self._progress = self._stepper.progress()
        raw = self._stepper.observation()
        return _features(raw, self), {"observation": raw, "progress": self._progress, "seed": episode_seed}

    def step(self, action: Any) -> tuple[Obs, float, bool, bool, dict[str, Any]]:
        if self._stepper is None or self._stepper.done:
            raise RuntimeError("step() needs an episode in progress: call reset() first")
        a = np.asarray(action, dtype=np.int64).reshape(-1)
        if a.shape != (len(self.max_workers),) or np.any(a < 0) or np.any(a > np.array(self.max_workers) + 1):
            raise ValueError(f"action {action!r} is not in {self.action_space}")
        targets = [None if int(k) == m + 1 else int(k) for k, m in zip(a, self.max_workers)]
        self._stepper.advance(targets)
        before, now = self._progress, self._stepper.progress()
        self._progress = now
        good = int(now["slo_met"] - before["slo_met"])
        gpu_hours = float(now["gpu_hours"] - before["gpu_hours"])
        reward = float(good - self.gpu_cost * gpu_hours)
        raw = self._stepper.observation()
        info = {"observation": raw, "progress": now, "good_requests": good, "gpu_hours": gpu_hours}
        return _features(raw, self), reward, bool(self._stepper.done), False, info

    def summary(self) -> dict[str, Any]:
        """The episode's run summary so far (the CLI's ``--json``), e.g. at its end."""
        if self._stepper is None:
            raise RuntimeError("summary() needs an episode: call reset() first")
        out: dict[str, Any] = json.loads(self._stepper.summary())
        return out

    def _new_stepper(self, seed: int) -> Any:
        config = {**self._config, "seed": seed}
        return _native.Stepper(json.dumps(config), self.scenario.base_dir, self.interval_s)


def _cap(max_workers: int | Mapping[str, int] | None, pool: str, budget_cap: int) -> int:
    """The largest target of ``pool``: ``max_workers`` (for all pools, or this one's
    entry), never above what the GPU budget holds."""
    if max_workers is None:
        return budget_cap
    value = max_workers.get(pool, budget_cap) if isinstance(max_workers, Mapping) else max_workers
    n = whole(value)
    if n is None or n < 0:
        raise ConfigError(f"max_workers: {pool}: {value!r} is not a worker count (an int >= 0)")
    return min(n, budget_cap)


def _num(x: Any) -> float:
    """A statistic as a feature: None (nothing to average) and non-finite values are 0."""
    if x is None:
        return 0.0
    v = float(x)
    return v if math.isfinite(v) and v > 0 else 0.0


def _mean(xs: Sequence[float]) -> float:
    v = [float(x) for x in xs if x is not None and math.isfinite(float(x))]
    return sum(v) / len(v) if v else 0.0


def _features(obs: dict[str, Any], env: ServesimEnv) -> Obs:
    """The observation dict as the environment's arrays (see :class:`ServesimEnv`)."""
    startup = obs.get("startup_s") or []
    rows = []
    for i, p in enumerate(obs["pools"]):
        derived = {
            "kv_utilisation": _mean(p["kv_utilisation"]),
            "iteration_ms": _mean([it["duration_ms"] for it in p["iterations"]]),
            "startup_s": startup[i] if i < len(startup) else 0.0,
        }
        rows.append([_num(derived[f] if f in derived else p[f]) for f in env.POOL_FEATURES])
    s = obs["interval"]
    cluster = {
        **obs,
        **s,
        "time_s": obs["now_s"],
        "completed": s["requests"],
    }
    return {
        "pools": np.array(rows, dtype=np.float32).reshape(len(rows), len(env.POOL_FEATURES)),
        "cluster": np.array([_num(cluster[f]) for f in env.CLUSTER_FEATURES], dtype=np.float32),
    }
