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
