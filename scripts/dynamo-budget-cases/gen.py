"""Cases of Dynamo 1.6.1's GPU budget functions, for servesim's port (dynamo_budget.rs)."""
import json, random, sys, types
src = open(sys.argv[1]).read()
# budget.py's imports that the pure functions do not use.
for name in ["dynamo", "dynamo.planner", "dynamo.planner.config", "dynamo.planner.config.planner_config",
             "dynamo.planner.errors", "dynamo.runtime", "dynamo.runtime.logging"]:
    m = types.ModuleType(name); sys.modules[name] = m
sys.modules["dynamo.planner.config.planner_config"].PlannerConfig = object
sys.modules["dynamo.planner.errors"].DeploymentValidationError = Exception
sys.modules["dynamo.runtime.logging"].configure_dynamo_logging = lambda: None
ns = {"__name__": "budget"}
exec(compile(src, "budget.py", "exec"), ns)
rng = random.Random(int(sys.argv[2]))
cases = []
for _ in range(int(sys.argv[3])):
    gp, gd = rng.choice([1, 1, 2, 4, 8]), rng.choice([1, 1, 2, 4, 8])
    mp, md = rng.choice([1, 1, 2]), rng.choice([1, 1, 2])
    cp, cd = rng.randint(mp, 12), rng.randint(md, 12)
    pp, pd = max(0, cp + rng.randint(-8, 8)), max(0, cd + rng.randint(-8, 8))
    cur = cp * gp + cd * gd
    mx = max(mp * gp + md * gd, cur + rng.randint(-6, 12))
    # No floor in half the cases; else one at or under the ceiling (pinned in a fifth).
    mn = rng.choice([-1, -1, -1, -1, -1, mx, rng.randint(0, mx), rng.randint(0, mx),
                     rng.randint(0, mx), rng.randint(0, mx)])
    fit = ns["fit_directional_budget_pair"](cp, cd, pp, pd, gp, gd, mn, mx, mp, md)
    g = ns["guard_disagg_scaling_budget"](cp, cd, pp, pd, gp, gd, mn, mx, mp, md)
    # As the startup reductions fit: the floor alone.
    floor_only = ns["fit_directional_budget_pair"](cp, cd, pp, pd, gp, gd, mn, -1, mp, md)
    cases.append({"current": [cp, cd], "proposed": [pp, pd], "gpus": [gp, gd],
                  "min_gpus": None if mn < 0 else mn, "max_gpus": mx,
                  "min_workers": [mp, md], "fit": list(fit), "fit_floor_only": list(floor_only), "guard": [g[0], g[1]], "guard_reason": g[2]})
json.dump(cases, sys.stdout, separators=(",", ":"))
