"""Crash safety (docs/reliability.md): a run killed with SIGKILL at any point leaves either a
complete
run folder or none; only hidden leftovers (`.<name>.tmp-*`, `.<name>.old-*`) may remain.
Sweeps killed while they create their folder resume (kills during runs: tests/test_sweeps.py).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from experiments import store
from experiments.sweep import execute_plan, plan_from_overrides
from model.outputs import TABLES, write_run
from model.run import ROOT, compose_config, simulate

SMALL = ["run.end=2022-06", "demand.n_enterprises=300", "supply.n_datacenters=40",
         "run.quiet=true"]
WRITE_KILLS = 24          # random SIGKILL points inside write_run
FILES = [f"{t}.parquet" for t in TABLES] + ["config.yaml", "manifest.json"]


def is_complete(folder: Path) -> bool:
    """Every file present and readable, and the manifest says complete."""
    if sorted(p.name for p in folder.iterdir()) != sorted(FILES):
        return False
    for table in TABLES:
        pq.read_table(folder / f"{table}.parquet")
    return json.loads((folder / "manifest.json").read_text())["status"] == "complete"


def visible(parent: Path) -> list[Path]:
    """Folders a user or the store would take for runs (hidden leftovers excluded)."""
    return [p for p in parent.iterdir() if not p.name.startswith(".")]


@pytest.fixture(scope="module")
def result():
    return simulate(compose_config(SMALL))


def test_write_killed_at_random_points_leaves_a_complete_folder_or_none(result, tmp_path):
    """SIGKILL a forked write_run at random moments, over and over on one run folder: each
    kill lands on an empty place or on an earlier complete run, whichever the last left."""
    ctx = mp.get_context("fork")
    t0 = time.perf_counter()
    writer = ctx.Process(target=write_run, args=(result, tmp_path / "reference"))
    writer.start()
    writer.join()
    window = time.perf_counter() - t0             # a forked write, start to finish
    assert is_complete(tmp_path / "reference")
    parent, rng = tmp_path / "kills", random.Random(20260101)
    parent.mkdir()
    out = parent / "run"
    outcomes = {"complete": 0, "absent": 0, "mid_write": 0}
    for _ in range(WRITE_KILLS):
        hidden_before = {p.name for p in parent.glob(".*")}
        writer = ctx.Process(target=write_run, args=(result, out))
        writer.start()
        time.sleep(rng.uniform(0.0, 1.5 * window))
        os.kill(writer.pid, signal.SIGKILL)
        writer.join()
        assert [p.name for p in visible(parent)] in ([], ["run"])
        outcomes["complete" if out.exists() else "absent"] += 1
        assert not out.exists() or is_complete(out)
        leftovers = {p.name for p in parent.glob(".*")}
        assert all(n.startswith((".run.tmp-", ".run.old-")) for n in leftovers)
        outcomes["mid_write"] += leftovers != hidden_before
    write_run(result, out)                         # a later write succeeds over leftovers
    assert is_complete(out)
    assert outcomes["complete"] > 0 and outcomes["mid_write"] > 0, outcomes


def test_run_command_killed_mid_run_or_mid_write_leaves_no_folder_that_looks_complete(
        tmp_path):
    """`python -m model.run` killed at a random moment, and killed the instant its temp
    folder appears (mid-write): no run folder, or a complete one."""
    rng = random.Random(7)
    procs = {}
    for name in ("random", "mid_write"):
        out = tmp_path / name
        procs[name] = (subprocess.Popen(
            [sys.executable, "-m", "model.run", *SMALL, f"run.out_dir={out}",
             "run.allow_outside_root=true"], cwd=ROOT, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL), out)
    kill_at = time.monotonic() + rng.uniform(0.5, 3.0)
    deadline = time.monotonic() + 120
    alive = dict(procs)
    while alive and time.monotonic() < deadline:
        for name, (proc, _) in list(alive.items()):
            hit = (time.monotonic() >= kill_at if name == "random"
                   else any(p.name.startswith(".mid_write.tmp-") for p in tmp_path.iterdir()))
            if hit or proc.poll() is not None:
                proc.kill()
                proc.wait()
                del alive[name]
        time.sleep(0.001)
    assert not alive, "a run neither finished nor was killed"
    for _, out in procs.values():
        assert not out.exists() or is_complete(out)
    assert sorted(p.name for p in visible(tmp_path)) in ([], ["mid_write"], ["random"],
                                                          ["mid_write", "random"])


# ---------------------------------------------------------------- sweeps

SWEEP = ["experiment=smoke", "sweep.progress=false", "sweep.executor=serial", "sweep.seeds=[0]",
         "run.end=2022-03"]


class Killed(BaseException):
    """Stands in for SIGKILL at a chosen point of a sweep's start-up writes."""




@pytest.fixture(scope="module")
def reference_sweep(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "sweep"
    execute_plan(plan_from_overrides([*SWEEP, f"sweep.dir={out}"]))
    return out


START_UP_WRITES = [
    ("before config.yaml", "atomic_write_text", 0),
    ("before design.parquet", "atomic_write_parquet", 0),
    ("before sweep.json", "atomic_write_text", 1),
]


@pytest.mark.parametrize(("point", "function", "calls_before"), START_UP_WRITES,
                         ids=["before_config_yaml", "before_design_parquet", "before_sweep_json"])
def test_sweep_killed_while_creating_its_folder_resumes_to_identical_tables(
        point, function, calls_before, reference_sweep, tmp_path, monkeypatch):
    out = tmp_path / "sweep"
    plan = plan_from_overrides([*SWEEP, f"sweep.dir={out}"])
    real = getattr(store, function)
    calls = []

    def killed_on_cue(*args, **kwargs):
        calls.append(args)
        if len(calls) > calls_before:
            raise Killed(point)
        return real(*args, **kwargs)

    monkeypatch.setattr(store, function, killed_on_cue)
    with pytest.raises(Killed):
        execute_plan(plan)
    monkeypatch.setattr(store, function, real)
    summary = execute_plan(plan)
    assert (summary.done, summary.failed) == (len(plan.runs), 0)
    assert store.table_digests(out) == store.table_digests(reference_sweep)
