"""servesim: a deterministic discrete-event simulator of disaggregated LLM serving clusters.

The binding is thin: every simulation runs in Rust with the GIL released.

>>> import servesim
>>> sc = servesim.Scenario.from_yaml("scenarios/airline-disruption.yaml")  # doctest: +SKIP
>>> res = sc.with_policy("sla").with_seed(3).run()                          # doctest: +SKIP
>>> res.summary["slo_attainment"]                                           # doctest: +SKIP
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np
import pyarrow as pa

from servesim import _native, errors
from servesim.errors import (
    ConfigError,
    IoError,
    ModelsError,
    ParseError,
    PlannerError,
    ServesimError,
    TrafficError,
)

__version__: str = _native.version()

__all__ = [
    "Scenario",
    "RunResult",
    "PythonPlanner",
    "AbReport",
    "ab",
    "profile",
    "perf",
    "traffic",
    "sweep",
    "errors",
    "ServesimError",
    "IoError",
    "ParseError",
    "ConfigError",
    "TrafficError",
    "ModelsError",
    "PlannerError",
]


class PythonPlanner(Protocol):
    """A planner policy written in Python.

    ``decide`` gets an observation dict (``now_s``, ``pools`` [with ``name``, ``role``,
    ``ready``, ``starting``, ``draining``, ``active``, ``queue_depth``, ...], ``interval``
    [request statistics], ``gpu_budget``, ``gpus_in_use``, ``slo_ttft_ms``, ``slo_itl_ms``)
    and returns targets: a list with one ``int | None`` per pool, a dict pool name → int,
    or None for no change. ``interval_s`` (optional attribute, default 60) is how often it
    is called, in simulated seconds.
    """

    def decide(self, observation: dict[str, Any]) -> Any: ...


def _table(cols: Sequence[tuple[str, str, bytes]] | None) -> pa.Table | None:
    """Columns (name, dtype, little-endian bytes) → Arrow table, no per-row objects."""
    if cols is None:
        return None
    arrays = [pa.array(np.frombuffer(buf, dtype=np.dtype(dt))) for _, dt, buf in cols]
    return pa.Table.from_arrays(arrays, names=[n for n, _, _ in cols])


@dataclass
class RunResult:
    """What one run returns.

    ``summary`` is the run's summary (the CLI's ``--json`` output) as a dict;
    ``requests`` one row per request (an Arrow table; None unless
    ``metrics.keep_requests`` is true); ``timeseries`` per pool and sample (Arrow table,
    long format, with a ``pool`` name column); ``scaling_events`` the planner's decisions.
    """

    summary: dict[str, Any]
    requests: pa.Table | None
    timeseries: pa.Table
    scaling_events: list[dict[str, Any]]
    pools: list[str]
    wall_s: float
    scenario: "Scenario | None" = field(default=None, repr=False)

    def requests_pandas(self) -> Any:
        """``requests`` as a pandas DataFrame."""
        if self.requests is None:
            raise ConfigError("metrics.keep_requests: false, so no request rows were kept")
        return self.requests.to_pandas()

    def timeseries_pandas(self) -> Any:
        """``timeseries`` as a pandas DataFrame."""
        return self.timeseries.to_pandas()

    def requests_polars(self) -> Any:
        """``requests`` as a polars DataFrame."""
        import polars as pl

        if self.requests is None:
            raise ConfigError("metrics.keep_requests: false, so no request rows were kept")
        return pl.from_arrow(self.requests)

    def timeseries_polars(self) -> Any:
        """``timeseries`` as a polars DataFrame."""
        import polars as pl

        return pl.from_arrow(self.timeseries)


class Scenario:
    """A scenario: the same fields as the YAML files in ``scenarios/``.

    Immutable in use: ``with_*`` and ``replace`` return changed copies, each validated.
    """

    def __init__(self, config: dict[str, Any], base_dir: str | os.PathLike[str] = ".") -> None:
        self._config = copy.deepcopy(config)
        self.base_dir = str(base_dir)
        _native.validate(json.dumps(self._config), self.base_dir)

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> "Scenario":
        """Reads and validates a scenario file (YAML or JSON)."""
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as e:
            raise IoError(f"{p}: {e}") from None
        return cls.from_yaml_str(text, origin=str(p), base_dir=p.parent)

    @classmethod
    def from_yaml_str(
        cls, text: str, origin: str = "<string>", base_dir: str | os.PathLike[str] = "."
    ) -> "Scenario":
        """Parses and validates scenario text."""
        cfg = json.loads(_native.parse_yaml(text, origin, str(base_dir)))
        return cls(cfg, base_dir)

    @classmethod
    def from_dict(cls, config: dict[str, Any], base_dir: str | os.PathLike[str] = ".") -> "Scenario":
        """Validates a scenario given as a dict (errors name the field path)."""
        return cls(config, base_dir)

    def to_dict(self) -> dict[str, Any]:
        """The config as a dict (a copy)."""
        return copy.deepcopy(self._config)

    @property
    def name(self) -> str:
        """The scenario's name."""
        return str(self._config.get("name") or "scenario")

    def replace(self, **changes: Any) -> "Scenario":
        """A copy with fields changed; dotted paths use ``__``, e.g.
        ``replace(duration_s=600, metrics__keep_requests=True)``."""
        cfg = self.to_dict()
        for key, value in changes.items():
            parts = key.split("__")
            node = cfg
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = value
        return Scenario(cfg, self.base_dir)

    def with_seed(self, seed: int) -> "Scenario":
        """A copy with another seed."""
        return self.replace(seed=seed)

    def with_policy(self, policy: str, interval_s: float | None = None) -> "Scenario":
        """A copy with another planner policy (other planner settings kept)."""
        cfg = self.to_dict()
        planner = cfg.get("planner") or {"policy": policy, "interval_s": 60.0}
        planner["policy"] = policy
        if interval_s is not None:
            planner["interval_s"] = interval_s
        cfg["planner"] = planner
        return Scenario(cfg, self.base_dir)

    def with_load(self, factor: float) -> "Scenario":
        """A copy with every open stream's arrival rate scaled by ``factor``."""
        cfg = self.to_dict()

        def scale(node: Any) -> None:
            if isinstance(node, dict):
                for k, v in node.items():
                    if k in ("rate_per_s", "base_rate_per_s", "peak_rate_per_s") and isinstance(
                        v, (int, float)
                    ):
                        node[k] = v * factor
                    else:
                        scale(v)
            elif isinstance(node, list):
                for v in node:
                    scale(v)

        scale(cfg.get("traffic"))
        return Scenario(cfg, self.base_dir)

    def run(self, planner: PythonPlanner | None = None) -> RunResult:
        """Runs to the end with the GIL released; ``planner`` replaces the scenario's policy."""
        interval = float(getattr(planner, "interval_s", 60.0)) if planner is not None else 60.0
        out = _native.run(json.dumps(self._config), self.base_dir, planner, interval)
        pools: list[str] = list(out["pools"])
        ts = _table(out["timeseries"])
        assert ts is not None
        idx = ts.column("pool").to_numpy()
        names = pa.DictionaryArray.from_arrays(pa.array(idx, pa.int32()), pa.array(pools))
        ts = ts.set_column(0, "pool", names)
        return RunResult(
            summary=json.loads(out["summary"]),
            requests=_table(out["requests"]),
            timeseries=ts,
            scaling_events=json.loads(out["scaling_events"]),
            pools=pools,
            wall_s=float(out["wall_s"]),
            scenario=self,
        )

    def __repr__(self) -> str:
        return f"Scenario({self.name!r}, seed={self._config.get('seed')}, duration_s={self._config.get('duration_s')})"


