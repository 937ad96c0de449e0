"""Sweep executors: run tasks (one resolved model config each) serially, on a local
process pool or on Dask, yielding one index row per run as runs finish."""

from __future__ import annotations

import os
import socket
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from experiments import store
from model.run import RunResult, simulate

Runner = Callable[[dict[str, Any], dict[str, Any]], Any]   # (config, sweep meta) -> result


def model_runner(cfg: dict[str, Any], sweep_meta: dict[str, Any]) -> RunResult:
    """Run the model for one resolved config (plain containers): its tables, config and
    manifest (``store.write_shard`` writes them)."""
    return simulate(cfg)


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
        result = runner(task["config"], meta)
        result.manifest["sweep"] = meta
        store.write_shard(Path(task["sweep_dir"]), task["run_id"], result)
        rec.update(status="done", error=None)
    except Exception:
        rec.update(status="failed", error=traceback.format_exc())
    rec.update(wall_s=time.perf_counter() - t0, finished=_now())
    return rec


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
