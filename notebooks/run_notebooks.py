"""Executes every notebook top to bottom (outputs are not written back) and checks that the
stored notebooks carry no outputs. Exit status non-zero on any failure."""

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).parent


def main() -> int:
    bad = 0
    for path in sorted(HERE.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        stored = [c for c in nb.cells if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count"))]
        if stored:
            print(f"{path.name}: {len(stored)} cells stored with outputs (strip them)")
            bad += 1
        t0 = time.perf_counter()
        try:
            NotebookClient(nb, timeout=300, kernel_name="python3",
                           resources={"metadata": {"path": str(HERE)}}).execute()
            print(f"{path.name}: ok ({time.perf_counter() - t0:.1f} s)")
        except Exception as e:  # noqa: BLE001 - report every notebook's failure
            print(f"{path.name}: FAILED\n{e}")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
