"""Issue 15, run side: hostile output paths, injected config, runaway magnitudes and the
cases that used to give tracebacks. Each is refused in one line (exit 2) before anything is
simulated or written, or handled without loss. Grouped by kind; most run in-process."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from model import guard
from model.outputs import TABLES, run_folder_problem, write_run
from model.run import (
    ROOT,
    check_before_running,
    check_limits,
    compose_config,
    run_command,
    simulate,
)
from model.schema import ConfigError, validate

SMALL = ["run.end=2022-02", "demand.n_enterprises=300", "supply.n_datacenters=40",
         "run.quiet=true"]


@pytest.fixture(scope="module")
def small_result():
    return simulate(compose_config(SMALL))


def outside(path: Path) -> list[str]:
    return [*SMALL, f"run.out_dir={path}", "run.allow_outside_root=true"]


def refused(overrides: list[str], capsys, key: str = "run.out_dir") -> str:
    """run_command refuses in one line naming `key`, returns the line."""
    t0 = time.perf_counter()
    assert run_command(compose_config(overrides)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"config error: {key} = "), err
    assert time.perf_counter() - t0 < 5          # found before simulating
    return err


# ---------------------------------------------------------------- output paths

def test_device_fifo_socket_file_and_link_are_never_replaced(tmp_path, capsys, small_result):
    fifo, sock, file, link = (tmp_path / n for n in ("fifo", "sock", "file", "link"))
    os.mkfifo(fifo)
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock))
    file.write_text("keep")
    (tmp_path / "target").mkdir()
    link.symlink_to(tmp_path / "target")
    cases = {Path("/dev/null"): "a character device", fifo: "a FIFO", sock: "a socket",
             file: "a file", link: "a symbolic link"}
    for path, kind in cases.items():
        err = refused(outside(path), capsys)
        assert kind in err
        with pytest.raises(FileExistsError):           # the writer refuses on its own too
            write_run(small_result, path)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and stat.S_ISSOCK(os.lstat(sock).st_mode)
    assert file.read_text() == "keep" and link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "file", "link", "sock",
                                                          "target"]
    server.close()


def test_only_a_complete_run_is_replaced(tmp_path, capsys, small_result):
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "manifest.json").write_text("{}")
    (fake / "notes.txt").write_text("precious")
    assert "notes.txt" in refused(outside(fake), capsys)
    (fake / "notes.txt").unlink()
    assert "not a complete run" in refused(outside(fake), capsys)     # manifest only
    with pytest.raises(FileExistsError):
        write_run(small_result, fake)
    assert (fake / "manifest.json").read_text() == "{}"

    run = write_run(small_result, tmp_path / "run")
    assert run_folder_problem(run) is None
    (run / "brief").mkdir()                                            # make run's figures
    assert run_command(compose_config(outside(run))) == 0             # replaced: a real run
    assert sorted(p.name for p in run.iterdir()) == sorted(
        [f"{t}.parquet" for t in TABLES] + ["config.yaml", "manifest.json"])


@pytest.mark.parametrize("out", [".git/x", "model/x", "agents/x", "experiments/x", "conf/x",
                                 "conf", "model"])
def test_never_writes_into_git_sources_or_conf(out, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    before = sorted(p.name for p in (ROOT / out.split("/")[0]).iterdir()) \
        if (ROOT / out.split("/")[0]).is_dir() else None
    err = refused([*SMALL, f"run.out_dir={out}"], capsys)
    assert "project's" in err or "not a" in err
    assert not (ROOT / out).exists() or out in ("conf", "model")
    if before is not None:
        assert sorted(p.name for p in (ROOT / out.split("/")[0]).iterdir()) == before


def test_absolute_path_into_sources_is_refused_even_when_outside_is_allowed(capsys):
    assert "model/" in refused(outside(ROOT / "model" / "x"), capsys)


def test_over_long_name_is_one_line(tmp_path, capsys):
    assert "too long" in refused(outside(tmp_path / ("x" * 300)), capsys)
    assert "too long" in refused(outside(tmp_path / ("y" * 250)), capsys)   # + temp suffix
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def tmpfs(tmp_path):
    """Mount a small tmpfs (root only); yields a function (options) -> mount point."""
    mounts = []

    def mount(options: str) -> Path:
        point = tmp_path / f"m{len(mounts)}"
        point.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)],
                              capture_output=True, text=True)
        if proc.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
        mounts.append(point)
        return point

    yield mount
    for point in mounts:
        subprocess.run(["umount", str(point)], capture_output=True)


def test_read_only_and_full_disks_are_found_before_simulating(tmpfs, capsys):
    ro = tmpfs("ro,size=1m")
    assert "read-only" in refused(outside(ro / "run"), capsys)
    full = tmpfs("size=64k")
    err = refused(outside(full / "run"), capsys)
    assert "MB of disk" in err and "free" in err
    assert list(ro.iterdir()) == [] and list(full.iterdir()) == []


def test_unwritable_folder_is_refused(tmp_path, capsys):
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere; the read-only mount case covers it")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    assert "not writable" in refused(outside(locked / "run"), capsys)


# ---------------------------------------------------------------- config injection

CALLBACK = {"x": {"_target_": "os.makedirs", "_args_": ["PWNED"]}}


def test_instantiation_and_hydra_code_keys_on_the_command_line_are_refused():
    for bad in ["+hydra.callbacks.x._target_=experiments.store.remove_partial_runs",
                "+hydra.callbacks.x={}", "hydra/launcher=basic", "+hydra/callbacks=x",
                "hydra.searchpath=[file:///tmp]", "+demand.x._target_=os.system",
                "+run._partial_=true"]:
        with pytest.raises(ConfigError) as info:
            guard.check_overrides([bad])
        assert len(str(info.value).splitlines()) == 1


def test_environment_resolvers_are_refused_and_never_echoed(monkeypatch):
    monkeypatch.setenv("EDWC_SECRET", "hunter2-secret")
    for bad in ["demand.logit_scale_rmb=${oc.env:EDWC_SECRET}",
                "scenario.name=${oc.env:EDWC_SECRET,x}", "run.out_dir=a/${oc.decode:x}"]:
        with pytest.raises(ConfigError) as info:
            compose_config([bad])
        assert "hunter2" not in str(info.value) and "resolvers are not allowed" in str(
            info.value)
    guard.check_overrides(["hydra.run.dir=x/${now:%Y}", "run.out_dir=o/${scenario.name}"])


def test_group_options_load_only_files_inside_the_group():
    for bad in ["scenario=../experiment/smoke", "scenario=/etc/passwd", "policy=../policy/edwc",
                "scenario=sub/edwc"]:
        with pytest.raises(ConfigError) as info:
            compose_config([bad])
        assert info.value.key in ("scenario", "policy")
    assert compose_config(["scenario=no_edwc"]).scenario.name == "no_edwc"


def conf_copy(tmp_path: Path) -> Path:
    conf = tmp_path / "conf"
    shutil.copytree(ROOT / "conf", conf)
    return conf


@pytest.mark.parametrize(("group", "content"), [
    ("scenario", {"scenario": {"name": "evil"}, "hydra": {"callbacks": CALLBACK}}),
    ("experiment", {"hydra": {"callbacks": CALLBACK}, "sweep": {"name": "evil"}}),
    ("scenario", {"scenario": {"name": "evil"}, "hydra": {"job": {"chdir": True}}}),
    ("scenario", {"scenario": {"name": "evil"}, "demand": {"x": {"_target_": "os.system"}}}),
    ("experiment", {"sweep": {"name": "${oc.env:HOME}"}}),
])
def test_config_files_that_would_run_code_are_refused(tmp_path, group, content):
    conf = conf_copy(tmp_path)
    guard.check_config_files(conf)                       # the project's own files pass
    (conf / group / "evil.yaml").write_text("# @package _global_\n" + yaml.safe_dump(content))
    with pytest.raises(ConfigError) as info:
        guard.check_config_files(conf)
    assert f"{group}/evil.yaml" in str(info.value)


def test_malformed_config_file_is_one_line(tmp_path):
    conf = conf_copy(tmp_path)
    (conf / "experiment" / "broken.yaml").write_text("sweep:\n  name: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        guard.check_config_files(conf)
    assert "experiment/broken.yaml" in str(info.value) and "malformed YAML" in str(info.value)
    assert len(str(info.value).splitlines()) == 1


def test_composed_hydra_section_is_checked():
    guard.check_composed({"hydra": {"callbacks": {}, "launcher": {
        "_target_": guard.BASIC_PLUGINS["launcher"]}}, "run": {}})
    with pytest.raises(ConfigError, match="hydra.callbacks"):
        guard.check_composed({"hydra": {"callbacks": CALLBACK}})
    with pytest.raises(ConfigError, match="hydra.launcher._target_"):
        guard.check_composed({"hydra": {"launcher": {"_target_": "os.system"}}})
    with pytest.raises(ConfigError, match="hydra.job.x._target_"):
        guard.check_composed({"hydra": {"job": {"x": {"_target_": "os.system"}}}})


def test_a_callback_in_an_experiment_or_scenario_never_runs(tmp_path):
    """End to end on a copy of the project: the commands refuse a file whose hydra:
    section would instantiate os.makedirs, before Hydra starts; nothing is created."""
    project = tmp_path / "project"
    for name in ("model", "agents", "experiments", "conf"):
        shutil.copytree(ROOT / name, project / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    marker = tmp_path / "PWNED"
    evil = {"_target_": "os.makedirs", "_args_": [str(marker)]}
    (project / "conf" / "experiment" / "evil.yaml").write_text(
        "# @package _global_\n" + yaml.safe_dump({"hydra": {"callbacks": {"x": evil}},
                                                 "sweep": {"name": "evil"}}))
    (project / "conf" / "scenario" / "evil.yaml").write_text(
        "# @package _global_\n" + yaml.safe_dump({"hydra": {"callbacks": {"x": evil}},
                                                 "scenario": {"name": "evil"}}))
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(project)}
    for args in (["-m", "model.run", "scenario=edwc"],
                 ["-m", "experiments.sweep", "experiment=evil"],
                 ["-m", "model.run", "+hydra.callbacks.x._target_=os.makedirs",
                  f"+hydra.callbacks.x._args_=[{marker}]"]):
        proc = subprocess.run([sys.executable, *args], cwd=work, env=env, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not marker.exists() and list(work.iterdir()) == []


def test_hydra_flags_that_load_outside_files_are_refused(tmp_path):
    for args in (["--config-dir", str(tmp_path)], ["--experimental-rerun", "x.pickle"],
                 ["--config-name", "sweep"]):
        proc = subprocess.run([sys.executable, "-m", "model.run", *args], cwd=tmp_path,
                              env={**os.environ, "PYTHONPATH": str(ROOT)},
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- bounds

@pytest.mark.parametrize(("override", "key"), [
    ("demand.initial_load_mw=1e16", "demand.initial_load_mw"),
    ("demand.initial_load_mw=1e300", "demand.initial_load_mw"),
    ("supply.initial_capacity_mw=1e308", "supply.initial_capacity_mw"),
    ("demand.n_enterprises=200000000", "demand.n_enterprises"),
    ("supply.n_datacenters=2000000", "supply.n_datacenters"),
    ("geography.uhv_lines.hami_chongqing.gw=1e9", "geography.uhv_lines.hami_chongqing.gw"),
    ("geography.latency.classes.interactive=inf", "geography.latency.classes.interactive"),
])
def test_magnitudes_have_upper_bounds(override, key):
    with pytest.raises(ConfigError) as info:
        validate(compose_config([override]))
    assert info.value.key == key


def test_memory_estimate_covers_the_splits_of_a_huge_load():
    """A load far above the capacity splits enterprise groups into many agents; the estimate
    sees that and names the load, not the agent count."""
    cfg = validate(compose_config(["demand.initial_load_mw=1e7", "run.max_memory_mb=4000"]))
    with pytest.raises(ConfigError) as info:
        check_limits(cfg)
    assert info.value.key == "demand.initial_load_mw"
    check_limits(validate(compose_config([])))          # the default run passes


# ---------------------------------------------------------------- one line, not a traceback

@pytest.mark.parametrize(("override", "key"), [
    ("scenario=does_not_exist", "scenario"),
    ("scenario.name=数据中心", "scenario.name"),
    ("experiment=nope", "experiment"),
])
def test_cases_that_were_tracebacks_are_one_line(override, key):
    with pytest.raises(ConfigError) as info:
        compose_config([override])
    assert info.value.key == key and len(str(info.value).splitlines()) == 1
    assert compose_config(["scenario.name='数据中心'"]).scenario.name == "数据中心"


def test_explorer_lever_choices_are_checked():
    from experiments.levers import lever_overrides

    base = compose_config([])
    for kwargs, key in (({"uhv_lines": "maybe"}, "uhv_lines"),
                        ({"voucher_rate": "0.99"}, "voucher_rate"),
                        ({"intelligent_growth": 9.0}, "intelligent_growth")):
        with pytest.raises(ConfigError) as info:
            lever_overrides(base, **kwargs)
        assert info.value.key == key
    assert lever_overrides(base, uhv_lines="off")


# ---------------------------------------------------------------- minor

def test_unserved_load_is_never_negative(small_result):
    nat = small_result.tables["national"]
    cols = [c for c in nat.columns if c.startswith("unserved")]
    assert cols and all((nat[c] >= 0).all() for c in cols)


def test_file_modes_follow_the_umask(tmp_path, small_result):
    from experiments import store

    old = os.umask(0o027)
    try:
        run = write_run(small_result, tmp_path / "run")
        store.atomic_write_text(tmp_path / "s" / "sweep.json", json.dumps({}))
        store.atomic_write_parquet(tmp_path / "s" / "design.parquet",
                                   small_result.tables["national"])
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in
             [*run.iterdir(), *(tmp_path / "s").iterdir()]}
    assert set(modes.values()) == {0o640}, modes
    assert stat.S_IMODE(run.stat().st_mode) == 0o750


def test_checks_before_running_pass_for_a_normal_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = check_before_running(compose_config(SMALL))
    assert out == tmp_path / "outputs" / "runs" / "edwc-s42" and not out.exists()
