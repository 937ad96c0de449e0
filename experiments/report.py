"""`make run`: run one scenario, print its summary and draw its figures.

`python -m experiments.report [overrides]` does what `python -m model.run` does (check the
config, run, write the run folder atomically, print the summary) and then writes a one-run
brief into `<run folder>/brief/`: PNG figures, the CSV behind each, key numbers and an
index.html (figures that need several scenarios or a sweep are listed as skipped).
"""

from __future__ import annotations

import sys
import time

import hydra
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from experiments.brief import brief_config, build_brief, load_runs_folder
from model import cli
from model.paths import CONF_DIR
from model.run import check_before_running, run_command

RUN_BRIEF = ["brief.formats=[png]", "brief.pdf=false"]


def draw_run_figures(run_dir, quiet: bool = False) -> None:
    """The one-run brief of a finished run folder, into `<run_dir>/brief/`."""
    t0 = time.perf_counter()
    if GlobalHydra.instance().is_initialized():     # inside the Hydra app: same conf folder
        cfg = hydra.compose(config_name="brief", overrides=RUN_BRIEF)
    else:
        cfg = brief_config(RUN_BRIEF)
    page = build_brief(load_runs_folder(run_dir), run_dir / "brief", cfg, progress=False)
    if not quiet:
        print(f"Figures written to {page.parent} ({time.perf_counter() - t0:.1f} s); "
              f"open {page}")


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> None:
    code = run_command(cfg, after=lambda out, c: draw_run_figures(out, quiet=c.run.quiet))
    if code:
        sys.exit(code)


def main() -> int:
    """`make run`: a Hydra app (its flags pass through); run, summarise, draw. Exit 2 on bad
    input, in one line, before anything is written."""
    return cli.launch(_hydra_main, "config", check=check_before_running)


if __name__ == "__main__":
    sys.exit(main())
