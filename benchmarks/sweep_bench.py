"""Sweep throughput, side by side in one process (docs/benchmarks.md): the same runs (the smoke
grid, 2 x 2 points x 2 seeds, at a benchmark size) done as

- a plain loop of ``simulate`` + ``write_run`` (the model time, no machinery),
- the sweep runner: serial, local pool with 1 and 2 workers (in-process),
- the sweep command (``python -m experiments.sweep``, 2 workers, a fresh interpreter),
- plain ``hydra -m`` over ``model.run``, one Hydra job per run.

Prints wall time, runs/s, CPU time and the machinery's overhead as a share of model time (CPU
time is robust to other load on the machine; wall time is not) and the 2-worker
speed-up. Targets: overhead <= 10 %, 2 workers >= 1.7x one.

    .venv/bin/python -m benchmarks.sweep_bench [--end 2035-12] [--enterprises 5000]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from experiments.sweep import Plan, execute_plan, plan_from_overrides
from model.outputs import write_run
from model.run import simulate

ROOT = Path(__file__).resolve().parents[1]
AXES = {"demand.logit_scale_rmb": "150.0,600.0", "supply.optimism": "0.0,0.2"}  # smoke grid


def size_overrides(args: argparse.Namespace) -> list[str]:
    return [f"run.end={args.end}", f"demand.n_enterprises={args.enterprises}",
            f"supply.n_datacenters={args.datacenters}"]


def cpu_seconds() -> float:
    """CPU seconds used so far by this process and its finished children."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def measured(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall s, CPU s) of one call."""
    cpu, t0 = cpu_seconds(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, cpu_seconds() - cpu


def model_loop(plan: Plan, out: Path) -> None:
    """Simulate and write every run of the plan in a plain loop."""
    for row in plan.runs.to_dict("records"):
        write_run(simulate(plan.run_config(row)), out / row["run_id"])


def sweep_in_process(args: argparse.Namespace, out: Path, executor: str, workers: int) -> None:
    """The sweep runner (planning included) in this process."""
    plan = plan_from_overrides(
        ["experiment=smoke", f"sweep.dir={out}", f"sweep.executor={executor}",
         f"sweep.workers={workers}", "sweep.progress=false", *size_overrides(args)])
    summary = execute_plan(plan)
    assert summary.failed == 0, summary.line()


def command(cmd: list[str]) -> Callable[[], object]:
    return lambda: subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--end", default="2035-12", help="last month (YYYY-MM)")
    parser.add_argument("--enterprises", type=int, default=5000)
    parser.add_argument("--datacenters", type=int, default=150)
    args = parser.parse_args(argv)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as tmp:
        tmp = Path(tmp)
        plan = plan_from_overrides(["experiment=smoke", f"sweep.dir={tmp / 'plan'}",
                                          *size_overrides(args)])
        n = len(plan.runs)
        simulate(plan.run_config(plan.runs.iloc[0].to_dict()))          # warm caches
        rows = [("model loop (simulate + write_run)", 1,
                 measured(lambda: model_loop(plan, tmp / "loop")))]
        for executor, workers in (("serial", 1), ("local", 1), ("local", 2)):
            out = tmp / f"{executor}{workers}"
            rows.append((f"sweep {executor}, {workers} worker(s)", workers, measured(
                lambda ex=executor, w=workers, o=out: sweep_in_process(args, o, ex, w))))
        fixed = measured(lambda: sweep_in_process(args, tmp / "local1", "local", 1))
        cli = [sys.executable, "-m", "experiments.sweep", "experiment=smoke",
               f"sweep.dir={tmp / 'cli'}", "sweep.workers=2", "sweep.progress=false",
               *size_overrides(args)]
        rows.append(("sweep command, 2 workers (new process)", 2, measured(command(cli))))
        hydra_m = [sys.executable, "-m", "model.run", "-m",
                   *[f"{k}={v}" for k, v in AXES.items()], "run.seed=0,1", "run.quiet=true",
                   "run.allow_outside_root=true",
                   f"run.out_dir={tmp / 'hydra'}/" + "${hydra:job.num}",
                   f"hydra.sweep.dir={tmp / 'multirun'}", *size_overrides(args)]
        rows.append(("hydra -m model.run, one job per run (new process)", 1,
                     measured(command(hydra_m))))
    model_wall, model_cpu = rows[0][2]
    print(f"\nSweep benchmark: {n} runs ({args.end}, {args.enterprises} enterprises, "
          f"{args.datacenters} DCs), model {model_wall / n:.2f} s/run; load average "
          f"{load[0]:.1f} before, {os.getloadavg()[0]:.1f} after on {os.cpu_count()} cores\n")
    print(f"{'mode':<52}{'wall s':>8}{'runs/s':>8}{'CPU s':>8}{'CPU overhead':>14}")
    for name, _, (wall, cpu) in rows:
        print(f"{name:<52}{wall:>8.2f}{n / wall:>8.2f}{cpu:>8.2f}"
              f"{(cpu - model_cpu) / model_cpu:>13.1%}")
    (w1, c1), (w2, _) = rows[2][2], rows[3][2]
    print(f"\nfixed start-up of a sweep (compose, validate every point, folder, index; timed "
          f"as a resume with nothing left to run): {fixed[0]:.2f} s wall, {fixed[1]:.2f} s CPU")
    print(f"per-run overhead of the sweep runner, local pool, 1 worker: "
          f"{(w1 - fixed[0] - model_wall) / model_wall:.1%} of model wall time, "
          f"{(c1 - fixed[1] - model_cpu) / model_cpu:.1%} of model CPU time (target <= 10 %)")
    print(f"2 workers vs 1 (wall): {w1 / w2:.2f}x (target >= 1.7x)")


if __name__ == "__main__":
    main()