@dataclass
class AbReport:
    """Policies compared on common random numbers: per-policy statistics, paired
    differences against the first policy (95 % intervals), and every run."""

    raw: dict[str, Any]

    @property
    def policies(self) -> list[dict[str, Any]]:
        """Per-policy statistics."""
        return list(self.raw["policies"])

    @property
    def paired(self) -> list[dict[str, Any]]:
        """Each policy against the first."""
        return list(self.raw["paired"])

    @property
    def runs(self) -> pa.Table:
        """Every run, one row each."""
        return pa.Table.from_pylist(self.raw["runs"])


def ab(
    scenario: Scenario,
    policies: Sequence[str],
    seeds: int = 5,
    first_seed: int = 1,
    threads: int = 0,
) -> AbReport:
    """Compares ``policies`` on identical traffic over ``seeds`` seeds (Rust threads)."""
    raw = _native.ab(
        json.dumps(scenario.to_dict()), scenario.base_dir, list(policies), first_seed, seeds, threads
    )
    return AbReport(json.loads(raw))


def profile(request: str | os.PathLike[str], out: str | os.PathLike[str], mode: str = "fast") -> dict[str, Any]:
    """``servesim profile``: searches deployments for a DynamoGraphDeploymentRequest file,
    writes ``dgd.yaml``, the planner profile, ``pareto.csv``, ``summary.json`` and
    ``report.html`` into ``out`` and returns the summary. ``mode``: ``fast`` or ``simulate``."""
    return dict(json.loads(_native.profile(os.fspath(request), os.fspath(out), mode)))


from servesim import perf, traffic  # noqa: E402
from servesim.sweep import sweep  # noqa: E402
