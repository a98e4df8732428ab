"""Progress bars (tqdm) for the calls a user waits on: ``Scenario.run``, ``ab``,
``validate``, ``profile`` and ``sweep``.

Each takes ``progress``: ``True`` (the default) draws a tqdm bar once the call has lasted
``DELAY_S`` seconds, and only where someone watches (stderr a terminal, or a notebook with
ipywidgets), so quick calls, tests and scripts piping their output show nothing; ``False``
draws none; any other object is told of the work itself, from the threads doing it:
``phase(what: str, total: int)`` when a phase of ``total`` units starts (a run's "%
simulated", ``ab``'s "runs", ``validate``'s "rows"), then ``done()`` per unit. Without tqdm
installed, ``True`` draws nothing (tqdm is optional). Progress is only observed: it never
changes a result.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

#: Seconds a call runs before its bar shows.
DELAY_S = 2.0


def _tqdm_class() -> Any:
    """The tqdm to draw with, or None: a widget in a notebook with ipywidgets, text on a
    terminal, nothing elsewhere or without tqdm."""
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return None
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is not None and "IPKernelApp" in getattr(shell, "config", {}):
        try:
            import ipywidgets  # noqa: F401
        except ImportError:
            return None
        from tqdm.notebook import tqdm as notebook_tqdm

        return notebook_tqdm
    if not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()):
        return None
    from tqdm import tqdm as text_tqdm

    return text_tqdm


class TqdmProgress:
    """Draws each phase of the work as a tqdm bar called ``desc: what``."""

    def __init__(self, tqdm: Any, desc: str) -> None:
        self._tqdm = tqdm
        self._desc = desc
        self._bar: Any = None
        self._lock = threading.Lock()

    def phase(self, what: str, total: int) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.close()
            self._bar = self._tqdm(total=total, desc=f"{self._desc}: {what}", delay=DELAY_S, leave=False)

    def done(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.update(1)

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None


def observer(progress: Any, desc: str) -> Any:
    """What to tell of a call's progress: None (nothing), a ``TqdmProgress``, or the
    user's own object (see the module's documentation)."""
    if progress is None or progress is False:
        return None
    if progress is True:
        tqdm = _tqdm_class()
        return None if tqdm is None else TqdmProgress(tqdm, desc)
    if not (callable(getattr(progress, "phase", None)) and callable(getattr(progress, "done", None))):
        from servesim.errors import ConfigError

        raise ConfigError(
            f"progress: give True, False or an object with phase(what, total) and done(), got {progress!r}"
        )
    return progress


def close(obs: Any) -> None:
    """Clears a bar this module drew (a user's object is left as it is)."""
    if isinstance(obs, TqdmProgress):
        obs.close()
