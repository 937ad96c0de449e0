"""`python -m model.run` (the README's run command) writes a complete run folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["run.end=2022-12", "demand.n_enterprises=300", "supply.n_datacenters=40"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "model.run", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_run_writes_tables_config_manifest_and_prints_summary(tmp_path):
    out = tmp_path / "run"
    proc = run_cli(*SMALL, f"run.out_dir={out}", "run.allow_outside_root=true")
    assert proc.returncode == 0, proc.stderr
    assert "west share of served load" in proc.stdout
    for name in ("national", "node", "flows", "datacenters", "enterprises"):
        assert len(pd.read_parquet(out / f"{name}.parquet")) > 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["seed"] == 42
    assert manifest["packages"]["mesa"] == "3.3.1"
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["run"]["end"] == "2022-12"
    assert not list(tmp_path.glob(".run.tmp-*"))


def test_bad_value_is_one_line_naming_key_and_value_and_nothing_is_written(tmp_path):
    out = tmp_path / "run"
    proc = run_cli(*SMALL, "demand.growth.general.0.value=-3", f"run.out_dir={out}",
                   "run.allow_outside_root=true")
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "demand.growth.general[0].value" in lines[0] and "-3" in lines[0]
    assert not out.exists() and not list(tmp_path.iterdir())


# ---------------------------------------------------------------- a real Hydra app

def run_in(folder: Path, *args: str, module: str = "model.run") -> subprocess.CompletedProcess:
    """The command from another folder (the checkout on PYTHONPATH, as an installed package)."""
    env = {**__import__("os").environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=300)


def test_hydra_flags_pass_through(tmp_path):
    cfg = run_in(tmp_path, "--cfg", "job", "run.seed=7")
    assert cfg.returncode == 0, cfg.stderr
    assert yaml.safe_load(cfg.stdout)["run"]["seed"] == 7
    info = run_in(tmp_path, "--info", "defaults")
    assert info.returncode == 0 and "scenario/edwc" in info.stdout, info.stderr
    helped = run_in(tmp_path, "--help")
    assert helped.returncode == 0
    groups = {line.split(":")[0].strip() for line in helped.stdout.split("== Config ==")[0]
              .splitlines() if line.startswith("  ") and ":" in line}
    assert groups == {"geography", "demand", "supply", "grid", "policy", "scenario"}
    assert "no_edwc" in helped.stdout and "experiment" not in helped.stdout.split("==")[0]
    assert list(tmp_path.iterdir()) == []          # flags write nothing


def test_make_run_is_a_hydra_app():
    proc = subprocess.run(["make", "-s", "run", "ARGS=--cfg job scenario=no_edwc"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load(proc.stdout)["scenario"]["name"] == "no_edwc"


def test_multirun_gives_each_job_its_own_run_folder(tmp_path):
    proc = run_in(tmp_path, "-m", "demand.logit_scale_rmb=150,600", *SMALL, "run.end=2022-03",
                  "run.quiet=true", "hydra.sweep.dir=outputs/mr")
    assert proc.returncode == 0, proc.stderr
    sweep = tmp_path / "outputs" / "mr"
    runs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert [p.name.split(",")[0] for p in runs] == ["demand.logit_scale_rmb=150",
                                                   "demand.logit_scale_rmb=600"]
    scales = [yaml.safe_load((p / "config.yaml").read_text())["demand"]["logit_scale_rmb"]
              for p in runs]
    assert scales == [150.0, 600.0]
    assert (sweep / "multirun.yaml").is_file()
    tables = [pd.read_parquet(p / "flows.parquet") for p in runs]
    assert not tables[0].equals(tables[1])


def test_hydra_run_dir_and_logging_overrides_are_honoured(tmp_path):
    proc = run_in(tmp_path, *SMALL, "run.end=2022-02", "run.quiet=true", "run.out_dir=r",
                  "hydra.run.dir=hydra_out", "hydra/job_logging=default")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "hydra_out" / "run.log").is_file()     # Hydra's log where it was told
    assert (tmp_path / "r" / "manifest.json").is_file()
    quiet = run_in(tmp_path, *SMALL, "run.end=2022-02", "run.quiet=true", "run.out_dir=q")
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hydra_out", "q", "r"]


def test_bad_group_option_is_one_line(tmp_path):
    proc = run_in(tmp_path, "scenario=does_not_exist")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "config error: scenario = 'does_not_exist': no such option (one of ai_boom, edwc, "
        "edwc_green, glut_check, no_edwc, uhv_off, uhv_plus, xinjiang_hub)"]
    assert list(tmp_path.iterdir()) == []


def test_make_run_runs_summarises_and_draws(tmp_path):
    out = tmp_path / "r"
    proc = subprocess.run(["make", "-s", "run", "ARGS=" + " ".join(
        [*SMALL, "run.end=2022-06", f"run.out_dir={out}", "run.allow_outside_root=true"])],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "west share of served load" in proc.stdout and "Figures written to" in proc.stdout
    assert (out / "brief" / "index.html").is_file() and (out / "manifest.json").is_file()


def test_sweep_help_lists_the_sweep_groups_and_keys(tmp_path):
    helped = run_in(tmp_path, "--help", module="experiments.sweep")
    assert helped.returncode == 0, helped.stderr
    head = helped.stdout.split("== Config ==")[0]
    groups = {line.split(":")[0].strip() for line in head.splitlines()
              if line.startswith("  ") and ":" in line}
    assert groups == {"experiment", "geography", "demand", "supply", "grid", "policy",
                      "scenario"}
    assert head.startswith("edwc-sweep") and "sweep.max_runs" in head
    assert list(tmp_path.iterdir()) == []
