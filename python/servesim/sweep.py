"""Many scenarios at once: local processes by default, Ray for a cluster."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from servesim import RunResult, Scenario


def _run_one(scenario: "Scenario") -> "RunResult":
    return scenario.run(progress=False)


def _progress_close(bar: Any) -> None:
    from servesim import _progress

    _progress.close(bar)


def _bar(total: int, progress: Any) -> Any:
    from servesim import _progress

    obs = _progress.observer(progress, "servesim sweep")
    if obs is not None:
        obs.phase("runs", total)
    return obs


def sweep(
    scenarios: Sequence["Scenario"],
    executor: str = "process",
    max_workers: int | None = None,
    progress: Any = True,
) -> list["RunResult"]:
    """Runs every scenario; results in the order given.

    ``executor``: ``"process"`` (local processes, the default), ``"thread"`` (threads in this
    process; runs release the GIL), ``"ray"`` (``ray.init()`` unless Ray is already
    initialised) or a Ray address (``"auto"``, ``"ray://host:10001"``, ``"host:6379"``).
    ``progress``: ``True`` draws a tqdm bar of the runs done once the sweep has lasted two
    seconds, where someone watches (a terminal, a notebook with ipywidgets; tqdm is
    optional); ``False`` none; or an object with ``phase(what, total)`` and ``done()`` (see
    ``servesim._progress``). Each run of a sweep draws no bar of its own.
    """
    if not (
        executor in ("process", "thread", "ray", "auto")
        or executor.startswith("ray://")
        or _is_host_port(executor)
    ):
        from servesim.errors import ConfigError

        raise ConfigError(
            f"sweep: executor {executor!r} is not 'process', 'thread', 'ray' or a Ray address "
            "('auto', 'ray://host:port', 'host:port')"
        )
    items = list(scenarios)
    bar = _bar(len(items), progress)
    results: list[Any] = [None] * len(items)
    try:
        if executor in ("process", "thread"):
            # Imported here: concurrent.futures.process costs a cold `import servesim`.
            from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed

            workers = max_workers or min(len(items), os.cpu_count() or 1) or 1
            cls = ProcessPoolExecutor if executor == "process" else ThreadPoolExecutor
            with cls(max_workers=workers) as pool:
                futs = {pool.submit(_run_one, s): i for i, s in enumerate(items)}
                for f in as_completed(futs):
                    results[futs[f]] = f.result()
                    if bar is not None:
                        bar.done()
        else:
            results = _ray(items, executor, bar)
    finally:
        _progress_close(bar)
    return results


def _is_host_port(address: str) -> bool:
    host, sep, port = address.rpartition(":")
    return bool(sep and host and port.isdigit())


def _ray(items: list["Scenario"], executor: str, bar: Any) -> list[Any]:
    import ray

    if not ray.is_initialized():
        if executor == "ray":
            ray.init()
        else:
            ray.init(address=executor)
    remote = ray.remote(_run_one)
    refs = [remote.remote(s) for s in items]
    index = {r: i for i, r in enumerate(refs)}
    results: list[Any] = [None] * len(items)
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        for r in done:
            results[index[r]] = ray.get(r)
            if bar is not None:
                bar.done()
    return results
