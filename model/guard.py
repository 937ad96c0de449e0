"""Config is data: checks that no command line or config file makes Hydra import or call code.

Checked before Hydra starts (model.cli.launch), so before it instantiates callbacks, a
launcher or a sweeper:
- command-line overrides: no instantiation key (``_target_`` …), nothing under
  ``hydra.callbacks`` / ``hydra.launcher`` / ``hydra.sweeper`` / ``hydra.searchpath``, no
  resolver other than the project's own and Hydra's ``now`` (``${oc.env:…}`` is refused and
  its value never shown), group options only of files inside their group;
- config files: group files (scenario/, experiment/, …) carry no ``hydra:`` section, no file
  has an instantiation key or a foreign resolver;
- the composed config, ``hydra:`` included: no callbacks, and only Hydra's own basic
  launcher and sweeper.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from model.paths import CONF_DIR
from model.schema import INSTANTIATION_KEYS, ConfigError

ALLOWED_RESOLVERS = frozenset({"now", "edwc_groups"})   # Hydra's timestamp and the project's
RESOLVER = re.compile(r"\$\{\s*([A-Za-z_][\w.]*)\s*:")
OPTION = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
HYDRA_CODE_KEYS = ("hydra.callbacks", "hydra.launcher", "hydra.sweeper", "hydra.searchpath",
                   "hydra/callbacks", "hydra/launcher", "hydra/sweeper")
BASIC_PLUGINS = {
    "launcher": "hydra._internal.core_plugins.basic_launcher.BasicLauncher",
    "sweeper": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper",
}
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # libyaml: ~5x faster to parse
REFUSED_FLAGS = {"config_dir": "--config-dir", "config_path": "--config-path",
                 "experimental_rerun": "--experimental-rerun"}


def groups(conf_dir: Path = CONF_DIR) -> set[str]:
    """The project's config groups (sub-folders of conf/)."""
    return {p.name for p in conf_dir.iterdir() if p.is_dir()}


def _resolvers(text: str) -> set[str]:
    return {m.group(1) for m in RESOLVER.finditer(text)} - ALLOWED_RESOLVERS


def check_overrides(overrides: Sequence[str], conf_dir: Path = CONF_DIR) -> None:
    """Refuse command-line overrides that would run code, read the environment, or load a
    file from outside its group. Raises a one-line ConfigError."""
    known = groups(conf_dir)
    for text in overrides:
        key, sep, value = text.partition("=")
        key = key.strip().lstrip("+~").lstrip("+")
        key = key.split("@")[0]                       # group@package=option
        parts = re.split(r"[./]", key)
        if any(p in INSTANTIATION_KEYS for p in parts):
            raise ConfigError(key, value, "instantiation keys are not allowed (config is data)")
        if key.startswith(HYDRA_CODE_KEYS) or key == "hydra":
            raise ConfigError(key, value, "Hydra callbacks, launchers, sweepers and search "
                              "paths are not configurable here (they would run code)")
        foreign = _resolvers(value)
        if foreign:
            raise ConfigError(key, "${" + sorted(foreign)[0] + ":…}",
                              "resolvers are not allowed in command-line values (only "
                              "${now:…}); put the value itself")
        if sep and key in known:
            for option in (v.strip() for v in value.split(",")):
                option = option.strip("'\"")
                if option in ("", "null") or option.startswith(("choice(", "range(")):
                    continue
                _check_option(key, option, conf_dir)


def _check_option(group: str, option: str, conf_dir: Path) -> None:
    folder = (conf_dir / group).resolve()
    path = (folder / f"{option}.yaml").resolve()
    if not OPTION.match(option) or ".." in option or path.parent != folder:
        raise ConfigError(group, option, f"must name a file in conf/{group}/ (a plain name, "
                          "no path)")


def check_config_files(conf_dir: Path = CONF_DIR) -> None:
    """Refuse config files that would run code: group files with a ``hydra:`` section, any
    file with an instantiation key or a foreign resolver (raises ConfigError)."""
    for path in sorted(conf_dir.rglob("*.yaml")):
        problem = _file_problem(path, path.stat().st_mtime_ns, path.parent != conf_dir)
        if problem:
            key, reason = problem
            raise ConfigError(key, str(path.relative_to(conf_dir)), reason)


@lru_cache(maxsize=256)
def _file_problem(path: Path, mtime_ns: int, in_group: bool) -> tuple[str, str] | None:
    text = path.read_text()
    foreign = _resolvers(text)
    if foreign:
        return ("${" + sorted(foreign)[0] + ":…}", "resolver not allowed in config files")
    try:
        data = yaml.load(text, Loader=YAML_LOADER)
    except yaml.YAMLError as err:
        return ("yaml", f"malformed YAML: {' '.join(str(err).split())[:120]}")
    if in_group and isinstance(data, Mapping) and "hydra" in data:
        return ("hydra", "group files may not carry a hydra: section")
    found = _instantiation_key(data)
    if found:
        return (found, "instantiation keys are not allowed in config files")
    return None


def _instantiation_key(value: Any, key: str = "") -> str | None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            sub = f"{key}.{k}" if key else str(k)
            if k in INSTANTIATION_KEYS:
                return sub
            found = _instantiation_key(v, sub)
            if found:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = _instantiation_key(v, f"{key}[{i}]")
            if found:
                return found
    return None


def check_composed(cfg: Mapping) -> None:
    """The composed config, ``hydra:`` section included (unresolved plain containers): no
    instantiation key outside Hydra's own basic launcher and sweeper, no callbacks."""
    hydra = cfg.get("hydra") or {}
    if hydra.get("callbacks"):
        raise ConfigError("hydra.callbacks", sorted(hydra["callbacks"]),
                          "callbacks are not allowed (they would run code)")
    for name, target in BASIC_PLUGINS.items():
        got = (hydra.get(name) or {}).get("_target_", target)
        if got != target:
            raise ConfigError(f"hydra.{name}._target_", got, f"only Hydra's basic {name} "
                              "is allowed")
    rest = {k: v for k, v in cfg.items() if k != "hydra"}
    rest["hydra"] = {k: v for k, v in hydra.items() if k not in BASIC_PLUGINS}
    found = _instantiation_key(rest)
    if found:
        raise ConfigError(found, "…", "instantiation keys are not allowed (config is data)")


def check_flags(args: Any) -> None:
    """Refuse Hydra flags that load config or pickles from elsewhere."""
    for attr, flag in REFUSED_FLAGS.items():
        if getattr(args, attr, None):
            raise ConfigError(flag, getattr(args, attr), f"is not supported: the config comes "
                              f"from {CONF_DIR}")
