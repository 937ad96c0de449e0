"""`make run`: run one scenario, print its summary and draw its figures.

`python -m experiments.report [overrides]` does what `python -m model.run` does (check the
config, run, write the run folder atomically, print the summary) and then writes a one-run
brief into `<run folder>/brief/`: PNG figures, the CSV behind each, key numbers and an
index.html (figures that need several scenarios or a sweep are listed as skipped).
"""

from __future__ import annotations

import sys
import time

from experiments.brief import brief_config, build_brief, load_runs_folder
from model.run import compose_config, resolve_out_dir, run_command
from model.schema import ConfigError, validate

RUN_BRIEF = ["brief.formats=[png]", "brief.pdf=false"]


def draw_run_figures(run_dir, quiet: bool = False) -> None:
    """The one-run brief of a finished run folder, into `<run_dir>/brief/`."""
    t0 = time.perf_counter()
    page = build_brief(load_runs_folder(run_dir), run_dir / "brief", brief_config(RUN_BRIEF),
                       progress=False)
    if not quiet:
        print(f"Figures written to {page.parent} ({time.perf_counter() - t0:.1f} s); "
              f"open {page}")


def main(argv: list[str] | None = None) -> int:
    """Compose the config from Hydra overrides, run, summarise, draw. Exit 2 on bad input."""
    overrides = sys.argv[1:] if argv is None else argv
    try:
        cfg = compose_config(overrides)
        out = resolve_out_dir(validate(cfg).run)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    except Exception as err:   # malformed override: Hydra's own one-line message
        if type(err).__module__.startswith(("hydra", "omegaconf")):
            print(f"config error: {str(err).splitlines()[0]}", file=sys.stderr)
            return 2
        raise
    code = run_command(cfg)
    if code == 0:
        draw_run_figures(out, quiet=cfg.run.quiet)
    return code


if __name__ == "__main__":
    sys.exit(main())
