"""Model speed, side by side in one process (docs/benchmarks.md): `make bench [ARGS="--quick"]`.

Prints
- the default run (5,000 enterprises, 2022-01..2035-12): wall time and peak memory (max RSS of
  a fresh interpreter that composes, runs and tabulates);
- agent-steps per second of the model vs a plain Mesa `AgentSet.shuffle_do` model with the
  same number of agents doing trivial work (the framework's own floor);
- vectorised vs per-agent reference placement on a real month's market (the inputs the model
  passes to the market in January 2026), asserting identical placements;
- scaling: run time at 1k / 5k / 20k / 50k enterprises and at 2x / 4x data centers, with the
  fitted exponents (log-log least squares);
- where the time goes: the top functions of a profile of the default run (CPU seconds).
- the default run against commit BASELINE (e356a3b, the [perf] issue's reference), run from a
  temporary `git worktree` of it in the same call, alternating, medians of CPU time;
- the market against its floor: on the same real month, one numpy pass that builds the
  chooser x pool cost matrix and takes one Gumbel draw over it, vs the market's full time;
- 100,000 enterprises to 2035 and a 20-seed x 3-scenario brief to 2035 on 2 workers (full
  mode only; --quick: 20,000 enterprises and 4 seeds to 2025).
Targets: default run 3x faster than BASELINE, peak memory <= 300 MB, start-up <= 1 s, market
<= 3x its floor, placement ratio >= 20x, exponents ~1, 100k <= 60 s, brief <= 2 min.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import mesa
import numpy as np

from model import market
from model.model import EDWCModel
from model.run import compose_config, simulate
from model.schema import validate

ROOT = Path(__file__).resolve().parents[1]
CAPTURE_MONTH = "2026-01"
BASELINE = "e356a3b"           # the commit the [perf] issue measured (6.4 s CPU there)
BRIEF_SCENARIOS = "edwc,no_edwc,uhv_off"
DEFAULT_ENTERPRISES = 5000

CHILD = """
import json, resource, sys, time
from model.run import compose_config, simulate
cfg = compose_config(json.loads(sys.argv[1]))
t0, cpu0 = time.perf_counter(), time.process_time()
result = simulate(cfg)
wall = time.perf_counter() - t0
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall_s": wall, "cpu_s": time.process_time() - cpu0,
                  "peak_mb": usage.ru_maxrss / 1024,
                  "dcs": result.manifest.get("datacenters_built", 0)}))
"""


STARTUP_CHILD = """
import json, time
t0, c0 = time.perf_counter(), time.process_time()
from model.run import compose_config, simulate  # noqa: F401  (the model path's imports)
t1, c1 = time.perf_counter(), time.process_time()
compose_config([])
print(json.dumps({"import_s": t1 - t0, "compose_s": time.perf_counter() - t1,
                  "cpu_s": time.process_time() - c0}))
"""


@dataclass
class Timed:
    wall_s: float
    cpu_s: float
    peak_mb: float
    dcs: int


def run_fresh(overrides: list[str], root: Path = ROOT) -> Timed:
    """Run one config in a fresh interpreter of the checkout `root`: wall and CPU time of
    `simulate`, s (CPU time is what the run needs on an idle core); max RSS, MB."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(overrides)], cwd=root,
                         env=env, check=True, capture_output=True, text=True)
    row = json.loads(out.stdout.strip().splitlines()[-1])
    row.setdefault("dcs", 0)
    return Timed(**row)


def against_baseline(overrides: list[str], repeats: int = 3) -> dict | None:
    """Default run of this checkout vs commit BASELINE (a temporary detached worktree; the
    same interpreter and packages), alternating, `repeats` each; medians of CPU s. None if
    the commit is not in this clone's history."""
    import tempfile
    have = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{BASELINE}^{{commit}}"],
                          capture_output=True)
    if have.returncode != 0:
        return None
    with tempfile.TemporaryDirectory(prefix="edwc-baseline-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree),
                        BASELINE], check=True, capture_output=True)
        try:
            base, now = [], []
            for _ in range(repeats):
                base.append(run_fresh(overrides, tree).cpu_s)
                now.append(run_fresh(overrides).cpu_s)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(tree)], capture_output=True)
    b, n = float(np.median(base)), float(np.median(now))
    return {"baseline_s": b, "now_s": n, "ratio": b / n}


