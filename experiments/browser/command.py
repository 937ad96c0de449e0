"""The shell command that reproduces one run of a sweep as a single run.

A run's resolved config is stored beside its tables (``manifests/<run_id>/config.yaml``).
The command is ``python -m model.run scenario=<its scenario>`` plus one Hydra override for
every key whose value differs from that scenario's defaults (design axes, the experiment's
own overrides, the seed), so it reproduces the run whatever the design or experiment was.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

RUNNER = ".venv/bin/python -m model.run"
SAFE = re.compile(r"[A-Za-z0-9_./:-]+")   # characters of a string that may go unquoted
NOT_RESULTS = ("run.out_dir", "run.quiet", "run.allow_outside_root")   # never change tables


def _plain_string(text: str) -> bool:
    """Whether Hydra reads ``text`` unquoted as this same string (e.g. 2023-12)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    if not SAFE.fullmatch(text):
        return False
    try:
        return OverridesParser.create().parse_override(f"k={text}").value() == text
    except OverrideParseException:
        return False


def override(key: str, value: Any) -> str:
    """``key=value`` in Hydra's grammar; a plain string value stays unquoted."""
    if isinstance(value, str) and _plain_string(value):
        return f"{key}={value}"
    return f"{key}={hydra_value(value)}"


def hydra_value(value: Any) -> str:
    """A value in Hydra's override grammar (strings double-quoted, lists and dicts inline)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{hydra_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as a Hydra override")


def _differences(run: Any, base: Any, key: str = "") -> Iterator[str]:
    """Overrides that turn ``base`` into ``run``: leaf keys of dicts; lists whole."""
    if isinstance(run, Mapping) and isinstance(base, Mapping):
        for k, v in run.items():
            child = f"{key}.{k}" if key else str(k)
            if k not in base:
                yield override(f"+{child}", v)
            else:
                yield from _differences(v, base[k], child)
        for k in base:
            if k not in run:
                yield f"~{key}.{k}" if key else f"~{k}"
    elif run != base or type(run) is not type(base):
        yield override(key, run)


def run_overrides(run_config: Mapping[str, Any], scenario_defaults: Mapping[str, Any],
                  out_dir: str) -> list[str]:
    """Hydra overrides of ``model.run`` that give ``run_config``: its scenario, every value
    that differs from that scenario's defaults, and ``run.out_dir`` (where to write)."""
    overrides = [o for o in _differences(run_config, scenario_defaults)
                 if o.lstrip("+~").split("=", 1)[0] not in NOT_RESULTS]
    scenario = run_config["scenario"]["name"]
    return [override("scenario", scenario), *overrides, override("run.out_dir", out_dir)]


def stored_run_config(run_dir: Path) -> dict[str, Any]:
    """The resolved config a sweep stored for one run (``manifests/<run_id>/config.yaml``)."""
    return yaml.safe_load((Path(run_dir) / "config.yaml").read_text())


def shell_command(overrides: list[str]) -> str:
    """The shell command line running ``model.run`` with ``overrides`` (quoted for sh)."""
    return " ".join([RUNNER, *(shlex.quote(o) for o in overrides)])
