"""Cluster paths of the sweep runner write the serial sweep's tables bit for bit: Dask with a
separately started `dask scheduler` + `dask worker`, and dask-jobqueue's SLURMCluster on a
single-node Slurm on this machine (.ci/slurm.sh; skipped with the reason where Slurm cannot
be started)."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from experiments import store
from experiments.design import SweepInputError
from experiments.sweep import execute_plan, plan_from_overrides

ROOT = Path(__file__).resolve().parents[1]
SLURM = ROOT / ".ci" / "slurm.sh"
QUICK = ["experiment=smoke", "sweep.progress=false", "sweep.seeds=[0]", "run.end=2022-03"]




@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("serial") / "sweep"
    execute_plan(plan_from_overrides([*QUICK, "sweep.executor=serial", f"sweep.dir={out}"]))
    found = store.table_digests(out)
    assert len(found) == 4 * 6
    return found


def test_external_dask_scheduler_and_worker_processes(reference, tmp_path):
    dask = shutil.which("dask", path=str(Path(sys.executable).parent)) or "dask"
    info = tmp_path / "scheduler.json"
    scheduler = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                                  "--no-dashboard", "--scheduler-file", str(info)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    try:
        deadline = time.monotonic() + 60
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(info.read_text())["address"]
        worker = subprocess.Popen([dask, "worker", address, "--nworkers", "1", "--nthreads",
                                   "1", "--no-dashboard", "--host", "127.0.0.1"], cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out = tmp_path / "sweep"
        summary = execute_plan(plan_from_overrides(
            [*QUICK, "sweep.executor=dask", f"sweep.scheduler={address}", f"sweep.dir={out}"]))
        assert (summary.done, summary.failed) == (4, 0)
        assert store.table_digests(out) == reference
        pids = set(store.load_sweep(out).runs["pid"])
        assert os.getpid() not in pids and len(pids) == 1        # the one external worker
    finally:
        for proc in (worker, scheduler):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)


def slurm_idle() -> bool:
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True,
                             timeout=10).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return False
    return "idle" in out or "mixed" in out


@pytest.fixture(scope="module")
def slurm():
    """A running single-node Slurm: the one already up, or one started (and stopped) here."""
    pytest.importorskip("dask_jobqueue", reason="dask-jobqueue is not installed")
    if not shutil.which("sbatch"):
        pytest.skip("Slurm is not installed (.ci/run installs slurm-wlm and munge as root)")
    started = False
    if not slurm_idle():
        if os.geteuid() != 0:
            pytest.skip("Slurm is installed but not running, and starting it needs root")
        proc = subprocess.run([str(SLURM), "start"], capture_output=True, text=True,
                              timeout=120)
        if proc.returncode != 0 or not slurm_idle():
            pytest.skip(f"could not start Slurm: {proc.stderr.strip() or 'node not idle'}")
        started = True
    yield
    if started:
        subprocess.run([str(SLURM), "stop"], capture_output=True, timeout=60)


def test_sweep_on_slurm_through_dask_jobqueue_writes_the_serial_tables(slurm, reference,
                                                                        tmp_path):
    out, logs = tmp_path / "sweep", tmp_path / "slurm-logs"
    logs.mkdir()
    t0 = time.monotonic()
    summary = execute_plan(plan_from_overrides(
        [*QUICK, "sweep.executor=dask", "sweep.cluster=slurm", "sweep.workers=2",
         "sweep.slurm.memory=1GiB", "sweep.slurm.walltime=00:10:00",
         "sweep.slurm.host=127.0.0.1", f"sweep.slurm.log_directory={logs}",
         f"sweep.dir={out}"]))
    assert (summary.done, summary.failed) == (4, 0)
    assert store.table_digests(out) == reference
    assert sorted(p.suffix for p in logs.iterdir())[:1] in ([".err"], [".out"])  # Slurm jobs
    assert os.getpid() not in set(store.load_sweep(out).runs["pid"])
    print(f"slurm sweep: 4 runs in {time.monotonic() - t0:.1f} s")


@pytest.mark.parametrize(("overrides", "text"), [
    (["sweep.cluster=pbs"], "sweep.cluster = 'pbs': one of local, slurm"),
    (["sweep.cluster=slurm"], "a Slurm cluster needs sweep.executor=dask and no sweep.scheduler"),
    (["sweep.executor=dask", "sweep.cluster=slurm", "sweep.slurm.jobs=0"],
     "sweep.slurm.jobs = 0: expected an integer >= 1"),
    (["sweep.executor=dask", "sweep.cluster=slurm", "+sweep.slurm.partition=x"],
     "sweep.slurm.partition = 'x': unknown Slurm setting"),
])
def test_bad_slurm_settings_are_refused_in_one_line(overrides, text):
    with pytest.raises(SweepInputError, match=re.escape(text)):
        plan_from_overrides([*QUICK, "sweep.dir=unused", *overrides], check=False)
