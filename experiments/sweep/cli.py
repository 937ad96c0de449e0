"""The sweep command: expand a design × seed list inside ONE process and run it on an
executor (serial, a local process pool, or Dask), resumably (docs/sweeps.md).

    make sweep ARGS="experiment=voucher_vs_discount sweep.dir=outputs/sweeps/vd"
    make sweep ARGS="experiment=smoke sweep.executor=dask sweep.scheduler=tcp://127.0.0.1:8786"

Re-running the same command on the same ``sweep.dir`` skips completed runs and redoes failed
or half-written ones; a changed design or config is refused. ``hydra -m`` over coarse axes
(e.g. ``-m scenario=edwc,no_edwc sweep.dir=outputs/sweeps/x/\\${scenario.name}``) still works.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import hydra
import yaml
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from experiments import store
from experiments.design import SweepInputError
from experiments.sweep.execute import execute_plan
from experiments.sweep.plan import Composer, check_run_configs, plan_sweep
from model.paths import CONF_DIR
from model.schema import ConfigError, validate

EXPERIMENT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")   # a file name in the group


def run_sweep(cfg: DictConfig, compose: Composer, overrides: Sequence[str],
              groups: Sequence[str] | Mapping[str, Any]) -> int:
    """Plan, run, print the summary; returns the exit code (2 bad input, 1 failed runs)."""
    try:
        plan = plan_sweep(cfg, compose, list(overrides), dict(groups), notify=print)
        check_run_configs(plan, validate)
        summary = execute_plan(plan)
    except (SweepInputError, ConfigError) as err:
        print(str(err).splitlines()[0], file=sys.stderr)
        return 2
    print(summary.line())
    if summary.failed:
        print(f"{summary.failed} run(s) failed; tracebacks are in {summary.dir / store.INDEX} "
              "(table runs); re-run the same command to retry them", file=sys.stderr)
        return 1
    return 0


def check_experiments(argv: Sequence[str]) -> None:
    """Refuse an ``experiment=`` choice that names no file of conf/experiment/ (or of a
    ``--config-dir``), or whose file is not a YAML mapping, before Hydra composes."""
    dirs, names = [CONF_DIR], []
    args = list(argv)
    for i, arg in enumerate(args):
        if arg in ("--config-dir", "-cd") and i + 1 < len(args):
            dirs.append(Path(args[i + 1]))
        elif arg.startswith("--config-dir="):
            dirs.append(Path(arg.split("=", 1)[1]))
        elif arg.lstrip("+").startswith("experiment="):
            names += arg.split("=", 1)[1].split(",")
    for name in names:
        if name == "null":
            continue
        files = [d / "experiment" / f"{name}.yaml" for d in dirs]
        found = next((f for f in files if EXPERIMENT_NAME.fullmatch(name) and f.is_file()), None)
        if found is None:
            known = sorted(f.stem for d in dirs for f in (d / "experiment").glob("*.yaml"))
            raise SweepInputError("experiment", name,
                                  f"no such experiment (one of {', '.join(known)})")
        try:
            content = yaml.safe_load(found.read_text())
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            problem = getattr(err, "problem", None) or "cannot parse"
            raise SweepInputError("experiment", name,
                                  f"malformed YAML in {found.name}{where}: {problem}") from None
        if not isinstance(content, dict):
            raise SweepInputError("experiment", name, f"{found.name} is not a YAML mapping")


# An absolute config path: the same folder whether run as a module or as edwc-sweep.
@hydra.main(config_path=str(CONF_DIR), config_name="sweep", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> None:
    hc = HydraConfig.get()

    def compose(overrides: list[str]) -> DictConfig:
        return hydra.compose(config_name=hc.job.config_name, overrides=overrides)

    code = run_sweep(cfg, compose, hc.overrides.task, hc.runtime.choices)
    if code:
        sys.exit(code)


def main() -> None:
    """Entry point (`edwc-sweep`, `python -m experiments.sweep`): check the experiment files,
    then model.cli's pre-flight (no config that runs code, one-line compose errors, exit 2)
    before the Hydra app around :func:`run_sweep` starts."""
    from model.cli import launch

    try:
        check_experiments(sys.argv[1:])
    except SweepInputError as err:
        print(str(err), file=sys.stderr)
        sys.exit(2)
    sys.exit(launch(_hydra_main, "sweep"))


if __name__ == "__main__":
    main()
