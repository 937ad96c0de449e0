"""Real sweeps of the model (2 x 2 grid x 2 seeds, one simulated year, few agents): executors
agree bit for bit, and a sweep survives a failing run, a killed worker and a killed sweep."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from experiments import store
from experiments.design import SweepInputError
from experiments.store import load_sweep
from experiments.sweep import Plan, execute_plan, model_runner, plan_from_overrides

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ["experiment=smoke", "sweep.progress=false"]   # 2 x 2 grid x seeds [0, 1], 2022


def plan(sweep_dir: Path, *extra: str) -> Plan:
    return plan_from_overrides([*SMOKE, f"sweep.dir={sweep_dir}", *extra])




@pytest.fixture(scope="module")
def serial_sweep(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("serial") / "sweep"
    summary = execute_plan(plan(out, "sweep.executor=serial"))
    assert (summary.done, summary.failed, summary.skipped) == (8, 0, 0)
    return out


def test_sweep_store_indexes_runs_and_joins_tables_with_parameters(serial_sweep):
    sweep = load_sweep(serial_sweep)
    assert set(sweep.runs["status"]) == {"done"} and len(sweep.runs) == 8
    assert {"national", "node", "flows"} <= set(sweep.tables)
    national = sweep.national
    assert len(national) == 8 * 12
    assert national.groupby(["demand.logit_scale_rmb", "supply.optimism"])["seed"].nunique(
    ).eq(2).all()
    by_run = sweep.sql("SELECT run_id, max(month) AS last FROM national GROUP BY run_id")
    assert by_run["last"].dt.strftime("%Y-%m").eq("2022-12").all()
    manifest = sweep.manifest
    assert manifest["seeds"] == [0, 1] and manifest["n_runs"] == 8
    assert {"git_commit", "packages", "host", "invocations", "fingerprint"} <= set(manifest)
    run_manifest = store.run_manifest_path(serial_sweep, "p00003-s1").read_text()
    assert '"run_id": "p00003-s1"' in run_manifest and '"supply.optimism": 0.2' in run_manifest


def test_local_pool_and_dask_write_tables_identical_to_serial(serial_sweep, tmp_path):
    from distributed import LocalCluster

    reference = store.table_digests(serial_sweep)
    assert len(reference) == 8 * len(load_sweep(serial_sweep).tables) >= 8 * 3
    pool = tmp_path / "pool"
    execute_plan(plan(pool, "sweep.executor=local", "sweep.workers=2"))
    assert store.table_digests(pool) == reference
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        dask = tmp_path / "dask"
        execute_plan(plan(dask, "sweep.executor=dask",
                                f"sweep.scheduler={cluster.scheduler_address}"))
    assert store.table_digests(dask) == reference


def fail_one(run_id: str):
    """A runner that raises for one run and runs the real model for the others."""
    def runner(cfg, meta):
        if meta["run_id"] == run_id:
            raise RuntimeError(f"injected failure in {run_id}")
        return model_runner(cfg, meta)
    return runner


def start_sweep(sweep_dir: Path, tmp: Path | None = None) -> subprocess.Popen:
    env = {**os.environ, "TMPDIR": str(tmp)} if tmp else None
    return subprocess.Popen(
        [sys.executable, "-m", "experiments.sweep", *SMOKE, f"sweep.dir={sweep_dir}",
         "sweep.executor=local", "sweep.workers=2"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True, env=env)


RUN_IDS = [f"p0000{p}-s{s}" for p in range(4) for s in (0, 1)]


def wait_for(condition, proc: subprocess.Popen):
    """Poll until condition() is truthy (or fail if the sweep exits first)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if found := condition():
            return found
        time.sleep(0.005)
    raise AssertionError(f"sweep exited early: {proc.communicate()}")


def busy_worker(proc: subprocess.Popen, sweep_dir: Path, tmp: Path) -> psutil.Process | None:
    """A pool worker of the sweep in the middle of a run: the pool notes which worker
    started which run in a file named after the run (under ``tmp``, the sweep's TMPDIR)."""
    children = {c.pid: c for c in psutil.Process(proc.pid).children()}
    # the run that started last has the most of its time left for the kill to land in
    marks = []
    for mark in tmp.glob("edwc-pool-*/*"):
        try:
            marks.append((mark.stat().st_mtime_ns, mark))
        except OSError:
            continue
    for _, mark in sorted(marks, reverse=True):
        try:
            pid = int(mark.read_text())
        except (OSError, ValueError):
            continue
        if pid in children and not store.run_manifest_path(sweep_dir, mark.name).exists():
            return children[pid]
    return None


