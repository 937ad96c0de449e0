"""Running a plan: create or check the sweep folder, skip completed runs, record every run
in the index, and append the invocation to the sweep manifest (resumable)."""

from __future__ import annotations

import functools
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from tqdm import tqdm

from experiments import store
from experiments.design import SweepInputError
from experiments.sweep.executors import EXECUTE, Runner, _now, check_scheduler, model_runner
from experiments.sweep.plan import ROOT, Plan

PACKAGES = ("mesa", "numpy", "pandas", "pyarrow", "hydra-core", "omegaconf", "duckdb",
            "SALib", "dask", "distributed", "tqdm")


@dataclass
class Summary:
    """What one invocation of a sweep did."""

    dir: Path
    total: int
    done: int
    failed: int
    skipped: int
    wall_s: float

    def line(self) -> str:
        """The one-line end summary."""
        return (f"sweep {self.dir}: {self.total} runs: {self.done} done, {self.failed} failed, "
                f"{self.skipped} skipped (already complete) in {self.wall_s:.1f} s wall")


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True,
                               text=True, timeout=5).stdout.strip()
        return out + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def prepare_folder(plan: Plan) -> tuple[dict[str, Any], set[str]]:
    """Create or check the sweep folder; returns the manifest and the completed run ids.
    Refuses a folder whose design or config differ from the plan."""
    sweep_dir = plan.settings.dir
    manifest = store.read_manifest(sweep_dir)
    run_ids = list(plan.runs["run_id"])
    if manifest is None:
        started = {"config.yaml", store.DESIGN}     # written before sweep.json (a killed start)
        if sweep_dir.exists() and any(p.name not in started and not p.name.startswith(".")
                                      for p in sweep_dir.iterdir()):
            raise SweepInputError("sweep.dir", str(sweep_dir),
                                  f"folder is not empty and holds no {store.MANIFEST}")
        manifest = {
            "fingerprint": plan.fingerprint, "created": _now(), "design": plan.design_spec,
            "seeds": plan.settings.seeds, "n_points": int(plan.runs["point"].nunique()),
            "n_runs": len(plan.runs), "group_axes": plan.group_axes,
            "overrides": plan.overrides, "git_commit": _git_commit(),
            "packages": _versions(), "host": socket.gethostname(), "invocations": [],
        }
        sweep_dir.mkdir(parents=True, exist_ok=True)
        for leftover in sweep_dir.glob(".*.tmp"):          # temp files of a killed start
            leftover.unlink()
        base = OmegaConf.create(next(iter(plan.variants.values())))
        store.atomic_write_text(sweep_dir / "config.yaml", OmegaConf.to_yaml(base))
        store.atomic_write_parquet(sweep_dir / store.DESIGN, plan.runs)
        store.write_manifest(sweep_dir, manifest)
        return manifest, set()
    for part in ("design", "config"):
        old, new = manifest["fingerprint"].get(part), plan.fingerprint[part]
        if old != new:
            raise SweepInputError(
                "sweep.dir", str(sweep_dir),
                f"{part} changed since this sweep started ({old} != {new}); "
                "use a new sweep.dir or restore the original settings")
    finished = store.completed_runs(sweep_dir, run_ids)
    problems = {rid: store.run_problem(sweep_dir, rid, plan.fingerprint)
                for rid in sorted(finished)}
    bad = {rid: why for rid, why in problems.items() if why}
    good = finished - set(bad)
    removed = store.remove_partial_runs(sweep_dir, good)
    if bad:
        names = ", ".join(f"{rid} ({why})" for rid, why in bad.items())
        print(f"sweep {sweep_dir}: redoing {len(bad)} run(s) that are not good runs of this "
              f"sweep: {names}", file=sys.stderr)
    foreign = sorted({Path(r).name.removeprefix("run_id=") for r in removed} - set(run_ids))
    if foreign:
        print(f"sweep {sweep_dir}: removed {len(foreign)} folder(s) of runs not in this sweep: "
              f"{', '.join(foreign)}", file=sys.stderr)
    return manifest, good


def check_folder(plan: Plan) -> None:
    """Refuse, before anything is written, a sweep.dir that is not a folder, an unreachable
    Dask scheduler, or a folder (or missing folder's parent) that cannot be written."""
    sweep_dir = plan.settings.dir
    if sweep_dir.exists() and not sweep_dir.is_dir():
        raise SweepInputError("sweep.dir", str(sweep_dir), "exists and is not a folder")
    if plan.settings.executor == "dask" and plan.settings.scheduler:
        check_scheduler(plan.settings.scheduler)
    try:
        store.check_writable(sweep_dir)
    except OSError as err:
        raise SweepInputError("sweep.dir", str(sweep_dir),
                              f"cannot write here ({err.strerror or err})") from None


def lock_folder(plan: Plan) -> store.SweepLock:
    """Take the sweep folder's exclusive lock (one line if another sweep holds it)."""
    try:
        return store.SweepLock.acquire(plan.settings.dir)
    except store.SweepLocked as err:
        raise SweepInputError("sweep.dir", str(plan.settings.dir), str(err)) from None
    except OSError as err:
        raise SweepInputError("sweep.dir", str(plan.settings.dir),
                              f"cannot write here ({err.strerror or err})") from None


def execute_plan(plan: Plan, runner: Runner = model_runner) -> Summary:
    """Run every not-yet-complete run of the plan, recording each in the index; checks the
    folder first and holds its lock throughout."""
    t0, started = time.perf_counter(), _now()
    check_folder(plan)
    lock = lock_folder(plan)
    try:
        return _execute_locked(plan, runner, t0, started)
    finally:
        lock.release()


def _execute_locked(plan: Plan, runner: Runner, t0: float, started: str) -> Summary:
    settings = plan.settings
    manifest, complete = prepare_folder(plan)
    index = store.SweepIndex.open(settings.dir, plan.runs)
    try:
        index.mark_done_from_disk(sorted(complete), plan.runs)
        rows = [r for r in plan.runs.to_dict("records") if r["run_id"] not in complete]
        tasks = (plan.task(r) for r in rows)
        done = failed = 0
        bar = tqdm(total=len(rows), unit="run", desc=f"sweep {settings.dir.name}",
                   disable=not settings.progress, dynamic_ncols=True, file=sys.stderr)
        with bar:
            bar.set_postfix(failed=0)
            execute = EXECUTE[settings.executor]
            if settings.cluster == "slurm":
                execute = functools.partial(execute, slurm=settings.slurm)
            for rec in execute(tasks, runner, settings.workers, settings.scheduler):
                index.record(rec)
                if rec["status"] == "done":
                    done += 1
                else:
                    failed += 1
                    bar.set_postfix(failed=failed)
                bar.update()
    finally:
        index.close()
    summary = Summary(settings.dir, len(plan.runs), done, failed, len(complete),
                      time.perf_counter() - t0)
    manifest["invocations"].append({
        "started": started, "finished": _now(), "wall_s": round(summary.wall_s, 3),
        "executor": settings.executor, "workers": settings.workers,
        "scheduler": settings.scheduler, "cluster": settings.cluster,
        "done": done, "failed": failed,
        "skipped": len(complete), "git_commit": _git_commit(), "host": socket.gethostname(),
    })
    store.write_manifest(settings.dir, manifest)
    return summary
