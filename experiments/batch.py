"""Sweep runner: expand a design × seed list inside ONE process and run it on an executor
(serial, a local process pool, or Dask), resumably (DESIGN §10).

    make sweep ARGS="experiment=voucher_vs_discount sweep.dir=outputs/sweeps/vd"
    make sweep ARGS="experiment=smoke sweep.executor=dask sweep.scheduler=tcp://127.0.0.1:8786"

Re-running the same command on the same ``sweep.dir`` skips completed runs and redoes failed
or half-written ones; a changed design or config is refused. ``hydra -m`` over coarse axes
(e.g. ``-m scenario=edwc,no_edwc sweep.dir=outputs/sweeps/x/\\${scenario.name}``) still works.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import hydra
import pandas as pd
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf, open_dict
from tqdm import tqdm

from experiments import store
from experiments.design import (
    Design,
    SweepInputError,
    design_points,
    expand_runs,
    parse_design,
    parse_seeds,
)
from model.outputs import write_run
from model.paths import CONF_DIR
from model.run import simulate
from model.schema import ConfigError, validate

ROOT = Path(__file__).resolve().parents[1]
SWEEP_KEYS = ("sweep", "design")          # keys of the sweep config that are not model config
EXECUTORS = ("local", "dask", "serial")
NOT_RESULTS = ("run.out_dir", "run.quiet", "run.allow_outside_root")  # never change tables
PACKAGES = ("mesa", "numpy", "pandas", "pyarrow", "hydra-core", "omegaconf", "duckdb",
            "SALib", "dask", "distributed", "tqdm")

Runner = Callable[[dict[str, Any], Path, dict[str, Any]], None]
Composer = Callable[[list[str]], DictConfig]


def model_runner(cfg: dict[str, Any], out_dir: Path, sweep_meta: dict[str, Any]) -> None:
    """Run the model for one resolved config (plain containers) and write its folder
    atomically, with the run's design row in its manifest."""
    result = simulate(cfg)
    result.manifest["sweep"] = sweep_meta
    write_run(result, out_dir)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def execute_run(task: dict[str, Any], runner: Runner = model_runner) -> dict[str, Any]:
    """Worker body: run one design point × seed; never raises, returns the index row."""
    started, t0 = _now(), time.perf_counter()
    rec = {"run_id": task["run_id"], "point": task["point"], "seed": task["seed"],
           "started": started, "host": socket.gethostname(), "pid": os.getpid()}
    meta = {"run_id": task["run_id"], "point": task["point"], "seed": task["seed"],
            "params": task["params"], "sweep_dir": task["sweep_dir"], "started": started}
    try:
        runner(task["config"], Path(task["out_dir"]), meta)
        rec.update(status="done", error=None)
    except Exception:
        rec.update(status="failed", error=traceback.format_exc())
    rec.update(wall_s=time.perf_counter() - t0, finished=_now())
    return rec


# ---------------------------------------------------------------- planning (nothing written)

@dataclass
class SweepSettings:
    """The validated ``sweep:`` block."""

    dir: Path
    seeds: list[int]
    executor: str = "local"
    workers: int = 1
    scheduler: str | None = None
    progress: bool = True


@dataclass
class Plan:
    """Everything a sweep will run, decided before anything is written."""

    settings: SweepSettings
    design_spec: dict[str, Any]
    design: Design
    runs: pd.DataFrame                         # one row per run (see design.expand_runs)
    group_axes: list[str]                      # axes that are Hydra config-group choices
    variants: dict[tuple[str, ...], dict[str, Any]]  # group choices -> resolved model config
    overrides: list[str]
    fingerprint: dict[str, str] = field(default_factory=dict)

    def run_config(self, row: dict[str, Any]) -> dict[str, Any]:
        """The fully resolved model config of one run (plain containers)."""
        cfg = copy.deepcopy(self.variants[tuple(str(row[g]) for g in self.group_axes)])
        for axis in self.design.axes:
            if axis.key not in self.group_axes:
                for key in axis.keys:
                    set_key(cfg, key, _py(row[axis.key]))
        set_key(cfg, "run.seed", int(row["seed"]))
        set_key(cfg, "run.out_dir", str(self.settings.dir.resolve() / store.RUNS / row["run_id"]))
        set_key(cfg, "run.quiet", True)
        return cfg

    def task(self, row: dict[str, Any]) -> dict[str, Any]:
        """The picklable task of one run: its resolved model config and where to write."""
        config = self.run_config(row)
        return {"run_id": row["run_id"], "point": int(row["point"]), "seed": int(row["seed"]),
                "params": {a.key: _py(row[a.key]) for a in self.design.axes},
                "config": config, "out_dir": config["run"]["out_dir"],
                "sweep_dir": str(self.settings.dir.resolve())}


