"""Wall time of the airline story from Python against the CLI, on the same build.

    python python/bench/airline_wall.py [--policy sla] [--repeat 5] [--cli target/release/servesim]

Times `servesim run scenarios/airline-disruption.yaml` (the CLI, a fresh process per run) and
`Scenario.from_yaml(...).with_policy(...).run()` (this process, after one warm-up run), and
prints the medians and their ratio; also a fresh Python process per run (cold). The CLI's time includes process start and printing; the
Python time includes building the Arrow tables.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import servesim

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "airline-disruption.yaml"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--policy", default=None, help="planner policy (default: the file's)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--cli", default=str(ROOT / "target" / "release" / "servesim"))
    a = ap.parse_args()

    sc = servesim.Scenario.from_yaml(SCENARIO)
    if a.policy:
        sc = sc.with_policy(a.policy)
    sc_path = SCENARIO
    if a.policy:
        # The airline preset has no relative paths, so a copy elsewhere runs the same.
        import json

        sc_path = Path("/tmp/servesim-bench-airline.json")
        sc_path.write_text(json.dumps(sc.to_dict()))

    sc.run()  # warm-up
    py = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        sc.run()
        py.append(time.perf_counter() - t0)
    cli = []
    subprocess.run([a.cli, "run", str(sc_path)], check=True, capture_output=True)
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        subprocess.run([a.cli, "run", str(sc_path)], check=True, capture_output=True)
        cli.append(time.perf_counter() - t0)
    # Cold: a fresh Python process per run (import, parse, run), like the CLI's fresh process.
    cold = []
    code = (
        "import sys, servesim; s = servesim.Scenario.from_yaml(sys.argv[1]); "
        "s = s.with_policy(sys.argv[2]) if sys.argv[2] else s; s.run()"
    )
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code, str(SCENARIO), a.policy or ""], check=True)
        cold.append(time.perf_counter() - t0)
    mp, mc = statistics.median(py), statistics.median(cli)
    mcold = statistics.median(cold)
    print(f"python run(): median {mp:.3f} s  (runs: {', '.join(f'{x:.3f}' for x in py)})")
    print(f"CLI run:      median {mc:.3f} s  (runs: {', '.join(f'{x:.3f}' for x in cli)})")
    print(f"python cold:  median {mcold:.3f} s  (fresh process: import + run)")
    print(f"python / CLI = {mp / mc:.3f} (warm), {mcold / mc:.3f} (cold)")


if __name__ == "__main__":
    main()
