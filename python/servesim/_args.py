"""Checks of the arguments Python hands to the native module: a clear ``ConfigError`` naming
the argument, before Rust sees a value it cannot take. Numbers may be Python's or numpy's
(a notebook's loop over ``np.arange`` hands numpy scalars); booleans are not numbers here."""

from __future__ import annotations

import numbers
import operator

from servesim.errors import ConfigError


# The largest count the native module takes where it holds a 32-bit one.
U32_MAX = (1 << 32) - 1


def _is_bool(value: object) -> bool:
    """Whether ``value`` is a Python or numpy boolean."""
    return isinstance(value, bool) or getattr(getattr(value, "dtype", None), "kind", None) == "b"


def whole(value: object) -> int | None:
    """The integer ``value`` is (a Python or numpy integer, not a boolean), else None."""
    if _is_bool(value):
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
    """The real number ``value`` is as a float (a Python or numpy integer or float, not a
    boolean), else None. An integer too large for a float raises ``OverflowError``."""
    if _is_bool(value) or not isinstance(value, numbers.Real):
        return None
    return float(value)


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
