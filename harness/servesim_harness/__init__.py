"""servesim companion hardware harness.

Times GPU kernels (GEMM, attention, NCCL collectives, GPU-to-GPU copies) over the shapes
of a sweep file and writes them in the servesim calibration format (v1), which
``servesim calibrate import DIR`` reads back.  ``--dry-run`` runs the same pipeline on a
CPU with numpy (no torch), so the tool is testable without a GPU.
"""

__version__ = "0.1.0"


class HarnessError(Exception):
    """An error reported to the user as one line (no traceback), exit code 1."""