def test_failed_run_killed_worker_and_killed_sweep_resume_to_identical_tables(
        serial_sweep, tmp_path):
    out = tmp_path / "sweep"
    # 1. a worker process is SIGKILLed mid-sweep: its run fails, the others are put back
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    for _ in range(6):      # a kill that lands between two runs of the worker fails none
        shutil.rmtree(out, ignore_errors=True)
        proc = start_sweep(out, tmp)
        wait_for(lambda p=proc: busy_worker(p, out, tmp), proc).send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
        runs = load_sweep(out).runs
        failed_before = set(runs.loc[runs["status"] == "failed", "run_id"])
        assert len(failed_before) <= 1 and (runs["status"] == "done").sum() == 8 - len(
            failed_before)
        if failed_before:
            break
    assert proc.returncode == 1 and "failed" in err and len(failed_before) == 1
    assert "worker process died" in " ".join(runs["error"].dropna())
    # 2. the whole sweep (parent and workers) is SIGKILLed while the retries run
    # (killed while a worker is inside the retried run, seen by its mark file, so the kill
    # cannot land after a short retry has already finished on a fast, quiet machine)
    proc = start_sweep(out, tmp)
    wait_for(lambda: busy_worker(proc, out, tmp), proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    left = sorted(set(RUN_IDS) - store.completed_runs(out, RUN_IDS))
    assert left
    # 3. resume with one run that raises: recorded with its traceback, the rest complete
    summary = execute_plan(plan(out, "sweep.executor=serial"), runner=fail_one(left[-1]))
    assert summary.failed == 1 and summary.done + summary.skipped == 7
    failure = load_sweep(out).runs.set_index("run_id").loc[left[-1]]
    assert failure["status"] == "failed" and "injected failure" in failure["error"]
    # 4. resume again: only the failed run is redone; tables match an uninterrupted sweep
    summary = execute_plan(plan(out, "sweep.executor=serial"))
    assert (summary.done, summary.failed, summary.skipped) == (1, 0, 7)
    assert store.table_digests(out) == store.table_digests(serial_sweep)
    assert not [p for p in (out / store.RUNS).glob("*/*") if p.name.startswith(".")]
    assert not [p for p in (out / store.MANIFESTS).iterdir() if p.name.startswith(".")]
    assert set(load_sweep(out).runs["status"]) == {"done"}


def test_resume_refuses_a_changed_design_or_config(serial_sweep):
    with pytest.raises(SweepInputError, match="design changed since this sweep started"):
        execute_plan(plan(serial_sweep, "sweep.seeds=[0,1,2]"))
    with pytest.raises(SweepInputError, match="config changed since this sweep started"):
        execute_plan(plan(serial_sweep, "demand.n_enterprises=300"))
    summary = execute_plan(plan(serial_sweep, "sweep.workers=1"))
    assert (summary.done, summary.skipped) == (0, 8)


def test_cli_sweep_refuses_bad_model_values_before_writing(tmp_path):
    out = tmp_path / "sweep"
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.sweep", *SMOKE, f"sweep.dir={out}",
         "demand.n_enterprises=-5"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and not out.exists()
    assert proc.stderr.strip() == proc.stderr.strip().splitlines()[0]
    assert "demand.n_enterprises = -5" in proc.stderr


def test_hydra_multirun_on_top_runs_one_sweep_per_scenario(tmp_path):
    """`hydra -m` over a coarse axis keeps working: one resumable sweep folder per scenario."""
    base = tmp_path / "multi"
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.sweep", "-m", "experiment=smoke",
         "scenario=edwc,no_edwc", f"sweep.dir={base}/${{scenario.name}}", "sweep.seeds=[0]",
         "sweep.executor=serial", "sweep.progress=false", f"hydra.sweep.dir={tmp_path}/hydra"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    for name in ("edwc", "no_edwc"):
        runs = load_sweep(base / name).runs
        assert len(runs) == 4 and (runs["status"] == "done").all()
        for manifest in (base / name / store.MANIFESTS).glob("*/manifest.json"):
            assert json.loads(manifest.read_text())["scenario"] == name


def gc_report(cfg, meta):
    """A runner reporting how many objects the garbage collector has frozen in its worker."""
    import gc
    from types import SimpleNamespace

    import pandas as pd

    national = pd.DataFrame({"month": pd.date_range("2022-01-01", periods=1, freq="MS"),
                             "year": 2022, "west_share": 0.0})
    return SimpleNamespace(tables={"national": national}, config=cfg,
                           manifest={"seed": meta["seed"], "frozen": gc.get_freeze_count()})


def test_local_pool_workers_leave_the_sweep_process_objects_to_the_collector(tmp_path):
    import gc

    out = tmp_path / "gc"
    summary = execute_plan(plan(out, "sweep.executor=local", "sweep.workers=2"),
                           runner=gc_report)
    assert summary.done == 8
    frozen = [json.loads(store.run_manifest_path(out, r).read_text())["frozen"]
              for r in load_sweep(out).design["run_id"]]
    assert min(frozen) > 10_000          # the parent's imports, frozen before the fork
    assert gc.get_freeze_count() == 0    # and given back to the collector after the sweep
