"""Sweeps (docs/sweeps.md): plan a design × seed list (``plan``), run it on an executor
(``executors``), keep the sweep folder resumable (``execute``), and the command (``cli``).

    make sweep ARGS="experiment=voucher_vs_discount sweep.dir=outputs/sweeps/vd"

The public API: ``plan_from_overrides`` → :class:`Plan`, ``execute_plan`` → :class:`Summary`.
"""

from experiments.sweep.execute import Summary, execute_plan
from experiments.sweep.executors import model_runner
from experiments.sweep.plan import Plan, SweepSettings, plan_from_overrides, plan_sweep

__all__ = ["Plan", "Summary", "SweepSettings", "execute_plan", "model_runner",
           "plan_from_overrides", "plan_sweep"]
