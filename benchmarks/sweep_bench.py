"""Sweep throughput, side by side in one process (DESIGN §11): the same runs (the smoke
grid, 2 x 2 points x 2 seeds, at a benchmark size) done as

- a plain loop of ``simulate`` + ``write_run`` (the model time, no machinery),
- the sweep runner: serial, local pool with 1 and 2 workers (in-process),
- the sweep command (``python -m experiments.batch``, 2 workers, a fresh interpreter),
- plain ``hydra -m`` over ``model.run``, one Hydra job per run.

Prints wall time, runs/s, the machinery's overhead as a share of model time and the 2-worker
speed-up. Targets: overhead <= 10 %, 2 workers >= 1.7x one.

    .venv/bin/python -m benchmarks.sweep_bench [--end 2023-12] [--enterprises 5000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from experiments import batch
from model.outputs import write_run
from model.run import simulate

ROOT = Path(__file__).resolve().parents[1]
AXES = {"demand.logit_scale_rmb": "60.0,240.0", "supply.optimism": "0.0,0.2"}  # smoke grid


def size_overrides(args: argparse.Namespace) -> list[str]:
    return [f"run.end={args.end}", f"demand.n_enterprises={args.enterprises}",
            f"supply.n_datacenters={args.datacenters}"]


def model_loop(plan: batch.Plan, out: Path) -> float:
    """Seconds to simulate and write every run of the plan in a plain loop."""
    t0 = time.perf_counter()
    for row in plan.runs.to_dict("records"):
        cfg = plan.run_config(row)
        write_run(simulate(cfg), out / row["run_id"])
    return time.perf_counter() - t0


def sweep_in_process(args: argparse.Namespace, out: Path, executor: str, workers: int) -> float:
    """Seconds for the sweep runner (planning included) in this process."""
    t0 = time.perf_counter()
    plan = batch.plan_from_overrides(
        ["experiment=smoke", f"sweep.dir={out}", f"sweep.executor={executor}",
         f"sweep.workers={workers}", "sweep.progress=false", *size_overrides(args)])
    summary = batch.execute_plan(plan)
    assert summary.done == len(plan.runs), summary.line()
    return time.perf_counter() - t0


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--end", default="2023-12", help="last month (YYYY-MM)")
    parser.add_argument("--enterprises", type=int, default=5000)
    parser.add_argument("--datacenters", type=int, default=150)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as tmp:
        tmp = Path(tmp)
        plan = batch.plan_from_overrides(["experiment=smoke", f"sweep.dir={tmp / 'plan'}",
                                          *size_overrides(args)])
        n = len(plan.runs)
        simulate(plan.run_config(plan.runs.iloc[0].to_dict()))          # warm caches
        rows = [("model loop (simulate + write_run)", model_loop(plan, tmp / "loop"), 1)]
        model_s = rows[0][1]
        for executor, workers in (("serial", 1), ("local", 1), ("local", 2)):
            wall = sweep_in_process(args, tmp / f"{executor}{workers}", executor, workers)
            rows.append((f"sweep {executor}, {workers} worker(s)", wall, workers))
        cli = [sys.executable, "-m", "experiments.batch", "experiment=smoke",
               f"sweep.dir={tmp / 'cli'}", "sweep.workers=2", "sweep.progress=false",
               *size_overrides(args)]
        rows.append(("sweep command, 2 workers (new process)", timed(cli), 2))
        hydra_m = [sys.executable, "-m", "model.run", "-m",
                   *[f"{k}={v}" for k, v in AXES.items()], "run.seed=0,1", "run.quiet=true",
                   f"run.out_dir={tmp / 'hydra'}/" + "${hydra:job.num}",
                   f"hydra.sweep.dir={tmp / 'multirun'}", *size_overrides(args)]
        rows.append(("hydra -m model.run, one job per run (new process)", timed(hydra_m), 1))
    print(f"\nSweep benchmark: {n} runs ({args.end}, {args.enterprises} enterprises, "
          f"{args.datacenters} DCs), model time {model_s / n:.2f} s/run\n")
    print(f"{'mode':<52}{'wall s':>8}{'runs/s':>8}{'overhead':>10}")
    for name, wall, workers in rows:
        overhead = (wall * workers - model_s) / model_s
        print(f"{name:<52}{wall:>8.2f}{n / wall:>8.2f}{overhead:>9.0%}")
    local1, local2 = rows[2][1], rows[3][1]
    print(f"\noverhead of the sweep runner, 1 worker: {(local1 - model_s) / model_s:.1%} "
          f"(target <= 10 %); 2 workers vs 1: {local1 / local2:.2f}x (target >= 1.7x)")


if __name__ == "__main__":
    main()
