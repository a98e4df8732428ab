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
import math
import os
import warnings as _warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Sequence

from servesim import _arrow, _native, _progress, errors
from servesim._args import U32_MAX, count, float_of, number, whole_in

# The most events a trace holds unless told otherwise (the CLI's --trace-max-events).
_TRACE_MAX_EVENTS = 1_000_000
from servesim.errors import (
    ConfigError,
    IoError,
    ModelsError,
    ParseError,
    PlannerError,
    ServesimError,
    TrafficError,
)

if TYPE_CHECKING:
    import pyarrow as pa

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
    "validate",
    "errors",
    "ServesimError",
    "IoError",
    "ParseError",
    "ConfigError",
    "TrafficError",
    "ModelsError",
    "PlannerError",
]


def __dir__() -> list[str]:
    """The public names alone (PEP 562), so that a notebook's completion offers the API, not
    the helpers and modules the package imports for itself; the optional submodules
    (``plots``, ``gym``) once imported."""
    optional = [name for name in ("plots", "gym") if name in globals()]
    return sorted([*__all__, "__version__", *optional])


class PythonPlanner(Protocol):
    """A planner policy written in Python.

    ``decide`` gets an observation dict (``now_s``, ``pools`` [with ``name``, ``role``,
    ``ready``, ``starting``, ``draining``, ``active``, ``queue_depth``, ..., ``iterations``
    (recent engine iterations: ``prefill_tokens``, ``decode_seqs``, ``decode_kv_tokens``,
    ``duration_ms``), ``kv_hit_rate`` (a prefix-aware router's predicted share of prompts
    cached over the interval, else None)], ``interval`` [request statistics], ``gpu_budget``, ``gpus_in_use``,
    ``slo_ttft_ms``, ``slo_itl_ms``, ``startup_s``)
    and returns targets: a list with one ``int | None`` per pool, a dict pool name → int,
    or None for no change. ``interval_s`` (optional attribute, default 60) is how often it
    is called, in simulated seconds.
    """

    def decide(self, observation: dict[str, Any]) -> Any: ...


def _decision_schema() -> "pa.Schema":
    import pyarrow as pa

    return pa.schema(
        [
            ("time_s", pa.float64()),
            ("pool", pa.string()),
            ("active_before", pa.int64()),
            ("target", pa.int64()),
            ("started", pa.int64()),
            ("pending", pa.int64()),
            ("stopped", pa.int64()),
            ("applied", pa.bool_()),
            ("observed_arrived", pa.int64()),
            ("observed_completed", pa.int64()),
            ("reason", pa.string()),
        ]
    )


