"""The wheel works on its own: built from the sources, installed (not editable) into a fresh
venv, its commands compose their config and write under the current folder's `outputs/`."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from model.outputs import TABLES

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "model", "agents", "experiments", "conf")
SMALL = ["run.end=2022-12", "demand.n_enterprises=300", "supply.n_datacenters=40"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the wheel installed (its dependencies come from this venv's
    site-packages through a path file, so the test needs no index or network)."""
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"
    for name in SOURCES:          # build from a copy: no build/ folder in the checkout
        p = ROOT / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(p, src / name)
    wheels = tmp / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-q",
                    "-w", str(wheels)], check=True, capture_output=True, timeout=600)
    wheel = next(wheels.glob("edwc-*.whl"))
    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=False)
    py = env_dir / "bin" / "python"
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path("
                              "'purelib'))"], capture_output=True, text=True, check=True
                             ).stdout.strip()
    (Path(purelib) / "edwc_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps",
                    "--no-index", "-q", str(wheel)], check=True, capture_output=True,
                   timeout=600)
    return env_dir


def test_wheel_holds_every_source_file_and_the_config(installed):
    wheel = next((installed.parent / "wheels").glob("edwc-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {str(p.relative_to(ROOT)) for pkg in ("model", "agents", "experiments")
                for p in (ROOT / pkg).rglob("*.py")}
    expected |= {"edwc_conf/" + str(p.relative_to(ROOT / "conf"))
                 for p in (ROOT / "conf").rglob("*.yaml")}
    assert expected <= names, sorted(expected - names)


@pytest.mark.slow
def test_installed_commands_run_from_an_empty_folder(installed, tmp_path):
    work = tmp_path / "empty"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    bin_ = installed / "bin"
    where = subprocess.run([str(bin_ / "python"), "-c", "import model, edwc_conf; "
                            "print(model.__file__); print(list(edwc_conf.__path__)[0])"],
                           cwd=work, env=env, capture_output=True, text=True, check=True)
    assert all(str(installed) in line for line in where.stdout.splitlines())

    proc = subprocess.run([str(bin_ / "edwc-run"), *SMALL, "run.quiet=true"], cwd=work,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    run = work / "outputs" / "runs" / "edwc-s42"
    assert sorted(p.name for p in run.iterdir()) == sorted(
        [f"{t}.parquet" for t in TABLES] + ["config.yaml", "manifest.json"])
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["months"] == 12
    assert len(pd.read_parquet(run / "national.parquet")) == 12
    assert sorted(p.name for p in work.iterdir()) == ["outputs"]      # nothing else written

    proc = subprocess.run([str(bin_ / "edwc-sweep"), "experiment=smoke", "sweep.workers=1",
                           "sweep.executor=serial", "sweep.seeds=[0]", "sweep.progress=false"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "4 runs: 4 done, 0 failed" in proc.stdout
    sweep = work / "outputs" / "sweeps" / "smoke"
    assert (sweep / "sweep.json").is_file()

    proc = subprocess.run([str(bin_ / "edwc-sensitivity"), "--help"], cwd=work, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "sweep_dir" in proc.stdout
