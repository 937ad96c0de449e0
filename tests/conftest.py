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