class RunResult:
    """What one run returns.

    ``summary`` is the run's summary (the CLI's ``--json`` output) as a dict;
    ``requests`` one row per request (an Arrow table; None unless
    ``metrics.keep_requests`` is true); ``timeseries`` per pool and sample (Arrow table,
    long format, with a ``pool`` name column); ``scaling_events`` the planner's decisions.

    The tables are built on first access from the raw column buffers the run returned
    (NumPy and pyarrow are imported then, not before).
    """

    def __init__(
        self,
        summary: dict[str, Any],
        scaling_events: list[dict[str, Any]],
        pools: list[str],
        wall_s: float,
        scenario: "Scenario | None" = None,
        *,
        request_columns: Sequence[_arrow.Column] | None = None,
        series_columns: Sequence[_arrow.Column] = (),
        classes: Sequence[str] = (),
    ) -> None:
        self.summary = summary
        self.scaling_events = scaling_events
        self.pools = pools
        self.wall_s = wall_s
        self.scenario = scenario
        self._request_columns = request_columns
        self._series_columns = series_columns
        self.classes = list(classes)
        self._requests: pa.Table | None = None
        self._timeseries: pa.Table | None = None
        #: What the run's trace file holds (``path``, ``bytes``, ``events``,
        #: ``max_events``, ``stopped_at_s``, ``message``), or None without ``trace=``.
        self.trace: dict[str, Any] | None = None

    @property
    def warnings(self) -> list[str]:
        """What the run says about itself that its figures do not show (a pool that never
        had capacity, a queue that grew without bound): the CLI's ``warning:`` lines, also
        issued as ``RuntimeWarning`` when the run returns."""
        return list(self.summary.get("warnings", []))

    @property
    def decisions(self) -> pa.Table:
        """The planner's decisions (Arrow), one row per pool per decision: ``time_s``,
        ``pool``, ``active_before``, ``target``, ``started``, ``pending`` (asked for, waiting
        for GPUs under the budget), ``stopped``, ``applied`` (False in
        advisory mode, and where the policy held the target back, as ``sla`` does while workers
        start), what it observed (``observed_arrived``, ``observed_completed``) and its
        ``reason``."""
        import pyarrow as pa

        columns = ["time_s", "pool", "active_before", "target", "started", "pending", "stopped",
                   "applied", "observed_arrived", "observed_completed", "reason"]
        return pa.Table.from_pylist([{c: e.get(c) for c in columns} for e in self.scaling_events],
                                    schema=_decision_schema())

    @property
    def policy(self) -> str:
        """The planner policy the run had (``none`` without a planner)."""
        return str(self.summary.get("planner") or "none")

    @property
    def requests(self) -> pa.Table | None:
        """One row per request (Arrow), None unless ``metrics.keep_requests`` is true:
        ``class`` as the class names (a dictionary column, the names of
        ``summary["by_class"]``), ``slo_met`` (both SLOs, as the summary's attainment counts
        them) and ``policy`` (the run's planner policy, to concatenate runs)."""
        if self._requests is None and self._request_columns is not None:
            names: dict[str, Sequence[str]] | None = {"class": self.classes} if self.classes else None
            table = _arrow.table(self._request_columns, names=names)
            self._requests = _arrow.with_constant(table, "policy", self.policy)
        return self._requests

    @property
    def timeseries(self) -> pa.Table:
        """Per pool and sample (Arrow, long format); ``pool`` is a dictionary column of
        pool names."""
        if self._timeseries is None:
            self._timeseries = _arrow.table(self._series_columns, names={"pool": self.pools})
        return self._timeseries

    def __getstate__(self) -> dict[str, Any]:
        # Pickled (process sweeps, Ray) as the raw buffers; tables are rebuilt on access.
        return {**self.__dict__, "_requests": None, "_timeseries": None}

    def __repr__(self) -> str:
        s = self.summary
        return (
            f"RunResult(scenario={s.get('scenario')!r}, seed={s.get('seed')}, "
            f"arrived={s.get('arrived')}, wall_s={self.wall_s:.3f})"
        )

    def requests_pandas(self) -> Any:
        """``requests`` as a pandas DataFrame."""
        requests = self.requests
        if requests is None:
            raise ConfigError("metrics.keep_requests: false, so no request rows were kept")
        return requests.to_pandas()

    def timeseries_pandas(self) -> Any:
        """``timeseries`` as a pandas DataFrame."""
        return self.timeseries.to_pandas()

    def requests_polars(self) -> Any:
        """``requests`` as a polars DataFrame."""
        import polars as pl

        requests = self.requests
        if requests is None:
            raise ConfigError("metrics.keep_requests: false, so no request rows were kept")
        return pl.from_arrow(requests)

    def timeseries_polars(self) -> Any:
        """``timeseries`` as a polars DataFrame."""
        import polars as pl

        return pl.from_arrow(self.timeseries)


