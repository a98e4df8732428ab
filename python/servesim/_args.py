"""Checks of the arguments Python hands to the native module: a clear ``ConfigError`` naming
the argument, before Rust sees a value it cannot take. Numbers may be Python's or numpy's
(a notebook's loop over ``np.arange`` hands numpy scalars); booleans are not numbers here."""

from __future__ import annotations

import numbers
import operator

from servesim.errors import ConfigError


# The largest count the native module takes where it holds a 32-bit one.
U32_MAX = (1 << 32) - 1


def _scalar(value: object) -> object:
    """A NumPy scalar or 0-d array as the Python value it holds (a ``np.timedelta64`` a
    ``datetime.timedelta``, no number); anything else as it is."""
    item = getattr(value, "item", None)
    if getattr(value, "ndim", None) == 0 and callable(item):
        return item()
    return value


def whole(value: object) -> int | None:
    """The integer ``value`` is (a Python or NumPy integer, not a boolean), else None."""
    value = _scalar(value)
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        return None


def whole_in(value: object, low: int, high: int) -> int | None:
    """:func:`whole`, when from ``low`` to ``high``; else None."""
    n = whole(value)
    return n if n is not None and low <= n <= high else None


def number(value: object) -> float | None:
    """The real number ``value`` is as a float (a Python or NumPy integer or float, not a
    boolean), else None. An integer too large for a float raises ``OverflowError``."""
    value = _scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def float_of(value: object) -> float | None:
    """:func:`number`, None too for an integer too large for a float."""
    try:
        return number(value)
    except OverflowError:
        return None


def real(name: str, value: object) -> float:
    """A number argument (see :func:`float_of`); anything else is a ``ConfigError`` naming
    ``name``."""
    n = float_of(value)
    if n is None:
        raise ConfigError(f"{name}: must be a number, got {value!r}")
    return n


def optional_number(name: str, value: object) -> float | None:
    """:func:`real`, or None."""
    return None if value is None else real(name, value)


def count(name: str, value: object, *, bits: int = 64) -> int:
    """A non-negative integer argument below ``2**bits``; anything else is a ``ConfigError``."""
    n = whole_in(value, 0, (1 << bits) - 1)
    if n is None:
        raise ConfigError(f"{name}: must be an integer from 0 to {(1 << bits) - 1}, got {value!r}")
    return n


def text(name: str, value: object) -> str:
    """A string argument; anything else is a ``ConfigError``."""
    if not isinstance(value, str):
        raise ConfigError(f"{name}: must be a string, got {value!r}")
    return value


def optional_text(name: str, value: object) -> str | None:
    """:func:`text`, or None."""
    return None if value is None else text(name, value)


def optional_count(name: str, value: object, *, bits: int = 64) -> int | None:
    """:func:`count`, or None."""
    return None if value is None else count(name, value, bits=bits)
