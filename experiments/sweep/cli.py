"""The sweep command: expand a design × seed list inside ONE process and run it on an
executor (serial, a local process pool, or Dask), resumably (DESIGN §10).

    make sweep ARGS="experiment=voucher_vs_discount sweep.dir=outputs/sweeps/vd"
    make sweep ARGS="experiment=smoke sweep.executor=dask sweep.scheduler=tcp://127.0.0.1:8786"

Re-running the same command on the same ``sweep.dir`` skips completed runs and redoes failed
or half-written ones; a changed design or config is refused. ``hydra -m`` over coarse axes
(e.g. ``-m scenario=edwc,no_edwc sweep.dir=outputs/sweeps/x/\\${scenario.name}``) still works.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from experiments import store
from experiments.design import SweepInputError
from experiments.sweep.execute import execute_plan
from experiments.sweep.plan import ROOT, Composer, check_run_configs, plan_sweep
from model.schema import ConfigError, validate


def run_sweep(cfg: DictConfig, compose: Composer, overrides: Sequence[str],
              groups: Sequence[str]) -> int:
    """Plan, run, print the summary; returns the exit code (2 bad input, 1 failed runs)."""
    try:
        plan = plan_sweep(cfg, compose, list(overrides), list(groups))
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


# An absolute config path: the same folder whether run as a module or as edwc-sweep.
@hydra.main(config_path=str(ROOT / "conf"), config_name="sweep", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Hydra entry point around :func:`run_sweep`."""
    hc = HydraConfig.get()

    def compose(overrides: list[str]) -> DictConfig:
        return hydra.compose(config_name=hc.job.config_name, overrides=overrides)

    code = run_sweep(cfg, compose, hc.overrides.task, hc.runtime.choices)
    if code:
        sys.exit(code)


if __name__ == "__main__":
    main()
