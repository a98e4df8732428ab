"""Checks of the arguments Python hands to the native module: a clear ``ConfigError`` naming
the argument, before Rust sees a value it cannot take."""

from __future__ import annotations

from typing import TypeGuard

from servesim.errors import ConfigError


# The largest count the native module takes where it holds a 32-bit one.
U32_MAX = (1 << 32) - 1


def is_whole(value: object, low: int, high: int) -> TypeGuard[int]:
    """Whether ``value`` is an integer (not a bool) from ``low`` to ``high``."""
    return not isinstance(value, bool) and isinstance(value, int) and low <= value <= high


def count(name: str, value: object, *, bits: int = 64) -> int:
    """A non-negative integer argument below ``2**bits``; anything else is a ``ConfigError``."""
    if not is_whole(value, 0, (1 << bits) - 1):
        raise ConfigError(f"{name}: must be an integer from 0 to {(1 << bits) - 1}, got {value!r}")
    return value


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
