"""Stubs of the private native module (checked by mypy stubtest in scripts/test-all)."""

from typing import Any, final

__all__ = [
    "ServesimError",
    "IoError",
    "ParseError",
    "ConfigError",
    "TrafficError",
    "ModelsError",
    "PlannerError",
    "version",
    "parse_yaml",
    "validate",
    "scale_rates",
    "warnings_before",
    "run",
    "ab",
    "profile",
    "perf_check",
    "perf_predict",
    "perf_step",
    "read_trace",
    "Workload",
    "Stepper",
    "validate_serving",
]

class ServesimError(Exception): ...
class IoError(ServesimError): ...
class ParseError(ServesimError): ...
class ConfigError(ServesimError): ...
class TrafficError(ServesimError): ...
class ModelsError(ServesimError): ...
class PlannerError(ServesimError): ...

def version() -> str: ...
def parse_yaml(text: str, origin: str, base_dir: str) -> str: ...
def validate(config_json: str, base_dir: str) -> None: ...
def scale_rates(traffic_json: str, factor: float) -> tuple[str, int]: ...
def warnings_before(config_json: str, base_dir: str) -> list[str]: ...
def run(
    config_json: str,
    base_dir: str,
    planner: Any | None = None,
    planner_interval_s: float = 60.0,
    trace: str | None = None,
    trace_max_events: int = 1000000,
    trace_window: tuple[float, float] | None = None,
    progress: Any | None = None,
) -> dict[str, Any]: ...
def ab(
    config_json: str,
    base_dir: str,
    policies: list[str],
    first_seed: int = 1,
    seeds: int = 5,
    threads: int = 0,
    progress: Any | None = None,
) -> str: ...
def profile(
    request: str,
    out: str,
    mode: str = "fast",
    prefer: str = "goodput",
    prefill_tp: int | None = None,
    decode_tp: int | None = None,
    agg_tp: int | None = None,
    progress: Any | None = None,
    calibration: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> str: ...
def perf_check(gpu: str, backend: str, calibration: str | None = None) -> list[dict[str, Any]]: ...
def perf_predict(gpu: str, backend: str, table: str, input: str, output: str) -> tuple[int, int]: ...
def perf_step(
    config_json: str,
    base_dir: str,
    pool: str | None = None,
    decode: int = 0,
    context: int = 1024,
    prefill: list[tuple[int, int]] = ...,
) -> dict[str, Any]: ...
def read_trace(path: str) -> list[tuple[str, str, bytes]]: ...

@final
class Workload:
    def __new__(
        cls,
        kind: str,
        source: str,
        base_dir: str = ".",
        seed: int | None = None,
        duration_s: float | None = None,
        response_s: float = 0.0,
        max_requests: int | None = None,
        format: str | None = None,
    ) -> Workload: ...
    def generate(self, block_ids: bool = False) -> dict[str, Any]: ...
    def stats(self) -> tuple[str, list[str]]: ...

@final
class Stepper:
    def __new__(cls, config_json: str, base_dir: str = ".", interval_s: float | None = None) -> Stepper: ...
    def advance(self, targets: list[int | None] | None = None) -> None: ...
    def observation(self) -> dict[str, Any] | None: ...
    @property
    def done(self) -> bool: ...
    def progress(self) -> dict[str, Any]: ...
    def pools(self) -> list[dict[str, Any]]: ...
    @property
    def gpu_budget(self) -> int: ...
    def summary(self) -> str: ...

def validate_serving(
    input: str,
    output: str,
    from_start: int | None = None,
    steady: bool = False,
    progress: Any | None = None,
    dataset_entries: int | None = None,
    in_step: bool = False,
    client_connections: int | None = None,
    scenarios: str | None = None,
    calibration: str | None = None,
) -> dict[str, Any]: ...