class Scenario:
    """A scenario: the same fields as the YAML files in ``scenarios/``.

    Immutable in use: ``with_*`` and ``replace`` return changed copies, each validated.
    """

    def __init__(self, config: dict[str, Any], base_dir: str | os.PathLike[str] = ".") -> None:
        self._config = _plain(config, "")
        self.base_dir = str(base_dir)
        #: The file it was read from (``from_yaml``), or None; its changed copies keep it,
        #: so that no run writes over it.
        self.source: str | None = None
        _native.validate(json.dumps(self._config), self.base_dir)

    def _derived(self, config: dict[str, Any]) -> "Scenario":
        s = Scenario(config, self.base_dir)
        s.source = self.source
        return s

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> "Scenario":
        """Reads and validates a scenario file (YAML or JSON)."""
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as e:
            raise IoError(f"{p}: {e}") from None
        s = cls.from_yaml_str(text, origin=str(p), base_dir=p.parent)
        s.source = str(p)
        return s

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
            node: Any = cfg
            for i, part in enumerate(parts):
                last = i == len(parts) - 1
                if isinstance(node, list):
                    if not part.isdigit() or int(part) >= len(node):
                        where = ".".join(parts[:i]) or "(root)"
                        raise ConfigError(f"replace: {key}: {where} has no item {part!r}")
                    if last:
                        node[int(part)] = value
                    else:
                        node = node[int(part)]
                elif isinstance(node, dict):
                    if last:
                        node[part] = value
                    else:
                        # An absent optional section (None) is started empty.
                        if node.get(part) is None:
                            node[part] = {}
                        node = node[part]
                else:
                    where = ".".join(parts[:i])
                    raise ConfigError(f"replace: {key}: {where} is {node!r}, not a mapping or list")
        return self._derived(cfg)

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
        return self._derived(cfg)

    def with_load(self, factor: float) -> "Scenario":
        """A copy with every open stream's arrival rate scaled by ``factor`` (every rate of
        every arrival kind, the airline passengers' rate, its default too, a replayed trace's
        ``speed``). Closed loops keep their users. A ``ConfigError`` when there is no rate to
        scale."""
        scale = float_of(factor)
        if scale is None or not 0 < scale < math.inf:
            raise ConfigError(f"with_load: factor must be a positive number, got {factor!r}")
        cfg = self.to_dict()
        traffic, scaled = _native.scale_rates(json.dumps(cfg.get("traffic") or {}), scale)
        if scaled == 0:
            raise ConfigError("with_load: traffic has no arrival rate to scale (closed loops only)")
        scaled_traffic = json.loads(traffic)
        # JSON has no infinity: a rate the factor overflowed comes back as null.
        lost = _overflowed(cfg.get("traffic") or {}, scaled_traffic, "traffic")
        if lost is not None:
            raise ConfigError(f"with_load: {lost} times {factor!r} is beyond any number")
        cfg["traffic"] = scaled_traffic
        return self._derived(cfg)

    def run(
        self,
        planner: PythonPlanner | None = None,
        *,
        trace: str | os.PathLike[str] | None = None,
        trace_max_events: int = _TRACE_MAX_EVENTS,
        trace_window: tuple[float, float] | None = None,
        progress: Any = True,
    ) -> RunResult:
        """Runs to the end with the GIL released; ``planner`` replaces the scenario's policy
        and is called every ``planner.interval_s`` seconds of simulated time (default: the
        scenario's ``planner.interval_s``, else 60).

        ``trace``, a file path, writes the run's timeline there as a Chrome / Perfetto trace
        (as ``servesim run --trace``): at most ``trace_max_events`` events, only what starts
        within ``trace_window`` (start and end, simulated seconds) when given. What it holds
        is the result's ``trace``.

        Before the run, what can be said of it already (a run that will take long: up to a
        million requests or more) is warned as a ``RuntimeWarning``; after it, the summary's
        ``warnings``. ``progress``: ``True`` draws a tqdm bar of the simulated time once the
        run has lasted two seconds, where someone watches (a terminal, a notebook with
        ipywidgets); ``False`` none; or an object with ``phase(what, total)`` and ``done()``
        (see ``servesim._progress``). tqdm is optional."""
        default = float((self._config.get("planner") or {}).get("interval_s", 60.0))
        interval = getattr(planner, "interval_s", default) if planner is not None else default
        interval_s = float_of(interval)
        if interval_s is None:
            raise ConfigError(f"planner.interval_s: {interval!r} is not a number of seconds")
        if trace is None and (trace_window is not None or trace_max_events != _TRACE_MAX_EVENTS):
            # As the CLI: these shape a trace, and without one they would be ignored.
            raise ConfigError("trace_window and trace_max_events apply to a trace: give trace=PATH")
        if trace is not None and self.source is not None and _same_file(trace, self.source):
            raise ConfigError(
                f"trace: {os.fspath(trace)} is the scenario file; give another path, or it would be written over"
            )
        window = None
        if trace_window is not None:
            pair = list(trace_window) if isinstance(trace_window, (tuple, list)) else None
            ends = None if pair is None or len(pair) != 2 else [float_of(x) for x in pair]
            if ends is None or ends[0] is None or ends[1] is None:
                raise ConfigError(f"trace_window: must be (START, END) in simulated seconds, got {trace_window!r}")
            window = (ends[0], ends[1])
        max_events = count("trace_max_events", trace_max_events)
        config = json.dumps(self._config)
        before = _native.warnings_before(config, self.base_dir)
        for w in before:
            _warnings.warn(f"{self.name}: {w}", RuntimeWarning, stacklevel=2)
        obs = _progress.observer(progress, self.name)
        try:
            out = _native.run(
                config,
                self.base_dir,
                planner,
                interval_s,
                None if trace is None else os.fspath(trace),
                max_events,
                window,
                obs,
            )
        finally:
            _progress.close(obs)
        result = RunResult(
            summary=json.loads(out["summary"]),
            scaling_events=json.loads(out["scaling_events"]),
            pools=list(out["pools"]),
            wall_s=float(out["wall_s"]),
            scenario=self,
            request_columns=out["requests"],
            series_columns=out["timeseries"],
            classes=out["classes"],
        )
        result.trace = out["trace"]
        for w in result.warnings:
            if w not in before:
                _warnings.warn(f"{self.name}: {w}", RuntimeWarning, stacklevel=2)
        return result

    def __repr__(self) -> str:
        return f"Scenario({self.name!r}, seed={self._config.get('seed')}, duration_s={self._config.get('duration_s')})"


