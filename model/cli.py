"""Hydra plumbing shared by the commands: a typed schema registered in Hydra's ConfigStore,
the project's resolver, one-line compose errors, a pre-flight check before the Hydra app
starts, and the run folder of each ``-m`` job.

The schema (``edwc_schema``, first in ``conf/config.yaml``'s defaults) types the sections'
scalar keys, so ``run.seed=abc`` fails while composing; ranges and cross-checks stay in
``model.schema.validate``.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import sys
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import MissingConfigException, OverrideParseException
from hydra.types import RunMode
from omegaconf import MISSING, DictConfig, OmegaConf, open_dict
from omegaconf.errors import OmegaConfBaseException

from model import guard
from model import schema as S
from model.paths import CONF_DIR

SCHEMA_NAME = "edwc_schema"
RUN_GROUPS = ("geography", "demand", "supply", "grid", "policy", "scenario")
SCALARS = (float, int, bool, str)


# ---------------------------------------------------------------- schema and resolver

@dataclasses.dataclass
class RunSchema:
    start: str = MISSING
    end: str = MISSING
    seed: int = MISSING
    out_dir: str = MISSING
    quiet: bool = False
    max_memory_mb: float = 16000.0
    allow_outside_root: bool = False


@dataclasses.dataclass
class ScenarioSchema:
    name: str = MISSING
    question: str = ""


def _section(name: str, cls: type, drop: Sequence[str] = (), add: Sequence[str] = ()) -> type:
    """A structured-config class for a section: the validator dataclass's scalar fields
    typed (float, int, bool, str), everything else Any; all required."""
    hints = typing.get_type_hints(cls)
    specs = [(f.name, hints[f.name] if hints[f.name] in SCALARS else Any,
              dataclasses.field(default=MISSING))
             for f in dataclasses.fields(cls) if f.name not in drop]
    specs += [(k, Any, dataclasses.field(default=MISSING)) for k in add]
    return dataclasses.make_dataclass(name, specs)


DemandSchema = _section("DemandSchema", S.Demand, drop=["growth_general", "growth_intelligent"],
                        add=["growth"])
SupplySchema = _section("SupplySchema", S.Supply)
GridSchema = _section("GridSchema", S.Grid)


# The top level stays an open mapping (sweep.yaml adds sweep: and design:); the sections are
# typed and closed (an unknown key is refused while composing).
SCHEMA = {"run": RunSchema, "demand": DemandSchema, "supply": SupplySchema, "grid": GridSchema,
          "scenario": ScenarioSchema}


def group_options(group: str, conf_dir: Path = CONF_DIR) -> list[str]:
    """The options of a config group (file stems in ``conf/<group>/``)."""
    return sorted(p.stem for p in (conf_dir / group).glob("*.yaml"))


def _groups_resolver(*groups: str) -> str:
    return "\n".join(f"  {g}: {', '.join(group_options(g))}" for g in groups)


def register() -> None:
    """Register the schema and the ``edwc_groups`` resolver (idempotent)."""
    ConfigStore.instance().store(name=SCHEMA_NAME, node=SCHEMA)
    if not OmegaConf.has_resolver("edwc_groups"):
        OmegaConf.register_new_resolver("edwc_groups", _groups_resolver)


register()


# ---------------------------------------------------------------- one-line errors

class CommandError(ValueError):
    """A one-line refusal of a command line (exit code 2), not tied to a single key."""


def compose_error(err: Exception, overrides: Sequence[str] = ()) -> S.ConfigError:
    """Hydra's and OmegaConf's (multi-line) composition errors as one ConfigError line."""
    if isinstance(err, MissingConfigException) and err.missing_cfg_file:
        group, _, option = err.missing_cfg_file.rpartition("/")
        if group:
            options = group_options(group)
            near = difflib.get_close_matches(option, options, n=1)
            hint = f"; did you mean {near[0]}?" if near else ""
            return S.ConfigError(group, option, f"no such option (one of {', '.join(options)})"
                                 + hint)
    if isinstance(err, OverrideParseException):
        bad = next((o for o in overrides if o in str(err)), " ".join(overrides))
        key, _, value = bad.partition("=")
        return S.ConfigError(key.lstrip("+~"), value, "cannot be read as a Hydra override "
                             "(quote text with spaces or non-ASCII letters: key='...')")
    cause = err
    while cause.__cause__ is not None and not isinstance(cause, OmegaConfBaseException):
        cause = cause.__cause__
    key = getattr(cause, "full_key", None) or ""
    value = getattr(cause, "value", None)
    text = " ".join(str(cause).split("\n")[0].split())
    if isinstance(cause, OmegaConfBaseException) and key:
        if value is None:
            for o in overrides:
                k, sep, v = o.lstrip("+~").partition("=")
                if sep and k == key:
                    value = v
        return S.ConfigError(key, value, text)
    named = re.search(r"override '([^']+)'", text)
    if named:                              # e.g. a group this command does not have
        key = named.group(1)
        value = next((o.partition("=")[2] for o in overrides
                      if o.lstrip("+~").partition("=")[0] == key), None)
        return S.ConfigError(key, value, "this command has no such config group or key "
                             "(see --help)")
    return S.ConfigError("overrides", " ".join(overrides), text or type(err).__name__)


def compose_checked(config_name: str, overrides: Sequence[str],
                    return_hydra_config: bool = False) -> DictConfig:
    """Compose with Hydra's compose API after the injection checks of model.guard; a
    composition error becomes one ConfigError line."""
    guard.check_overrides(overrides)
    guard.check_config_files()
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose(config_name=config_name, overrides=list(overrides),
                           return_hydra_config=return_hydra_config)
    except S.ConfigError:
        raise
    except Exception as err:
        if is_hydra_error(err):
            raise compose_error(err, overrides) from None
        raise


def is_hydra_error(err: BaseException) -> bool:
    """Whether `err` comes from Hydra or OmegaConf (a bad override or config file): such
    errors are reported in one line, never as a traceback."""
    return type(err).__module__.startswith(("hydra", "omegaconf"))


def job_variants(overrides: Sequence[str]) -> list[list[str]]:
    """For a ``-m`` command line: one override list per value of each sweep override (the
    others at their first value), so every value is composed once before any job runs."""
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    sweeps = [(i, list(o.sweep_string_iterator())) for i, o in enumerate(parsed)
              if o.is_sweep_override()]
    base = [o.input_line for o in parsed]
    for i, values in sweeps:
        base[i] = f"{parsed[i].get_key_element()}={values[0]}"
    out = [base]
    for i, values in sweeps:
        for v in values[1:]:
            variant = list(base)
            variant[i] = f"{parsed[i].get_key_element()}={v}"
            out.append(variant)
    return out


# ---------------------------------------------------------------- the Hydra command

def hydra_args(argv: Sequence[str]) -> Any:
    """Hydra's own parse of a command line (the flags and the overrides)."""
    from hydra._internal.utils import get_args_parser

    return get_args_parser().parse_args(list(argv))


