"""Timers: the one place that knows how a case is run.  :class:`base.Timer` is the
interface; :mod:`.dry` (numpy on the CPU) and :mod:`.cuda` (PyTorch on CUDA, imported
lazily) implement it."""

from servesim_harness.timers.base import CaseSkipped, Sampler, Timer, collect, median

__all__ = ["CaseSkipped", "Sampler", "Timer", "collect", "median"]