def _overflowed(before: Any, after: Any, path: str) -> str | None:
    """The first field (its path) that holds a number in ``before`` and nothing in ``after``."""
    if isinstance(before, dict) and isinstance(after, dict):
        for key, value in before.items():
            found = _overflowed(value, after.get(key), f"{path}.{key}")
            if found is not None:
                return found
    elif isinstance(before, list) and isinstance(after, list):
        for i, (b, a) in enumerate(zip(before, after)):
            found = _overflowed(b, a, f"{path}[{i}]")
            if found is not None:
                return found
    elif isinstance(before, (int, float)) and not isinstance(before, bool) and after is None:
        return path
    return None


def _same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name one file (as written, or through links where both exist)."""
    if os.path.abspath(a) == os.path.abspath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _plain(value: Any, path: str) -> Any:
    """A deep copy of a config made of YAML's values (mappings with string keys, lists,
    strings, numbers, booleans, None); numpy scalars and arrays become numbers and lists.
    Anything else is a ``ConfigError`` naming its path, as is a NaN or an infinity (no
    scenario field takes one, and JSON, which carries the config to the engine, has none)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{path or '(root)'}: {value} is not a finite number")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ConfigError(f"{path or '(root)'}: key {k!r} is not a string")
            out[k] = _plain(v, f"{path}.{k}" if path else k)
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return _plain(value.tolist(), path)
    raise ConfigError(f"{path or '(root)'}: {type(value).__name__} is not a scenario value")


class AbReport:
    """Policies compared on common random numbers: per-policy statistics, paired
    differences against the first policy (95 % intervals), and every run. Where every seed
    gave a bit-identical run (a trace replay: the seed reaches no randomness), a policy's or
    pair's ``identical_seeds`` is true and its intervals' ``low``/``high`` are None; over
    one seed every interval is None too, and ``raw["no_interval"]`` says why when no
    estimate has one."""

    # A plain class, not a dataclass: `dataclasses` (through `inspect`) would add a third to
    # the cost of `import servesim`.
    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AbReport) and self.raw == other.raw

    def __repr__(self) -> str:
        seeds = len(self.raw.get("seeds", []))
        parts = []
        for p in self.raw.get("policies", []):
            att = (p.get("slo_attainment") or {}).get("mean")
            att_s = "-" if att is None else f"{100 * att:.1f}%"
            parts.append(f"{p['policy']} {att_s} SLO, {p['goodput_rps']['mean']:.2f} req/s, {p['gpu_hours']['mean']:.2f} GPU-h")
        return f"AbReport({self.raw.get('scenario')!r}, {seeds} seeds: " + "; ".join(parts) + ")"

    def per_run(self) -> Any:
        """One row per policy × seed (pandas): ``policy``, ``seed``, ``slo_attainment``,
        ``goodput_rps``, ``gpu_hours``, ``ttft_p90_ms``, ``itl_p90_ms`` (per-request mean
        ITL), ``ttft_over_slo_s`` (seconds of the run with its TTFT p90 over the target),
        ``completed``, ``scaling_decisions``."""
        import pandas as pd

        rows = []
        for r in self.raw["runs"]:
            s = r["summary"]
            rows.append(
                {
                    "policy": r["policy"],
                    "seed": r["seed"],
                    "slo_attainment": s.get("slo_attainment"),
                    "goodput_rps": s["goodput_rps"],
                    "gpu_hours": s["gpu_hours"],
                    "ttft_p90_ms": s["all"]["ttft_ms"].get("p90"),
                    "itl_p90_ms": s["all"]["itl_mean_ms"].get("p90"),
                    "ttft_over_slo_s": s["ttft_over_slo_s"],
                    "completed": s["all"]["completed"],
                    "scaling_decisions": s["scaling_decisions"],
                }
            )
        return pd.DataFrame(rows)

    def differences(self) -> Any:
        """The paired differences (pandas), one row per policy × metric against the first
        policy: ``policy``, ``baseline``, ``metric`` (``slo_attainment``, ``gpu_hours``,
        ``goodput_rps``, ``goodput_per_gpu``), ``mean``, ``low``, ``high`` (the 95 % interval;
        None where the seeds give none)."""
        import pandas as pd

        rows = []
        for p in self.raw["paired"]:
            for metric in ("slo_attainment", "gpu_hours", "goodput_rps", "goodput_per_gpu"):
                e = p[metric]
                rows.append(
                    {
                        "policy": p["policy"],
                        "baseline": p["baseline"],
                        "metric": metric,
                        "mean": e["mean"],
                        "low": e.get("low"),
                        "high": e.get("high"),
                    }
                )
        return pd.DataFrame(rows)

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
        import pyarrow as pa

        return pa.Table.from_pylist(self.raw["runs"])