def launch(app: Callable[[], Any], config_name: str,
           check: Callable[[DictConfig], None] | None = None,
           argv: Sequence[str] | None = None) -> int:
    """Run a ``@hydra.main`` app after a pre-flight: compose every job's config (each
    ``-m`` value once) and, for a plain run, ``check`` it; refusals are one line, exit 2,
    before Hydra starts (and so before it writes or instantiates anything)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = hydra_args(argv)
    except SystemExit as exit_:          # --version, or argparse's own usage error
        return int(exit_.code or 0)
    try:
        guard.check_flags(args)
        if args.config_name not in (None, config_name):
            raise S.ConfigError("--config-name", args.config_name,
                                f"this command composes {config_name}.yaml only")
    except S.ConfigError as err:
        print(str(err).splitlines()[0], file=sys.stderr)
        return 2
    if not (args.help or args.hydra_help or args.shell_completion):
        try:
            guard.check_overrides(args.overrides)
            for overrides in (job_variants(args.overrides) if args.multirun
                              else [args.overrides]):
                cfg = compose_checked(config_name, overrides, return_hydra_config=True)
                guard.check_composed(OmegaConf.to_container(cfg, resolve=False))
                with open_dict(cfg):
                    del cfg["hydra"]
                if check is not None and not (args.multirun or args.cfg or args.info):
                    check(cfg)
        except (S.ConfigError, CommandError) as err:
            print(str(err).splitlines()[0], file=sys.stderr)
            return 2
    try:
        app()
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    return 0


def job_out_dir(cfg: DictConfig) -> DictConfig:
    """Inside a ``-m`` job, its own run folder: ``<hydra.sweep.dir>/<override dirname>``
    (``job<N>`` without overrides), unless ``run.out_dir`` is on the command line."""
    if not HydraConfig.initialized():
        return cfg
    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return cfg
    keys = {o.lstrip("+~").partition("=")[0] for o in hc.overrides.task}
    if "run.out_dir" in keys:
        return cfg
    name = hc.job.override_dirname or f"job{hc.job.num}"
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.run.out_dir = str(Path(hc.sweep.dir) / name.replace("/", "_"))
    return cfg
