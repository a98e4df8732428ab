"""Exceptions raised by servesim, one class per Rust error variant.

``ServesimError`` is the base of all of them:

- ``IoError``: a file could not be read or written (names the file);
- ``ParseError``: a scenario, ``traffic:`` section or measured CSV does not parse: an
  unknown field, a wrong type (names the field path, line and column);
- ``ConfigError``: a field has an invalid value (names the field's path, e.g.
  ``duration_s`` or ``traffic.streams[0].open.arrival.rate_per_s``);
- ``TrafficError``: a trace row is invalid (names file, line and column);
- ``ModelsError``: model, GPU or calibration data is invalid;
- ``PlannerError``: unknown policy, bad planner settings, or a Python planner's
  ``decide`` returning something that is not per-pool targets.

An exception raised inside a Python planner's ``decide`` propagates unchanged out of
``Scenario.run()``.
"""

from servesim._native import (
    ConfigError,
    IoError,
    ModelsError,
    ParseError,
    PlannerError,
    ServesimError,
    TrafficError,
)

__all__ = [
    "ServesimError",
    "IoError",
    "ParseError",
    "ConfigError",
    "TrafficError",
    "ModelsError",
    "PlannerError",
]
