"""The model config from Mesa-style keywords (`EDWCModel(seed=…, scenario=…, overrides=…)`).

`model_config` turns what a Mesa tool passes (``mesa.batch_run`` calls ``model_cls(**kwargs)``,
SolaraViz the same) into a validated `ModelConfig`, through the path `model.run` uses: Hydra's
compose API (`model.run.compose_config`), then `model.schema.validate`. Bad input raises the
project's one-line `ConfigError` before anything is simulated.

Seeds: an explicit ``seed`` wins, then ``run.seed`` among the overrides or in a given config;
a keyword construction with no seed at all draws a fresh one from the operating system (Mesa's
convention, so ``batch_run(..., iterations=n)`` gives n distinct runs). The seed used is in
``model.config.run.seed`` and in the data collector's ``seed`` column, so every run can be
replayed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from model.schema import ConfigError, ModelConfig, to_container, validate

SEED_KEY = "run.seed"
MAX_SEED = 2**63 - 1   # the schema's bound for run.seed


def fresh_seed() -> int:
    """A new run seed from the operating system's entropy (0 <= seed <= 2**63 - 1)."""
    return int(np.random.SeedSequence().entropy % MAX_SEED)


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not \
            0 <= int(seed) <= MAX_SEED:
        raise ConfigError(SEED_KEY, seed, f"must be a whole number in [0, {MAX_SEED}]")
    return int(seed)


def set_key(cfg: dict[str, Any], key: str, value: Any) -> None:
    """Set an existing dotted config key (list items by index) in a plain container;
    ConfigError if the key does not exist (a typo must not pass silently)."""
    node: Any = cfg
    parts = key.split(".")
    for i, part in enumerate(parts):
        here = ".".join(parts[: i + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(here, value, "is not a config key (no such list item)")
            index: str | int = int(part)
        elif isinstance(node, dict) and part in node:
            index = part
        else:
            raise ConfigError(here, value, "is not a config key")
        if i == len(parts) - 1:
            node[index] = value
        else:
            node = node[index]


def compose(overrides: Sequence[str]) -> DictConfig:
    """`model.run.compose_config`, with Hydra's multi-line errors as one ConfigError line."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from model.run import compose_config  # model.run imports the model: import here

    try:
        return compose_config(list(overrides))
    except (HydraException, OmegaConfBaseException) as err:
        first = " ".join(str(err).splitlines()[0].split()) if str(err) else type(err).__name__
        named = {n.split("/")[0] for n in re.findall(r"'([^']+)'", first)}
        for o in overrides:
            key, _, value = o.partition("=")
            if key.lstrip("+~") in named:
                raise ConfigError(key.lstrip("+~"), value, first) from None
        raise ConfigError("overrides", list(overrides), first) from None


def model_config(config: ModelConfig | DictConfig | Mapping | None = None, *,
                 seed: int | None = None, rng: int | None = None, scenario: str | None = None,
                 overrides: Sequence[str] | Mapping[str, Any] = (),
                 keys: Mapping[str, Any] | None = None) -> ModelConfig:
    """The validated config of one model run.

    config: None (compose the project config), a composed DictConfig or plain mapping, or a
    validated ModelConfig. scenario: a `conf/scenario/` option (composition only).
    overrides: Hydra override strings (composition only) or a mapping {dotted key: value}.
    keys: more {dotted key: value} (what `EDWCModel(**{"demand.n_enterprises": 500})` passes).
    seed (or rng, Mesa's name; not both): the run seed (see the module docstring).
    """
    if seed is not None and rng is not None:
        raise ConfigError("rng", rng, f"give seed ({seed}) or rng, not both")
    seed = rng if seed is None else seed
    strings = [overrides] if isinstance(overrides, str) else overrides
    values = dict(strings) if isinstance(strings, Mapping) else {}
    strings = [] if isinstance(strings, Mapping) else [str(o) for o in strings]
    values.update(keys or {})
    if seed is not None:
        seed = _check_seed(seed)
    if isinstance(config, ModelConfig):
        extra = ([f"scenario={scenario}"] if scenario is not None else []) + strings + \
            [f"{k}={v}" for k, v in values.items()]
        if extra:
            raise ConfigError(extra[0].split("=", 1)[0], extra[0].split("=", 1)[1],
                              "cannot change a validated ModelConfig; pass a DictConfig or "
                              "config=None to compose")
        return config if seed is None else dataclasses.replace(
            config, run=dataclasses.replace(config.run, seed=seed))
    if config is None:
        given = seed is not None or SEED_KEY in values or any(
            o.lstrip("+~").split("=", 1)[0] == SEED_KEY for o in strings)
        if not given:
            seed = fresh_seed()
        scen = [f"scenario={scenario}"] if scenario is not None else []
        seeded = [f"{SEED_KEY}={seed}"] if seed is not None else []
        container = to_container(compose(scen + strings + seeded))
    elif isinstance(config, DictConfig | Mapping):
        for name, given_value in (("scenario", scenario), ("overrides", strings)):
            if given_value:
                raise ConfigError(name, given_value, "applies only when composing (config=None);"
                                  " pass {key: value} overrides with a composed config")
        if isinstance(config, DictConfig):
            config = config.copy()
            if seed is not None and OmegaConf.select(config, SEED_KEY) is not None:
                OmegaConf.update(config, SEED_KEY, seed)   # before interpolations resolve
            container = to_container(config)
        else:
            container = _deep_copy(config)
    else:
        raise ConfigError("config", type(config).__name__,
                          "must be a ModelConfig, a DictConfig, a mapping or None")
    for key, value in values.items():
        set_key(container, key, value)
    if seed is not None and isinstance(container.get("run"), dict):
        container["run"]["seed"] = seed
    return validate(container)


def _deep_copy(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {k: _deep_copy(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_deep_copy(v) for v in obj]
    return obj