def market_floor(args: tuple, repeats: int = 20) -> dict:
    """The market's full time on a real month vs its floor: one numpy pass building the
    [chooser, pool] generalised cost over all pools of the chooser's compute type, and one
    Gumbel draw (argmax of -beta x cost + Gumbel) over it; fastest of `repeats`, s."""
    c, p, t, noise, priority = args
    rng = np.random.default_rng(0)

    def floor_pass() -> np.ndarray:
        out = np.empty(len(c), dtype=np.int64)
        for ctype in np.unique(c.ctype):
            rows = np.flatnonzero(c.ctype == ctype)
            cols = np.flatnonzero(p.ctype == ctype)
            sub_p = market.Pools(p.node[cols], p.ctype[cols], p.price[cols], p.green[cols],
                                 p.free_w[cols], p.key[cols])
            sub_c = market._subset(c, rows)
            sub_c.current = np.full(len(rows), -1)
            w = market.generalised_cost(sub_c, sub_p, t)
            w *= -sub_c.beta[:, None]
            w += rng.gumbel(size=w.shape)
            out[rows] = cols[w.argmax(axis=1)]
        return out

    floor_s, _ = best_of(floor_pass, (), repeats)
    full_s, _ = best_of(market.place, args, repeats)
    return {"floor_s": floor_s, "market_s": full_s, "ratio": full_s / floor_s,
            "kernel": market.use_kernel()}