def ab(
    scenario: Scenario,
    policies: Sequence[str] | str,
    seeds: int = 20,
    first_seed: int | None = None,
    threads: int | None = None,
    progress: Any = True,
) -> AbReport:
    """Compares ``policies`` on identical traffic over ``seeds`` seeds from ``first_seed``
    (None: the scenario's seed), on ``threads`` Rust threads (None: one per core). The
    defaults are the CLI's (``servesim ab``: 20 seeds from the scenario's). ``policies`` is a
    list of names, or one string of them separated by commas, as the CLI takes them
    (``"static,sla"``).

    A run that will take long is warned before it starts (``RuntimeWarning``).
    ``progress``: ``True`` draws a tqdm bar of the runs done once the call has lasted two
    seconds, where someone watches; ``False`` none; or an object with ``phase(what,
    total)`` and ``done()`` (see ``servesim._progress``)."""
    if first_seed is None:
        first_seed = int(scenario.to_dict().get("seed", 0))
    first_seed = count("ab: first_seed", first_seed)
    n_seeds = whole_in(seeds, 1, (1 << 64) - 1)
    if n_seeds is None:
        raise ConfigError(f"ab: seeds: must be an integer from 1 to {(1 << 64) - 1}, got {seeds!r}")
    n_threads = None if threads is None else whole_in(threads, 1, U32_MAX)
    if threads is not None and n_threads is None:
        raise ConfigError(
            f"ab: threads must be a whole number from 1 to {U32_MAX} (None: one per core), got {threads!r}"
        )
    if isinstance(policies, str):
        # The CLI's form; a string is a sequence of its characters otherwise.
        policies = [p.strip() for p in policies.split(",")]
    config = json.dumps(scenario.to_dict())
    for w in _native.warnings_before(config, scenario.base_dir):
        _warnings.warn(f"{scenario.name}: {w}", RuntimeWarning, stacklevel=2)
    obs = _progress.observer(progress, "servesim ab")
    try:
        raw = _native.ab(config, scenario.base_dir, list(policies), first_seed, n_seeds, n_threads or 0, obs)
    finally:
        _progress.close(obs)
    return AbReport(json.loads(raw))


