"""The timer interface and the repetition logic shared by every timer."""

from __future__ import annotations

import statistics
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence

from servesim_harness.families import Case

#: One timed run of a prepared case; returns its latency in milliseconds.
Sampler = Callable[[], float]


class CaseSkipped(Exception):
    """A case that cannot be measured here (out of memory, too few GPUs, unsupported
    dtype...).  The run goes on; the case gets no row and is counted in the header."""


def collect(sample: Sampler, warmup: int, reps: int) -> list[float]:
    """Runs ``sample`` ``warmup`` times untimed, then ``reps`` times, and returns the
    ``reps`` latencies in ms."""
    if reps < 1:
        raise ValueError("reps must be at least 1")
    for _ in range(warmup):
        sample()
    out = []
    for _ in range(reps):
        ms = float(sample())
        if not ms > 0.0:  # also catches NaN
            ms = 1e-6  # a timer that cannot resolve the run: 1 ns
        out.append(ms)
    return out


def median(samples: Sequence[float]) -> float:
    """The median of the repetitions (the mean of the middle two for an even count)."""
    if not samples:
        raise ValueError("no samples")
    return float(statistics.median(samples))


class Timer(ABC):
    """Times cases of each family.

    A timer prepares a case (allocates its inputs, captures a CUDA graph...) and returns
    a :data:`Sampler` that times one run; :meth:`measure` does warm-up and repetitions.
    Timers that must run a family differently (NCCL runs in one process per GPU)
    override :meth:`measure` for it.
    """

    #: ``gpu`` or ``cpu-dry-run``: written as ``# measured_on:``.
    measured_on: str = "gpu"

    def configure(self, options: dict[str, dict]) -> None:
        """Receives each family's grids (the sweep's sections, a list of mappings per
        family) before the run (e.g. the decode kernel)."""

    @abstractmethod
    def prepare(self, family: str, case: Case) -> Sampler:
        """Sets up one case and returns its sampler; raises :class:`CaseSkipped`."""

    def release(self) -> None:
        """Frees what the last :meth:`prepare` allocated."""

    def metadata(self) -> dict[str, str]:
        """Header keys describing the machine and the method (same for every family)."""
        return {}

    def family_metadata(self, family: str) -> dict[str, str]:
        """Header keys for one family, known after it ran (e.g. the kernel used)."""
        return {}

    def detect_gpu(self) -> str | None:
        """The SKU name of the measured GPU, when it can be recognised."""
        return None

    def measure(
        self, family: str, cases: Sequence[Case], warmup: int, reps: int
    ) -> Iterator[tuple[Case, list[float] | CaseSkipped]]:
        """Yields, for each case in order, its ``reps`` latencies or why it was skipped."""
        for case in cases:
            result: list[float] | CaseSkipped
            try:
                result = collect(self.prepare(family, case), warmup, reps)
            except CaseSkipped as e:
                result = e
            except Exception as e:  # noqa: BLE001 - classified by skip_reason
                reason = self.skip_reason(e)
                if reason is None:
                    raise
                result = CaseSkipped(reason)
            finally:
                self.release()
            yield case, result

    def skip_reason(self, exc: Exception) -> str | None:
        """Why an error raised while timing a case means "skip this case" (e.g. out of
        GPU memory), or None to abort the run."""
        return None

    def close(self) -> None:
        """Releases everything (end of the run)."""
