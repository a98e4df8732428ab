"""Matplotlib charts of runs, A/B reports and profiler frontiers. Each returns the Axes, its
figure laid out tight; charts over time shade the scenario's burst (the airline storm)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

if TYPE_CHECKING:
    from servesim import AbReport, RunResult


def _ax(ax: Any) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(8, 3.5))
    return ax


def burst(result: "RunResult") -> tuple[float, float] | None:
    """The scenario's burst window (start, end) in seconds: the airline preset's storm, its
    defaults those of the scenario reference; None for other scenarios."""
    if result.scenario is None:
        return None
    traffic = result.scenario.to_dict().get("traffic") or {}
    if traffic.get("preset") != "airline":
        return None
    a = traffic.get("airline") or {}
    start = float(a.get("storm_start_s", 600.0))
    return start, start + float(a.get("storm_duration_s", 1800.0))


def _finish(ax: Any, result: "RunResult | None" = None) -> Any:
    """Shades the burst of ``result`` (if any), draws the legend, lays the figure out tight."""
    window = None if result is None else burst(result)
    if window is not None:
        ax.axvspan(*window, color="#fde68a", alpha=0.5, lw=0, label="storm", zorder=0)
    ax.legend(fontsize="small")
    ax.figure.tight_layout()
    return ax


def workers(result: "RunResult", ax: Any = None) -> Any:
    """Ready (solid) and starting (dashed) workers per pool over time."""
    ax = _ax(ax)
    ts = result.timeseries.to_pandas()
    for pool, g in ts.groupby("pool", observed=True):
        line = ax.step(g["time_s"], g["ready"], where="post", label=f"{pool} ready")[0]
        ax.step(g["time_s"], g["starting"], where="post", ls="--", color=line.get_color(),
                label=f"{pool} starting")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("workers")
    return _finish(ax, result)


def latency(result: "RunResult", ax: Any = None) -> Any:
    """Per-request TTFT over arrival time with the TTFT SLO line (needs
    ``metrics.keep_requests: true``)."""
    ax = _ax(ax)
    if result.requests is None:
        raise ValueError("no request rows: set metrics.keep_requests: true")
    r = result.requests
    ax.scatter(r.column("arrival_s").to_numpy(), r.column("ttft_ms").to_numpy(), s=2, alpha=0.4,
               label="TTFT")
    if result.scenario is not None:
        slo = result.scenario.to_dict()["slo"]
        ax.axhline(slo["ttft_ms"], color="red", ls="--", label=f"SLO {slo['ttft_ms']} ms")
    ax.set_yscale("log")
    ax.set_xlabel("arrival (s)")
    ax.set_ylabel("TTFT (ms)")
    return _finish(ax, result)


def cdf(results: dict[str, "RunResult"], column: str = "ttft_ms", ax: Any = None) -> Any:
    """Empirical CDFs of one request column for several runs."""
    ax = _ax(ax)
    for label, res in results.items():
        if res.requests is None:
            raise ValueError(f"{label}: no request rows: set metrics.keep_requests: true")
        x = np.sort(res.requests.column(column).to_numpy())
        ax.plot(x, np.arange(1, len(x) + 1) / max(len(x), 1), label=label)
    ax.set_xscale("log")
    ax.set_xlabel(column)
    ax.set_ylabel("fraction")
    return _finish(ax)


def ab(report: "AbReport", metric: str = "slo_attainment", ax: Any = None) -> Any:
    """Each policy's mean of ``metric`` over seeds with its 95 % interval (none drawn where
    the report has none: one seed, or runs identical on every seed)."""
    ax = _ax(ax)
    names, means, half = [], [], []
    for p in report.policies:
        est = p[metric]
        names.append(p["policy"])
        means.append(est["mean"])
        low, high = est["low"], est["high"]
        # No interval (one seed, or runs identical on every seed) comes back as None.
        bounded = low is not None and high is not None
        half.append([est["mean"] - low, high - est["mean"]] if bounded else [0.0, 0.0])
    ax.bar(names, means, yerr=np.asarray(half).T, capsize=6)
    ax.set_ylabel(metric)
    ax.figure.tight_layout()
    return ax


def pareto(points: Sequence[tuple[float, float]], frontier: Sequence[tuple[float, float]] | None = None,
           xlabel: str = "tokens/s/user", ylabel: str = "tokens/s/GPU", ax: Any = None) -> Any:
    """Candidates and their Pareto frontier (computed when not given: higher is better on both)."""
    ax = _ax(ax)
    pts = np.asarray(points, dtype=float)
    ax.scatter(pts[:, 0], pts[:, 1], s=8, alpha=0.5, label="candidates")
    if frontier is None:
        order = np.argsort(-pts[:, 0])
        best = -np.inf
        front = []
        for i in order:
            if pts[i, 1] > best:
                best = pts[i, 1]
                front.append(pts[i])
        frontier = [tuple(p) for p in front]
    f = np.asarray(frontier, dtype=float)
    f = f[np.argsort(f[:, 0])]
    ax.plot(f[:, 0], f[:, 1], "r-o", ms=3, label="frontier")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return _finish(ax)
