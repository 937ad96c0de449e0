"""Sweep executors: run tasks (one resolved model config each) serially, on a local
process pool or on Dask, yielding one index row per run as runs finish."""

from __future__ import annotations

import gc
import os
import signal
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from experiments import store
from experiments.design import SweepInputError
from model.run import RunResult, simulate

Runner = Callable[[dict[str, Any], dict[str, Any]], Any]   # (config, sweep meta) -> result
SCHEDULER_TIMEOUT_S = 3.0     # how long a sweep waits for a Dask scheduler before refusing
CLIENT_TIMEOUT_S = 60.0       # Dask client connect, once the scheduler is known to listen


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
            "params": task["params"], "sweep_dir": task["sweep_dir"], "started": started,
            "fingerprint": task["fingerprint"]}
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


def _pool_run(task: dict[str, Any], runner: Runner, marks: str) -> dict[str, Any]:
    """Pool worker body: note which process runs the task (a file named after the run),
    then run it."""
    Path(marks, task["run_id"]).write_text(str(os.getpid()))
    return execute_run(task, runner)


def _killed_pids(processes: dict[int, Any] | None) -> set[int] | None:
    """Pool workers that died on their own (killed, out of memory), not those the broken
    pool stopped with SIGTERM; None if the pool's processes cannot be seen."""
    if not isinstance(processes, dict):
        return None
    return {pid for pid, proc in processes.items()
            if proc.exitcode not in (None, 0, -signal.SIGTERM)}


def _local(tasks: Iterator[dict[str, Any]], runner: Runner, workers: int,
           scheduler: str | None) -> Iterator[dict[str, Any]]:
    """A process pool (fork on Linux); at most 2 × workers runs in flight. If a worker
    process dies, the pool breaks: the run that was on the dead worker is recorded as
    failed, the other runs in flight are put back, and a fresh pool carries on.

    Forked workers inherit the sweep process's objects (the plotting, table and model
    libraries); those are frozen out of the garbage collector while the pool runs
    (`gc.freeze`), so the workers' collections do not traverse them, nor copy their pages:
    ~4 % of a default run's CPU time in a worker of the brief's process."""
    import multiprocessing as mp

    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    queue = _Queue(tasks)
    frozen_before = gc.get_freeze_count()
    gc.freeze()
    try:
        yield from _pool(queue, runner, workers, ctx)
    finally:
        if not frozen_before:              # leave a caller's own freeze as it was
            gc.unfreeze()


def _pool(queue: _Queue, runner: Runner, workers: int, ctx: Any) -> Iterator[dict[str, Any]]:
    """The body of `_local`: run the queue's tasks on process pools of `workers`."""
    with tempfile.TemporaryDirectory(prefix="edwc-pool-") as marks:
        while queue:
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
                # pid -> Process (private; only read to tell the dead worker from the others)
                processes = getattr(pool, "_processes", None)
                inflight: dict[Any, dict[str, Any]] = {}
                broken = False
                while not broken:
                    while queue and len(inflight) < 2 * workers:
                        task = queue.pop()
                        try:
                            inflight[pool.submit(_pool_run, task, runner, marks)] = task
                        except BrokenProcessPool:
                            queue.push(task)
                            broken = True
                            break
                    if not inflight or broken:
                        break
                    done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                    for fut in done:
                        if isinstance(fut.exception(), BrokenProcessPool):
                            broken = True
                            continue
                        yield fut.result()
                        del inflight[fut]
                wait(inflight)
                killed = _killed_pids(processes)
                for fut, task in inflight.items():
                    if fut.exception() is None:
                        yield fut.result()
                    elif killed is None or _worker_of(marks, task) in killed:
                        yield _died(task)
                    else:                         # its worker was stopped, not killed
                        Path(marks, task["run_id"]).unlink(missing_ok=True)
                        queue.push(task)


def _worker_of(marks: str, task: dict[str, Any]) -> int | None:
    """The pid of the pool worker that started this task, if one did."""
    try:
        return int(Path(marks, task["run_id"]).read_text())
    except (OSError, ValueError):
        return None


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


def slurm_cluster(slurm: dict[str, Any], workers: int) -> Any:
    """A dask-jobqueue SLURMCluster: ``slurm.jobs`` (default ``workers``) Slurm jobs of one
    single-threaded Dask worker each, running this interpreter (so this project's packages),
    with the scheduler here (on ``slurm.host`` if given) and no dashboard."""
    from dask_jobqueue import SLURMCluster

    options: dict[str, Any] = {"dashboard_address": None}
    if slurm.get("host"):
        options["host"] = slurm["host"]
    cluster = SLURMCluster(
        cores=slurm.get("cores", 1), processes=1, memory=slurm.get("memory", "2GiB"),
        walltime=slurm.get("walltime", "01:00:00"), queue=slurm.get("queue"),
        account=slurm.get("account"), python=sys.executable, scheduler_options=options,
        log_directory=slurm.get("log_directory"),
        worker_extra_args=["--nthreads", "1"])
    cluster.scale(jobs=slurm.get("jobs") or workers)
    return cluster


def _dask(tasks: Iterator[dict[str, Any]], runner: Runner, workers: int,
          scheduler: str | None, slurm: dict[str, Any] | None = None
          ) -> Iterator[dict[str, Any]]:
    """Dask distributed: the given scheduler, a SLURMCluster (``slurm`` settings given), or
    a LocalCluster bound to 127.0.0.1."""
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None and slurm is not None:
        cluster = slurm_cluster(slurm, workers)
    elif scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
    client = Client(scheduler or cluster, timeout=f"{CLIENT_TIMEOUT_S}s")
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


def check_scheduler(address: str, timeout_s: float = SCHEDULER_TIMEOUT_S) -> None:
    """Raise SweepInputError unless a TCP connection to the Dask scheduler opens within
    ``timeout_s`` (checked before the sweep folder is touched)."""
    from urllib.parse import urlsplit

    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if parts.scheme not in ("tcp", "tls") or not host or not port:
        raise SweepInputError("sweep.scheduler", address, "expected tcp://host:port")
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as err:
        reason = "timed out" if isinstance(err, TimeoutError) else (err.strerror or str(err))
        raise SweepInputError("sweep.scheduler", address,
                              f"no Dask scheduler reachable ({reason})") from None
