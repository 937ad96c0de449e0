"""Every config in conf/ composes (Hydra compose API) and validates."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.run import CONF_DIR, compose_config
from model.schema import validate

MODEL_GROUPS = ("geography", "demand", "supply", "grid", "policy", "scenario")


def group_options():
    for group in MODEL_GROUPS:
        for path in sorted((CONF_DIR / group).glob("*.yaml")):
            yield group, path.stem


@pytest.mark.parametrize(("group", "option"), list(group_options()))
def test_every_model_config_composes_and_validates(group, option):
    config = validate(compose_config([f"{group}={option}"]))
    assert config.run.n_months == 168


@pytest.mark.parametrize("primary", sorted(p.stem for p in Path(CONF_DIR).glob("*.yaml")))
def test_every_primary_config_composes(primary):
    cfg = compose_config([], config_name=primary)
    assert len(cfg) > 0


def test_scenarios_say_which_question_they_serve():
    for path in sorted((CONF_DIR / "scenario").glob("*.yaml")):
        cfg = compose_config([f"scenario={path.stem}"])
        assert cfg.scenario.name == path.stem
        assert "Q" in cfg.scenario.question
