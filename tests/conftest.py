"""Shared fixtures: configs composed with Hydra's compose API and short model runs."""

from __future__ import annotations

import pytest

from model.run import compose_config, simulate
from model.schema import validate

SHORT = ["run.end=2024-12", "demand.n_enterprises=800", "supply.n_datacenters=60"]


@pytest.fixture(scope="session")
def short_config():
    """A validated config for a short, small run (2022-2024, 800 enterprises)."""
    return validate(compose_config(SHORT))


@pytest.fixture(scope="session")
def short_run():
    """Tables of one short run of the default scenario."""
    return simulate(compose_config(SHORT)).tables


BROWSE_SWEEP = ["experiment=smoke", "sweep.seeds=[0,1,2]", "run.end=2023-12",
                "sweep.progress=false", "sweep.executor=serial"]


@pytest.fixture(scope="session")
def browse_sweep(tmp_path_factory):
    """A tiny finished sweep for the sweep browser (smoke grid 2 x 2 x 3 seeds, 2022-2023,
    200 enterprises), written in one folder and copied to another (original deleted)."""
    import shutil

    from experiments.sweep import execute_plan, plan_from_overrides

    original = tmp_path_factory.mktemp("browse-written") / "sweep"
    execute_plan(plan_from_overrides([*BROWSE_SWEEP, f"sweep.dir={original}"]))
    copy = tmp_path_factory.mktemp("browse-copied") / "smoke3"
    shutil.copytree(original, copy)
    shutil.rmtree(original)
    return copy
