"""Wall time of the airline story from Python against the CLI.

    taskset -c 1 python python/bench/airline_wall.py [--policy sla] [--repeat 7] \\
        [--cli target/release/servesim]

Three figures, each the median over ``--repeat`` rounds (the measurements of a round are
interleaved, so drift in the machine's speed hits them alike):

- **CLI**: a fresh process, ``servesim run --json SCENARIO`` (process start, parse, run, print).
- **cold**: a fresh Python process doing what a script does: ``import servesim``,
  ``Scenario.from_yaml(...)``, ``.run()``. Compared with the CLI, this is the figure of the
  issue ("a Python run of the airline story is within 5 % of the CLI's wall time"). The
  child also reports its import, parse and run times, so the rest (the interpreter's own
  start and exit) shows; a bare ``python -c pass`` is timed too.
- **warm**: ``Scenario.run()`` in this process after a warm-up, against the same CLI figure
  and against the simulation time the Rust side measures inside the call (what the binding
  adds: JSON across the boundary, buffers, the GIL).

The CLI must come from the same sources as the installed module: both runs' event and
request counts are compared and a mismatch stops the benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import servesim

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "airline-disruption.yaml"

# What the cold child runs; prints its own phase times as JSON.
CHILD = """
import time
t0 = time.perf_counter()
import json, sys, servesim
t1 = time.perf_counter()
s = servesim.Scenario.from_yaml(sys.argv[1])
s = s.with_policy(sys.argv[2]) if sys.argv[2] else s
t2 = time.perf_counter()
r = s.run()
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "parse": t2 - t1, "run": t3 - t2,
                  "events": r.summary["events"], "arrived": r.summary["arrived"]}))
"""


def timed(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - t0, out


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def runs(xs: list[float]) -> str:
    return ", ".join(f"{x:.3f}" for x in xs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--policy", default=None, help="planner policy (default: the file's)")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--cli", default=str(ROOT / "target" / "release" / "servesim"))
    a = ap.parse_args()

    sc = servesim.Scenario.from_yaml(SCENARIO)
    if a.policy:
        sc = sc.with_policy(a.policy)
    sc_path = SCENARIO
    if a.policy:
        # The airline preset has no relative paths, so a copy elsewhere runs the same.
        sc_path = Path(f"/tmp/servesim-bench-airline-{os.getpid()}.json")
        sc_path.write_text(json.dumps(sc.to_dict()))

    cli_cmd = [a.cli, "run", "--json", str(sc_path)]
    cold_cmd = [sys.executable, "-c", CHILD, str(SCENARIO), a.policy or ""]
    bare_cmd = [sys.executable, "-c", "pass"]

    # Warm-up (page cache, CPU frequency) and the same-build check.
    _, out = timed(cli_cmd)
    cli_summary = json.loads(out)
    _, out = timed(cold_cmd)
    child = json.loads(out)
    r = sc.run()
    got = {k: (cli_summary[k], child[k], r.summary[k]) for k in ("events", "arrived")}
    if any(len(set(v)) != 1 for v in got.values()):
        sys.exit(f"the CLI and the module simulate differently (CLI, cold, warm): {got}; "
                 "build both from the same sources")

    cli: list[float] = []
    cold: list[float] = []
    phases: list[dict[str, float]] = []
    bare: list[float] = []
    warm: list[float] = []
    inner: list[float] = []
    for _ in range(a.repeat):
        cli.append(timed(cli_cmd)[0])
        t, out = timed(cold_cmd)
        cold.append(t)
        phases.append(json.loads(out))
        bare.append(timed(bare_cmd)[0])
        t0 = time.perf_counter()
        r = sc.run()
        warm.append(time.perf_counter() - t0)
        inner.append(r.wall_s)

    mc, mcold, mwarm = med(cli), med(cold), med(warm)
    print(f"airline-disruption, policy {a.policy or sc.to_dict()['planner']['policy']}, "
          f"{r.summary['events']} events, {a.repeat} rounds; CLI {a.cli}")
    print(f"CLI process:         median {mc:.3f} s  ({runs(cli)})")
    print(f"python cold process: median {mcold:.3f} s  ({runs(cold)})")
    ph = {k: med([p[k] for p in phases]) for k in ("import", "parse", "run")}
    print(f"  of which import {ph['import']:.3f} s, from_yaml {ph['parse']:.3f} s, "
          f"run() {ph['run']:.3f} s; bare interpreter (python -c pass) {med(bare):.3f} s")
    print(f"python warm run():   median {mwarm:.3f} s  ({runs(warm)})")
    print(f"  of which simulation (Rust, inside the call) {med(inner):.3f} s")
    print(f"cold python / CLI = {mcold / mc:.3f}   warm run() / CLI = {mwarm / mc:.3f}   "
          f"warm run() / its simulation = {mwarm / med(inner):.3f}   (medians)")
    print(f"cold python / CLI = {min(cold) / min(cli):.3f}   "
          f"warm run() / CLI = {min(warm) / min(cli):.3f}   (fastest rounds: less noise "
          "from other work on the machine)")
    if sc_path != SCENARIO:
        sc_path.unlink()


if __name__ == "__main__":
    main()