def brief_time(seeds: int, end: str, workers: int = 2) -> tuple[float, float]:
    """Wall s of `python -m experiments.brief` running BRIEF_SCENARIOS x `seeds` seeds to
    `end` on `workers` processes and writing the brief (a temporary folder under outputs/,
    where run folders may be written, removed afterwards), and the CPU s of all its
    processes (robust to other jobs' load)."""
    import resource
    import shutil
    import tempfile
    (ROOT / "outputs").mkdir(exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="bench-brief-", dir=ROOT / "outputs")
    try:
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "experiments.brief", "--scenarios",
                        BRIEF_SCENARIOS, "--seeds", ",".join(str(s) for s in range(1, seeds + 1)),
                        "--end", end, "--workers", str(workers), "--out", f"{tmp}/brief",
                        "--quiet"], cwd=ROOT, check=True, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
        wall = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        return wall, (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def startup(repeats: int = 5) -> dict:
    """Start-up of a model process, medians over `repeats` fresh interpreters, s: the model
    path's imports, config composition, and the whole process (interpreter start included)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rows = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", STARTUP_CHILD], cwd=ROOT, env=env,
                             check=True, capture_output=True, text=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        row["process_s"] = time.perf_counter() - t0
        rows.append(row)
    return {k: float(np.median([r[k] for r in rows])) for k in rows[0]}


# ---------------------------------------------------------------- framework floor

class Idle(mesa.Agent):
    """An agent whose step is trivial work."""

    def __init__(self, model: mesa.Model) -> None:
        super().__init__(model)
        self.count = 0

    def step(self) -> None:
        self.count += 1


class IdleModel(mesa.Model):
    """A plain Mesa model: every agent steps once a month in random order."""

    def __init__(self, n_agents: int) -> None:
        super().__init__(rng=1)
        Idle.create_agents(self, n_agents)

    def step(self) -> None:
        self.agents.shuffle_do("step")


def mesa_floor(n_agents: int, months: int) -> float:
    """Agent-steps per second of the plain Mesa model."""
    model = IdleModel(n_agents)
    t0 = time.perf_counter()
    for _ in range(months):
        model.step()
    return n_agents * months / (time.perf_counter() - t0)


def numpy_floor(n: int = 1_000_000, repeats: int = 20) -> float:
    """Element updates per second of one numpy pass (x += 1), the vectorised ceiling."""
    x = np.zeros(n)
    t0 = time.perf_counter()
    for _ in range(repeats):
        x += 1.0
    return n * repeats / (time.perf_counter() - t0)


# ---------------------------------------------------------------- placement ratio

def capture_market(overrides: list[str], month: str = CAPTURE_MONTH) -> tuple:
    """Run the model up to `month` and return that month's market inputs."""
    config = validate(compose_config([*overrides, f"run.end={month}"]))
    model = EDWCModel(config)
    captured: list[tuple] = []

    def recording_place(*args):
        captured.append(args)
        return market.place(*args)

    model.place_load = recording_place
    model.run()
    return captured[-1]


def best_of(fn, args: tuple, repeats: int) -> tuple[float, object]:
    """Fastest of `repeats` calls, s, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - t0)
    return min(times), result


def placement_ratio(overrides: list[str]) -> dict:
    args = capture_market(overrides)
    fast_s, fast = best_of(market.place, args, 20)
    slow_s, slow = best_of(market.place_reference, args, 1)
    np.testing.assert_array_equal(fast[0], slow[0])
    np.testing.assert_array_equal(fast[1], slow[1])
    return {"choosers": len(args[0]), "pools": len(args[1].node), "fast_s": fast_s,
            "slow_s": slow_s, "ratio": slow_s / fast_s,
            "placed": int((fast[0] >= 0).sum())}


# ---------------------------------------------------------------- profile

def profile_summary(overrides: list[str], top: int) -> tuple[float, list[tuple]]:
    """CPU seconds of the run under cProfile and the top functions by own time."""
    cfg = compose_config(overrides)
    prof = cProfile.Profile(time.process_time)
    prof.runcall(simulate, cfg)
    stats = pstats.Stats(prof)
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    out = []
    for (path, line, name), (_, ncalls, own, cum, _) in rows:
        where = f"{Path(path).name}:{line}" if line else path
        out.append((f"{name} ({where})", ncalls, own, cum))
    return stats.total_tt, out


# ---------------------------------------------------------------- report

def fit_exponent(x: list[float], y: list[float]) -> float:
    """Slope of log y on log x."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="short horizon (to 2025-12), sizes 1k/2k/5k, no 50k run")
    ap.add_argument("--top", type=int, default=12, help="functions in the profile summary")
    args = ap.parse_args(argv)
    end = "2025-12" if args.quick else "2035-12"
    base = [f"run.end={end}"]
    sizes = [1000, 2000, 5000] if args.quick else [1000, 5000, 20000, 50000]
    dc_default = int(compose_config([]).supply.n_datacenters)
    print(f"EDWC benchmark: Python {platform.python_version()}, numpy {np.__version__}, "
          f"mesa {mesa.__version__}, {os.cpu_count()} cores; horizon 2022-01..{end}; "
          f"load average {os.getloadavg()[0]:.1f}")

    print("\n1. Default run (fresh interpreter)")
    default = run_fresh(base)
    months = len(range(0, (int(end[:4]) - 2022) * 12 + int(end[5:])))
    print(f"   wall {default.wall_s:6.2f} s, CPU {default.cpu_s:6.2f} s   "
          f"peak memory {default.peak_mb:4.0f} MB (target <= 300 MB)")
    vs = against_baseline(base)
    if vs is None:
        print(f"   baseline {BASELINE} is not in this clone's history: ratio not measured")
    else:
        print(f"   vs {BASELINE} (worktree, same process tree, medians of 3 alternating): "
              f"{vs['baseline_s']:.2f} s -> {vs['now_s']:.2f} s CPU, {vs['ratio']:.2f}x faster "
              "(target >= 3x)")

    s = startup()
    print(f"   start-up (median of 5 processes): imports {s['import_s']:.2f} s + config "
          f"composition {s['compose_s']:.2f} s = {s['import_s'] + s['compose_s']:.2f} s "
          f"(target <= 1 s; CPU {s['cpu_s']:.2f} s); whole process {s['process_s']:.2f} s")

    print("\n2. Agent-steps per second")
    agents = DEFAULT_ENTERPRISES + default.dcs + 2 * 12 + 1
    model_rate = agents * months / default.wall_s
    floor = mesa_floor(agents, min(months, 48))
    print(f"   model        {model_rate / 1e6:8.2f} M/s  ({agents:,} agents x {months} months)")
    print(f"   Mesa floor   {floor / 1e6:8.2f} M/s  (AgentSet.shuffle_do, trivial step)")
    print(f"   numpy pass   {numpy_floor() / 1e6:8.0f} M/s  (x += 1 over 1 M floats)")
    print(f"   model / Mesa floor: {model_rate / floor:.1f}x")

    print(f"\n3. Placement, vectorised vs per-agent reference ({CAPTURE_MONTH} market, "
          "identical results asserted)")
    r = placement_ratio([])
    print(f"   {r['choosers']:,} choosers x {r['pools']} pools ({r['placed']:,} placed): "
          f"vectorised {r['fast_s'] * 1e3:.1f} ms, reference {r['slow_s'] * 1e3:.0f} ms, "
          f"ratio {r['ratio']:.0f}x (target >= 20x)")

    fl = market_floor(capture_market([]))
    print(f"   market vs its floor (one numpy cost pass + one Gumbel draw): market "
          f"{fl['market_s'] * 1e3:.1f} ms ({'compiled' if fl['kernel'] else 'numpy'} draw), "
          f"floor {fl['floor_s'] * 1e3:.1f} ms, ratio {fl['ratio']:.2f}x (target <= 3x)")

    print("\n4. Scaling (fresh interpreter per run)")
    times = {}
    for n in sizes:
        t = default if n == DEFAULT_ENTERPRISES else run_fresh(
            [*base, f"demand.n_enterprises={n}"])
        times[n] = t
        print(f"   {n:>6,} enterprises, {dc_default} DCs: {t.wall_s:7.2f} s "
              f"(CPU {t.cpu_s:6.2f} s), {t.peak_mb:4.0f} MB, {t.dcs:,} DCs built")
    dcs = {1: default}
    for mult in (2, 4):
        t = run_fresh([*base, f"supply.n_datacenters={dc_default * mult}"])
        dcs[mult] = t
        print(f"   {DEFAULT_ENTERPRISES:>6,} enterprises, {dc_default * mult} DCs: "
              f"{t.wall_s:7.2f} s (CPU {t.cpu_s:6.2f} s), {t.peak_mb:4.0f} MB, "
              f"{t.dcs:,} DCs built")
    e_exp = fit_exponent(list(times), [t.cpu_s for t in times.values()])
    d_exp = fit_exponent([float(t.dcs) for t in dcs.values()], [t.cpu_s for t in dcs.values()])
    print(f"   CPU time ~ enterprises^{e_exp:.2f}, ~ data centers built^{d_exp:.2f} "
          "(target: about linear or below)")
    big = 20000 if args.quick else 100000
    t = run_fresh([*base, f"demand.n_enterprises={big}"])
    print(f"   {big:,} enterprises: {t.wall_s:.1f} s wall, {t.cpu_s:.1f} s CPU, "
          f"{t.peak_mb:.0f} MB (target <= 60 s at 100,000 to 2035)")

    seeds = 4 if args.quick else 20
    wall, cpu = brief_time(seeds, end)
    print(f"\n   brief: {BRIEF_SCENARIOS} x {seeds} seeds to {end} on 2 workers, run and "
          f"written: {wall:.1f} s wall (target <= 120 s for 20 seeds to 2035), "
          f"{cpu:.1f} s CPU in all processes")

    print(f"\n5. Where the time goes (default run{', short horizon' if args.quick else ''}, "
          "cProfile, CPU s)")
    total, rows = profile_summary(base, args.top)
    print(f"   total {total:.2f} s under the profiler")
    print(f"   {'own s':>7} {'cum s':>7} {'calls':>8}  function")
    for name, ncalls, own, cum in rows:
        print(f"   {own:7.2f} {cum:7.2f} {ncalls:8d}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