def _walk(cfg: Any, key: str) -> tuple[Any, str | int]:
    """The container holding a dotted key (list items by index) and the last part."""
    *head, last = key.split(".")
    node = cfg
    for part in head:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node, (int(last) if isinstance(node, list) else last)


def has_key(cfg: dict[str, Any], key: str) -> bool:
    """Whether a dotted key (e.g. ``policy.national.route_factor.3.value``) exists."""
    try:
        node, last = _walk(cfg, key)
        node[last]
    except (KeyError, IndexError, TypeError, ValueError):
        return False
    return True


def set_key(cfg: dict[str, Any], key: str, value: Any) -> None:
    """Set an existing dotted key in plain config containers."""
    node, last = _walk(cfg, key)
    node[last] = value


def _py(value: Any) -> Any:
    """numpy scalars → Python scalars (OmegaConf and JSON accept only the latter)."""
    return value.item() if hasattr(value, "item") else value


def _digest(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def parse_settings(sweep: Any) -> SweepSettings:
    """Validate the ``sweep:`` block (dir, seeds, executor, workers, scheduler, progress)."""
    sweep = OmegaConf.to_container(sweep, resolve=True) if OmegaConf.is_config(sweep) else sweep
    known = {"dir", "seeds", "executor", "workers", "scheduler", "progress", "name"}
    for key in sweep:
        if key not in known:
            raise SweepInputError(f"sweep.{key}", sweep[key], "unknown sweep setting")
    seeds = parse_seeds(sweep.get("seeds"))
    if not sweep.get("dir") or not isinstance(sweep["dir"], str):
        raise SweepInputError("sweep.dir", sweep.get("dir"), "expected a folder path")
    executor = sweep.get("executor", "local")
    if executor not in EXECUTORS:
        raise SweepInputError("sweep.executor", executor,
                              f"unknown executor (one of {', '.join(EXECUTORS)})")
    workers = sweep.get("workers")
    if workers is None:
        workers = os.cpu_count() or 1
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise SweepInputError("sweep.workers", workers, "expected a positive integer or null")
    scheduler = sweep.get("scheduler")
    if scheduler is not None and (executor != "dask" or not isinstance(scheduler, str)):
        raise SweepInputError("sweep.scheduler", scheduler,
                              "a scheduler address (tcp://host:port) needs sweep.executor=dask")
    return SweepSettings(Path(sweep["dir"]), seeds, executor, workers, scheduler,
                         bool(sweep.get("progress", True)))


def model_config(cfg: DictConfig) -> DictConfig:
    """The model's part of a composed sweep config (without sweep/design keys)."""
    container = OmegaConf.to_container(cfg, resolve=False)
    for key in SWEEP_KEYS:
        container.pop(key, None)
    return OmegaConf.create(container)


def plan_sweep(cfg: DictConfig, compose: Composer, overrides: Sequence[str],
               groups: Sequence[str]) -> Plan:
    """Validate the sweep input and expand the design × seeds; raises SweepInputError.

    ``compose(overrides)`` composes the sweep config (used once per combination of
    config-group choices, e.g. scenarios); ``groups`` names the Hydra config groups.
    """
    settings = parse_settings(cfg.get("sweep"))
    design_spec = OmegaConf.to_container(cfg.design, resolve=True) if cfg.get("design") else None
    if design_spec is None:
        raise SweepInputError("design", None, "no design; choose one, e.g. experiment=smoke")
    design = parse_design(design_spec)
    base = model_config(cfg)
    plain = OmegaConf.to_container(base, resolve=False)
    interpolations = OmegaConf.to_yaml(base)
    group_axes = [a.key for a in design.axes if a.key in groups and not a.targets]
    for axis in design.axes:
        if axis.key in group_axes:
            if not axis.categorical:
                raise SweepInputError(f"design.axes.{axis.key}", axis.key,
                                      "a config group takes {choices: [...]} or a list")
            continue
        for key in axis.keys:
            if key == "run.seed":
                raise SweepInputError(f"design.axes.{axis.key}", key,
                                      "seeds are not an axis; set sweep.seeds")
            if not has_key(plain, key):
                raise SweepInputError(f"design.axes.{axis.key}", key, "unknown config key")
            if "${" + key + "}" in interpolations:
                raise SweepInputError(f"design.axes.{axis.key}", key,
                                      "other keys interpolate it; sweep those keys instead")
    points = design_points(design)
    runs = expand_runs(points, settings.seeds)
    variants: dict[tuple[str, ...], dict[str, Any]] = {}
    keep = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") not in group_axes]
    for combo in points[group_axes].drop_duplicates().itertuples(index=False):
        choice = tuple(str(c) for c in combo)
        extra = [f"{g}={c}" for g, c in zip(group_axes, choice, strict=True)]
        try:
            variant = model_config(compose(keep + extra)) if extra else base
        except HydraException as err:
            raise SweepInputError(f"design.axes.{','.join(group_axes)}", list(choice),
                                  f"cannot compose: {str(err).splitlines()[0]}") from None
        variants[choice] = OmegaConf.to_container(variant, resolve=True)
    plan = Plan(settings, design_spec, design, runs, group_axes, variants, list(overrides))
    plan.fingerprint = fingerprint(plan)
    return plan


def check_run_configs(plan: Plan, validate: Callable[[dict[str, Any]], Any]) -> None:
    """Validate every run's config with the model's schema before anything is written;
    re-raises the first error with the run it came from."""
    for row in plan.runs.drop_duplicates("point").to_dict("records"):
        try:
            validate(plan.run_config(row))
        except ValueError as err:
            key, value = getattr(err, "key", "design"), getattr(err, "value", row["run_id"])
            reason = getattr(err, "reason", str(err))
            raise SweepInputError(key, value, f"{reason} (design point {row['point']})") from None


def plan_from_overrides(overrides: Sequence[str], config_name: str = "sweep",
                        check: bool = True) -> Plan:
    """Compose the sweep config with Hydra's compose API (no Hydra app needed, e.g. in
    tests, benchmarks and notebooks), plan it and (``check``) validate every run config."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name, overrides=list(overrides), return_hydra_config=True)
        groups = list(cfg.hydra.runtime.choices)
        with open_dict(cfg):
            del cfg["hydra"]
        plan = plan_sweep(cfg, lambda extra: compose(config_name, overrides=extra),
                          overrides, groups)
    if check:
        check_run_configs(plan, validate)
    return plan


def fingerprint(plan: Plan) -> dict[str, str]:
    """Hashes that a resumed sweep must match: the design table and the model configs."""
    columns = list(plan.runs.columns)
    design_hash = _digest([columns, *plan.runs.astype(str).to_numpy().tolist()])
    configs = {}
    for choice, cfg in plan.variants.items():
        resolved = copy.deepcopy(cfg)
        for key in NOT_RESULTS:
            if has_key(resolved, key):
                set_key(resolved, key, None)
        configs["|".join(choice)] = resolved
    return {"design": design_hash, "config": _digest(configs)}


# ---------------------------------------------------------------- execution

def _serial(tasks: Iterator[dict[str, Any]], runner: Runner, workers: int,
            scheduler: str | None) -> Iterator[dict[str, Any]]:
    for task in tasks:
        yield execute_run(task, runner)


def _local(tasks: Iterator[dict[str, Any]], runner: Runner, workers: int,
           scheduler: str | None) -> Iterator[dict[str, Any]]:
    """A process pool (fork on Linux); at most 2 × workers runs in flight. If a worker
    process dies, its runs are recorded as failed and a fresh pool carries on."""
    import multiprocessing as mp

    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    queue = _Queue(tasks)
    while queue:
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            inflight: dict[Any, dict[str, Any]] = {}
            broken = False
            while not broken:
                while queue and len(inflight) < 2 * workers:
                    task = queue.pop()
                    try:
                        inflight[pool.submit(execute_run, task, runner)] = task
                    except BrokenProcessPool:
                        queue.push(task)
                        broken = True
                        break
                if not inflight:
                    break
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for fut in done:
                    task = inflight.pop(fut)
                    if isinstance(fut.exception(), BrokenProcessPool):
                        broken = True
                        yield _died(task)
                    else:
                        yield fut.result()
            for fut, task in inflight.items():
                yield _died(task) if fut.exception() else fut.result()


class _Queue:
    """Tasks drawn lazily from an iterator, with room to put one back."""

    def __init__(self, tasks: Iterator[dict[str, Any]]) -> None:
        self._tasks, self._back = iter(tasks), []
        self._next = next(self._tasks, None)

    def __bool__(self) -> bool:
        return bool(self._back) or self._next is not None

    def pop(self) -> dict[str, Any]:
        if self._back:
            return self._back.pop()
        task, self._next = self._next, next(self._tasks, None)
        return task

    def push(self, task: dict[str, Any]) -> None:
        self._back.append(task)


def _died(task: dict[str, Any], error: str = "") -> dict[str, Any]:
    """The index row of a run whose worker process died under it."""
    return {"run_id": task["run_id"], "point": task["point"], "seed": task["seed"],
            "status": "failed", "finished": _now(), "host": socket.gethostname(),
            "error": error or "worker process died (killed or out of memory) during the run"}


def _dask(tasks: Iterator[dict[str, Any]], runner: Runner, workers: int,
          scheduler: str | None) -> Iterator[dict[str, Any]]:
    """Dask distributed: the given scheduler, or a LocalCluster bound to 127.0.0.1."""
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
    client = Client(scheduler or cluster)
    try:
        window = 2 * max(1, len(client.scheduler_info().get("workers", {})) or workers)
        queue = _Queue(tasks)
        futures = as_completed()
        tasks_of: dict[str, dict[str, Any]] = {}

        def submit(task: dict[str, Any]) -> None:
            fut = client.submit(execute_run, task, runner, pure=False)
            tasks_of[fut.key] = task
            futures.add(fut)

        while queue and futures.count() < window:
            submit(queue.pop())
        for fut in futures:
            task = tasks_of.pop(fut.key)
            try:
                yield fut.result()
            except Exception:   # e.g. KilledWorker: the run's worker died repeatedly
                yield _died(task, traceback.format_exc())
            if queue:
                submit(queue.pop())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


EXECUTE = {"serial": _serial, "local": _local, "dask": _dask}


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
    store.remove_partial_runs(sweep_dir, run_ids)
    return manifest, store.completed_runs(sweep_dir, run_ids)


def execute_plan(plan: Plan, runner: Runner = model_runner) -> Summary:
    """Run every not-yet-complete run of the plan, recording each in the index."""
    t0, started = time.perf_counter(), _now()
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
        "scheduler": settings.scheduler, "done": done, "failed": failed,
        "skipped": len(complete), "git_commit": _git_commit(), "host": socket.gethostname(),
    })
    store.write_manifest(settings.dir, manifest)
    return summary


@hydra.main(config_path=str(CONF_DIR), config_name="sweep", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Hydra entry point: plan, run, print the summary; exit 2 on bad input, 1 on failed
    runs."""
    hc = HydraConfig.get()

    def compose(overrides: list[str]) -> DictConfig:
        return hydra.compose(config_name=hc.job.config_name, overrides=overrides)

    try:
        plan = plan_sweep(cfg, compose, list(hc.overrides.task), list(hc.runtime.choices))
        check_run_configs(plan, validate)
        summary = execute_plan(plan)
    except (SweepInputError, ConfigError) as err:
        print(str(err).splitlines()[0], file=sys.stderr)
        sys.exit(2)
    print(summary.line())
    if summary.failed:
        print(f"{summary.failed} run(s) failed; tracebacks are in {summary.dir / store.INDEX} "
              "(table runs); re-run the same command to retry them", file=sys.stderr)
        sys.exit(1)


def cli_main() -> None:
    """`edwc-sweep`, `python -m experiments.batch`: model.cli's pre-flight (no config that
    runs code, one-line compose errors, exit 2) before the Hydra app starts."""
    from model.cli import launch

    sys.exit(launch(main, "sweep"))


if __name__ == "__main__":
    cli_main()