def profile(
    request: str | os.PathLike[str],
    out: str | os.PathLike[str],
    mode: str = "fast",
    prefer: str = "goodput",
    prefill_tp: int | None = None,
    decode_tp: int | None = None,
    agg_tp: int | None = None,
    progress: Any = True,
    calibration: str | os.PathLike[str] | None = None,
    *,
    model: str | None = None,
    backend: str | None = None,
    gpu: str | None = None,
    total_gpus: int | None = None,
    gpus_per_node: int | None = None,
    isl: int | None = None,
    osl: int | None = None,
    ttft: float | None = None,
    itl: float | None = None,
    request_rate: float | None = None,
    concurrency: int | None = None,
) -> dict[str, Any]:
    """``servesim profile``: searches deployments for a DynamoGraphDeploymentRequest file,
    writes ``dgd.yaml``, the planner profile, ``pareto.csv``, ``summary.json`` and
    ``report.html`` into ``out`` and returns the summary. ``mode``: ``fast`` or ``simulate``;
    ``prefer``: the choice rule (``goodput``, ``disagg`` or ``agg``, as ``--prefer``);
    ``prefill_tp``, ``decode_tp``, ``agg_tp``: worker sizes in GPUs fixed per role (TP, or TP ×
    attention DP for a mixture of experts; only those searched).
    When no deployment meets both SLOs the closest is written and ``summary["meets_slo"]`` is
    false (the CLI exits with status 2). ``progress`` as ``ab``'s (the simulate mode's
    candidates). ``calibration``: a folder of kernel tables measured on your GPUs, as
    ``--calibration`` (a scenario's ``calibration`` field likewise).
    The keyword-only ``model``, ``backend``, ``gpu``, ``total_gpus``, ``gpus_per_node``,
    ``isl``, ``osl``, ``ttft`` and ``itl`` (ms), ``request_rate`` (requests/s) and
    ``concurrency`` replace the request's fields, as the CLI's flags of the same names do
    (``concurrency=64``: a closed loop of 64 users)."""
    counts = {
        "prefill_tp": prefill_tp,
        "decode_tp": decode_tp,
        "agg_tp": agg_tp,
        "total_gpus": total_gpus,
        "gpus_per_node": gpus_per_node,
        "isl": isl,
        "osl": osl,
        "concurrency": concurrency,
    }
    ints: dict[str, int | None] = {}
    for name, n in counts.items():
        ints[name] = None if n is None else whole_in(n, 1, U32_MAX)
        if n is not None and ints[name] is None:
            raise ConfigError(f"profile: {name} must be a whole number from 1 to {U32_MAX}, got {n!r}")
    numbers: dict[str, float | None] = {}
    for name, v in (("ttft", ttft), ("itl", itl), ("request_rate", request_rate)):
        try:
            numbers[name] = None if v is None else number(v)
        except OverflowError:
            raise ConfigError(f"profile: {name} must be a finite number, got {v!r}") from None
        if v is not None and numbers[name] is None:
            raise ConfigError(f"profile: {name} must be a number, got {v!r}")
    for name, text in (("model", model), ("backend", backend), ("gpu", gpu)):
        if text is not None and not isinstance(text, str):
            raise ConfigError(f"profile: {name} must be a string, got {text!r}")
    overrides = {
        "model": model,
        "backend": backend,
        "gpu": gpu,
        "total_gpus": ints["total_gpus"],
        "gpus_per_node": ints["gpus_per_node"],
        "isl": ints["isl"],
        "osl": ints["osl"],
        "ttft": numbers["ttft"],
        "itl": numbers["itl"],
        "request_rate": numbers["request_rate"],
        "concurrency": ints["concurrency"],
    }
    obs = _progress.observer(progress, "servesim profile")
    try:
        cal = None if calibration is None else os.fspath(calibration)
        text = _native.profile(
            os.fspath(request),
            os.fspath(out),
            mode,
            prefer,
            ints["prefill_tp"],
            ints["decode_tp"],
            ints["agg_tp"],
            obs,
            cal,
            overrides,
        )
    finally:
        _progress.close(obs)
    return dict(json.loads(text))


