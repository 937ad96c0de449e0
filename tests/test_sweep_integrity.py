"""Sweep integrity (issue 15): one sweep per folder (an exclusive lock), resume checks every
finished run, and every refusal is one line, exit 2, before the sweep folder is touched."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from experiments import store
from experiments.design import SweepInputError
from experiments.sweep import execute_plan, plan_from_overrides

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["experiment=smoke", "sweep.progress=false", "sweep.executor=serial", "sweep.seeds=[0]",
         "run.end=2022-03"]                       # 4 runs of 3 months


def quick_sweep(sweep_dir: Path, *extra: str):
    return execute_plan(plan_from_overrides([*QUICK, f"sweep.dir={sweep_dir}", *extra]))


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path below a folder with its size and mtime (ns)."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


def spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "experiments.sweep", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# ---------------------------------------------------------------- one sweep per folder

def test_second_sweep_on_a_locked_folder_refuses_and_changes_nothing(tmp_path):
    out = tmp_path / "sweep"
    quick_sweep(out)
    (out / store.RUNS / "national" / ".run_id=p00001-s0.tmp-inflight").mkdir()  # a run in flight
    lock = store.SweepLock.acquire(out)          # the first sweep, still running
    before = snapshot(out)
    try:
        proc = spawn(*QUICK, f"sweep.dir={out}")
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        lock.release()
    assert proc.returncode == 2 and len(stderr.strip().splitlines()) == 1, stderr
    assert f"another sweep (pid {os.getpid()}) is running on this folder" in stderr
    assert snapshot(out) == before
    with pytest.raises(SweepInputError, match="another sweep"):
        lock = store.SweepLock.acquire(out)
        try:
            quick_sweep(out)
        finally:
            lock.release()


# ---------------------------------------------------------------- resume checks each run

@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("finished") / "sweep"
    quick_sweep(out)
    return out


def tables_of(sweep_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(sweep_dir)): p.read_bytes()
            for p in sorted((sweep_dir / store.RUNS).rglob(store.PART))}


def test_resume_redoes_a_foreign_run_and_names_it(finished, tmp_path, capsys):
    out, other = tmp_path / "sweep", tmp_path / "other"
    shutil.copytree(finished, out)
    quick_sweep(other, "scenario=no_edwc", "run.end=2022-02")
    rid = "p00002-s0"
    shutil.rmtree(out / store.MANIFESTS / rid)
    shutil.copytree(other / store.MANIFESTS / rid, out / store.MANIFESTS / rid)
    for table in (other / store.RUNS).iterdir():
        part = f"run_id={rid}"
        shutil.rmtree(out / store.RUNS / table.name / part)
        shutil.copytree(table / part, out / store.RUNS / table.name / part)
    summary = quick_sweep(out)
    assert (summary.done, summary.skipped) == (1, 3)
    assert f"redoing 1 run(s) that are not good runs of this sweep: {rid} (run of another " \
           "sweep)" in capsys.readouterr().err
    assert tables_of(out) == tables_of(finished)
    national = store.load_sweep(out).national
    assert len(national) == 4 * 3 and set(national["scenario.name"] if "scenario.name"
                                          in national else ["edwc"]) == {"edwc"}


@pytest.mark.parametrize("damage", ["truncated", "missing", "wrong_run_id", "not_complete"])
def test_resume_redoes_a_damaged_run_once(damage, finished, tmp_path, capsys):
    out = tmp_path / "sweep"
    shutil.copytree(finished, out)
    rid = "p00001-s0"
    shard = store.shard_path(out, "national", rid)
    manifest = store.run_manifest_path(out, rid)
    if damage == "truncated":
        shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    elif damage == "missing":
        shard.unlink()
    elif damage == "wrong_run_id":
        manifest.write_text(manifest.read_text().replace(f'"{rid}"', '"p00003-s0"'))
    else:
        manifest.write_text(manifest.read_text().replace('"status": "complete"',
                                                         '"status": "running"'))
    summary = quick_sweep(out)
    err = capsys.readouterr().err
    assert (summary.done, summary.failed, summary.skipped) == (1, 0, 3)
    assert "redoing 1 run(s)" in err and rid in err and len(err.strip().splitlines()) == 1
    assert tables_of(out) == tables_of(finished)
    again = quick_sweep(out)
    assert (again.done, again.skipped) == (0, 4) and capsys.readouterr().err == ""
    assert set(store.load_sweep(out).runs["status"]) == {"done"}


def test_resume_removes_shards_of_runs_not_in_the_sweep(finished, tmp_path, capsys):
    out = tmp_path / "sweep"
    shutil.copytree(finished, out)
    shutil.copytree(out / store.RUNS / "national" / "run_id=p00000-s0",
                    out / store.RUNS / "national" / "run_id=p09999-s7")
    summary = quick_sweep(out)
    assert (summary.done, summary.skipped) == (0, 4)
    assert "removed 1 folder(s) of runs not in this sweep: p09999-s7" in capsys.readouterr().err
    assert len(store.load_sweep(out).national) == 4 * 3


# ---------------------------------------------------------------- refusals before any work

def test_refusals_are_one_line_exit_2_and_leave_no_sweep_folder(tmp_path):
    broken = tmp_path / "conf" / "experiment"
    broken.mkdir(parents=True)
    (broken / "broken.yaml").write_text("design:\n  kind: grid\n  axes: [unclosed\n")
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    lhs = ["design.kind=lhs", "+design.samples=2000000", "~design.axes",
           "+design.axes={supply.optimism:{low:0.0,high:0.2},demand.logit_scale_rmb:"
           "{low:100,high:600}}"]
    cases = {   # name: (arguments, text in the one line)
        "lhs_2000000": (lhs, "sweep.max_runs = 5000: the design has 4000000 runs"),
        "progress_maybe": (["sweep.progress=maybe"], "sweep.progress = 'maybe'"),
        "duplicate_grid": (["~design.axes", "+design.axes={supply.optimism:[0.0,0.0],"
                            "demand.logit_scale_rmb:[150.0,600.0]}"],
                           "design.axes.supply.optimism = [0.0, 0.0]: repeated value(s) 0.0"),
        "axis_on_out_dir": (["~design.axes", "+design.axes={run.out_dir:[a,b],"
                             "supply.optimism:[0.0,0.2]}"],
                            "design.axes.run.out_dir = 'run.out_dir'"),
        "unreachable_scheduler": (["sweep.executor=dask", "sweep.scheduler=tcp://127.0.0.1:9"],
                                  "sweep.scheduler = 'tcp://127.0.0.1:9': no Dask scheduler"),
        "experiment_nope": (["experiment=nope"], "experiment = 'nope': no such experiment"),
        "experiment_malformed": (["--config-dir", str(tmp_path / "conf"), "experiment=broken"],
                                 "experiment = 'broken': malformed YAML in broken.yaml at line 4"),
    }
    cases["dir_is_a_file"] = ([], f"sweep.dir = '{afile}': exists and is not a folder")
    names = list(cases)
    for batch in (names[i:i + 3] for i in range(0, len(names), 3)):   # 3 at a time
        procs = {name: spawn("experiment=smoke", "sweep.progress=false",
                             f"sweep.dir={afile if name == 'dir_is_a_file' else tmp_path / name}",
                             *cases[name][0]) for name in batch}
        for name, proc in procs.items():
            _, stderr = proc.communicate(timeout=120)
            assert proc.returncode == 2, (name, stderr)
            assert len(stderr.strip().splitlines()) == 1 and cases[name][1] in stderr, (
                name, stderr)
            assert not (tmp_path / name).exists(), name
    assert afile.read_text() == "keep me"


def test_read_only_sweep_folder_is_refused_before_simulating(tmp_path):
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o555)
    command = [sys.executable, "-m", "experiments.sweep", *QUICK, f"sweep.dir={readonly}/s"]
    if os.geteuid() == 0:            # root writes anywhere: run as nobody where we can
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: cannot make a folder read-only")
        for folder in (tmp_path, *tmp_path.parents):
            folder.chmod(folder.stat().st_mode | 0o005)
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HOME": str(tmp_path)})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (f"sweep error: sweep.dir = '{readonly}/s': cannot write here "
                                   "(Permission denied)")
    assert list(readonly.iterdir()) == []


def test_design_size_is_printed_before_sampling_and_the_cap_is_a_flag():
    lines: list[str] = []
    big = ["experiment=smoke", "sweep.dir=unused", "design.kind=lhs", "+design.samples=6000",
           "~design.axes", "+design.axes={supply.optimism:{low:0.0,high:0.2},"
           "demand.logit_scale_rmb:{low:100,high:600}}"]
    with pytest.raises(SweepInputError, match="set sweep.max_runs=12000"):
        plan_from_overrides(big, check=False, notify=lines.append)
    assert lines[0].startswith("sweep unused: 12000 runs (6000 design points x 2 seeds), ~")
    plan = plan_from_overrides([*big, "sweep.max_runs=12000"], check=False)
    assert len(plan.runs) == 12000


def test_workers_are_capped_at_the_run_count_with_a_warning_above_the_cores():
    lines: list[str] = []
    plan = plan_from_overrides(["experiment=smoke", "sweep.dir=unused", "sweep.workers=64"],
                               check=False, notify=lines.append)
    assert plan.settings.workers == 8
    assert lines[1] == (f"warning: sweep.workers=64 runs 8 processes on {os.cpu_count()} cores; "
                        "they will compete for CPU") or os.cpu_count() >= 8
