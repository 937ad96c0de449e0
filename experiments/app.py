"""Interactive explorer: watch one EDWC run month by month and move its policy levers.

    make explore                      # http://127.0.0.1:8765
    make explore PORT=8800 ARGS="--host 0.0.0.0"   # other port; listen beyond loopback

A Mesa SolaraViz app. The sidebar holds Mesa's Reset / Play-Pause / Step controls and the
levers (experiments/levers.py); a changed lever takes effect on Reset, as in every Mesa app,
and Reset with the same levers and seed replays the same run. Solara's assets are served
from the solara-assets package, so the page works with no internet.
"""

from __future__ import annotations

import argparse
import functools
import os
import shlex
import sys
import warnings
from pathlib import Path

# Before solara is imported: no telemetry calls home (offline use), and no hook-lint warning
# about Mesa 3.3.1's own ComponentsView.
os.environ.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "False")
os.environ.setdefault("SOLARA_CHECK_HOOKS", "off")

import numpy as np
import pandas as pd
import solara
from mesa.visualization import SolaraViz
from omegaconf import DictConfig

from experiments.explorer_views import VIEWS
from experiments.levers import SCENARIO, explorer_params, lever_overrides
from model.model import EDWCModel
from model.run import compose_config
from model.schema import validate

ROOT = Path(__file__).resolve().parent.parent
warnings.filterwarnings(   # plain http is what a loopback server speaks
    "ignore", message="Cookies with samesite=none require https", category=UserWarning)
TITLE = "East Data, West Computing: explorer"
PARAMS = explorer_params()


@functools.cache
def scenario_config(scenario: str) -> DictConfig:
    """The scenario's composed config, read (never changed) to derive lever overrides."""
    return compose_config([f"scenario={scenario}"])


def parse_seed(seed: int | str) -> int:
    """The run seed from the seed box; a clear error for anything but a whole number."""
    try:
        return int(str(seed).strip())
    except ValueError:
        raise ValueError(f"seed must be a whole number, got {seed!r}") from None


class ExplorerModel(EDWCModel):
    """The EDWC model built from a scenario plus the explorer's levers (keyword arguments).

    Mesa's Reset calls this class with the sidebar's values; ``overrides`` are the Hydra
    overrides that reproduce the run with ``python -m model.run``.
    """

    def __init__(
        self,
        scenario: str = "edwc",
        voucher_rate: str = SCENARIO,
        voucher_scope: str = SCENARIO,
        west_power_discount: str = SCENARIO,
        pue_cap_east: str = SCENARIO,
        pue_cap_west: str = SCENARIO,
        green_mandate: str = SCENARIO,
        carbon_price: str = SCENARIO,
        route_factor: str = SCENARIO,
        uhv_lines: str = SCENARIO,
        intelligent_growth: float = 1.0,
        seed: int | str = 42,
    ) -> None:
        levers = lever_overrides(
            scenario_config(scenario), voucher_rate=voucher_rate, voucher_scope=voucher_scope,
            west_power_discount=west_power_discount, pue_cap_east=pue_cap_east,
            pue_cap_west=pue_cap_west, green_mandate=green_mandate, carbon_price=carbon_price,
            route_factor=route_factor, uhv_lines=uhv_lines,
            intelligent_growth=intelligent_growth)
        self.overrides = [f"scenario={scenario}", f"run.seed={parse_seed(seed)}", *levers]
        question = scenario_config(scenario).scenario.get("question", "")
        self.question = f"Scenario {scenario}: {question}"
        super().__init__(validate(compose_config(self.overrides)))
        self._frames: dict[str, tuple[int, pd.DataFrame]] = {}
        self.running = not self.finished

    def step(self) -> None:
        """Advance one month, as ``model.run.simulate`` does; stop after the last month."""
        if self.finished:
            self.running = False
            return
        super().step()
        self.running = not self.finished

    def command(self) -> str:
        """The shell command that re-runs this run and writes its tables."""
        return ".venv/bin/python -m model.run " + " ".join(shlex.quote(o) for o in self.overrides)

    def _cached(self, name: str, build) -> pd.DataFrame:
        """A frame built once per month however many views read it."""
        cached = self._frames.get(name)
        if cached is None or cached[0] != self.month:
            cached = (self.month, build())
            self._frames[name] = cached
        return cached[1]

    def national_table(self) -> pd.DataFrame:
        """National records of the months so far (docs/outputs.md columns)."""
        return self._cached("national", lambda: pd.DataFrame(self.recorder.national))

    def nodes_now(self) -> pd.DataFrame:
        """Node records of the latest month, one row per node in config order."""
        def build() -> pd.DataFrame:
            frame = pd.DataFrame(self.recorder.node[-1])
            frame.insert(0, "node", [n.name for n in self.config.geography.nodes])
            frame.insert(1, "role", [n.role for n in self.config.geography.nodes])
            return frame
        return self._cached("nodes", build)

    def flows_now(self) -> pd.DataFrame:
        """Load of the latest month by origin and serving node, MW (classes summed)."""
        def build() -> pd.DataFrame:
            names = [n.name for n in self.config.geography.nodes]
            n = len(names)
            mw = np.asarray(self.recorder.flows[-1]).reshape(n, n, -1).sum(axis=2)
            origin, serving = np.nonzero(mw > 0)
            return pd.DataFrame({"origin": np.asarray(names)[origin],
                                 "serving": np.asarray(names)[serving],
                                 "mw": mw[origin, serving]})
        return self._cached("flows", build)


@solara.component
def Page() -> None:
    """The explorer page: one model per browser session, Mesa's controls and the views."""
    model = solara.use_memo(ExplorerModel, [])
    SolaraViz(model, components=VIEWS, model_params=PARAMS, name=TITLE,
              play_interval=150)


def main(argv: list[str] | None = None) -> None:
    """Serve the explorer with Solara on ``--host`` (127.0.0.1 by default) and ``--port``."""
    parser = argparse.ArgumentParser(prog="python -m experiments.app", description=TITLE)
    parser.add_argument("--port", type=int, default=8765, help="TCP port (default 8765)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1, loopback only)")
    args = parser.parse_args(argv)
    from solara.__main__ import cli  # the `solara run` command, in this process

    sys.path.insert(0, str(ROOT))
    print(f"{TITLE}: http://{args.host}:{args.port}  (Ctrl-C stops)", flush=True)
    cli.main(args=["run", "experiments.app", "--host", args.host, "--port", str(args.port),
                   "--production", "--no-open", "--no-check-version"], prog_name="solara")


if __name__ == "__main__":
    main()