def validate(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    from_start: int | None = None,
    steady: bool = False,
    progress: Any = True,
    dataset_entries: int | None = None,
    in_step: bool = False,
    client_connections: int | None = None,
    scenarios: str | os.PathLike[str] | None = None,
    calibration: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """``servesim validate --input MEASURED.csv --output PREDICTED.csv``: simulates every
    measured serving row (the columns of ``data/e2e/measured_serving.csv``) the way it was
    measured (its model, GPU, backend and parallelism, fixed ISL/OSL) and writes each row to
    ``output`` with ``predicted_ttft_ms``, ``predicted_tpot_ms``, ``reason`` (why a row could
    not be modelled, naming the column at fault), ``note`` (what the prediction assumed that
    the row does not say: a row without ``silicon_concurrency`` runs at the concurrency its
    batch sizes imply) and the benchmark client's percentiles and output throughput.

    By default each row runs the benchmark client as aiconfigurator's recipe runs aiperf:
    ``C`` users sending together, ``2·C`` warm-up requests not counted, then the means of
    ``20·C`` measured ones. ``steady=True`` (``--steady``) predicts the steady-state means of
    users out of step instead; ``from_start=K`` (``--from-start K``) the means of the first
    ``K`` requests of every user from an idle server, all users sending their first at once.
    ``dataset_entries=N`` (``--dataset-entries N``, the recipe only) draws the client's
    prompts from ``N`` repeating ones, as aiperf's dataset does (100 there by default), so a
    server with prefix caching finds them cached; by default every prompt is fresh.
    ``in_step=True`` (``--in-step``, the recipe only) keeps the users as the client starts
    them, all together, instead of out of step (independent phases, what client and network
    jitter leave a long run in); the measured runs sit between the two readings.
    ``client_connections=N`` (``--client-connections N``, the recipe only) gives the client a
    pool of ``N`` connections: at most ``N`` requests at the server, the others waiting in
    the client with their TTFT counted from when they were issued (aiohttp's and httpx's
    pools hold 100 by default); by default there is no limit.
    ``scenarios=DIR`` (``--scenarios DIR``) also writes the scenario each predicted row
    simulated as ``DIR/line-N.yaml`` (the first of the draws its prediction averages, headed
    by which of its requests the prediction reads), a file ``Scenario.from_yaml`` and
    ``servesim run`` read; ``DIR`` is created if need be, and a ``ConfigError`` if it holds
    such files already.
    ``calibration=DIR`` (``--calibration DIR``) times each row's kernels with the tables of
    ``DIR`` measured on your GPUs (a scenario's ``calibration``) where it has tables the
    row's GPU and backend read; the other rows use the shipped tables, and their ``note``
    says why.

    Returns ``rows`` (rows read), ``predicted`` (rows modelled), ``overall`` and ``groups``
    (by ``backend/mode``) as ``{"rows", "ttft_pct", "tpot_pct", "ttft_rows", "tpot_rows"}``:
    mean absolute percentage errors over the rows with both a measurement and a prediction
    of the figure (``None`` where none has), and how many rows each is over; and ``predictions``
    (one dict per row: ``line``, ``backend``, ``mode``, ``concurrency``, ``isl``, ``osl``,
    measured and predicted TTFT/TPOT in ms, ``reason``, ``note``, and ``client``: the
    client's ``ttft_ms`` and ``tpot_ms`` as ``{"mean", "p50", "p90", "p99"}`` and its
    ``output_tokens_per_s``, or ``None``; ``concurrency``, ``isl`` and ``osl`` are ``None``
    where the row does not say). A malformed row gets a ``reason`` and the run goes on; a
    file without a header or a required column raises ``ParseError``, an unreadable file
    ``IoError``. ``progress`` as ``ab``'s (the rows done).
    """
    start = None if from_start is None else whole_in(from_start, 1, U32_MAX)
    if from_start is not None and start is None:
        raise ConfigError(
            f"validate: from_start must be a whole number from 1 to {U32_MAX} (None: the aiperf recipe), "
            f"got {from_start!r}"
        )
    if not isinstance(steady, bool):
        raise ConfigError(f"validate: steady must be True or False, got {steady!r}")
    if steady and from_start is not None:
        raise ConfigError("validate: give steady=True or from_start=K, not both")
    given: dict[str, int | None] = {}
    for name, value, none_means in (
        ("dataset_entries", dataset_entries, "every prompt fresh"),
        ("client_connections", client_connections, "no limit"),
    ):
        given[name] = None if value is None else whole_in(value, 1, U32_MAX)
        if value is None:
            continue
        if given[name] is None:
            raise ConfigError(
                f"validate: {name} must be a whole number from 1 to {U32_MAX} (None: {none_means}), got {value!r}"
            )
        if steady or from_start is not None:
            raise ConfigError(f"validate: {name} applies to the aiperf recipe, not with steady or from_start")
    if not isinstance(in_step, bool):
        raise ConfigError(f"validate: in_step must be True or False, got {in_step!r}")
    if in_step and (steady or from_start is not None):
        raise ConfigError("validate: in_step applies to the aiperf recipe, not with steady or from_start")
    obs = _progress.observer(progress, "servesim validate")
    try:
        return dict(
            _native.validate_serving(
                os.fspath(input),
                os.fspath(output),
                start,
                steady,
                obs,
                given["dataset_entries"],
                in_step,
                given["client_connections"],
                None if scenarios is None else os.fspath(scenarios),
                None if calibration is None else os.fspath(calibration),
            )
        )
    finally:
        _progress.close(obs)


from servesim import perf, traffic  # noqa: E402
from servesim.sweep import sweep  # noqa: E402
