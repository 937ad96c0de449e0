"""Designs and bad sweep input: samplers, seeds, one-line errors, nothing written."""

import subprocess
import sys
from pathlib import Path

import pytest

from experiments.design import (
    SweepInputError,
    design_points,
    expand_runs,
    parse_design,
    parse_seeds,
)
from experiments.sweep import plan_from_overrides

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml"))


def test_grid_crosses_axes_and_every_point_runs_every_seed():
    design = parse_design({"kind": "grid", "axes": {"a": [1, 2, 3], "b": ["x", "y"]}})
    runs = expand_runs(design_points(design), [7, 8])
    assert len(runs) == 12
    assert runs.groupby("point")["seed"].apply(list).map(tuple).unique().tolist() == [(7, 8)]
    assert runs["run_id"].iloc[:3].tolist() == ["p00000-s7", "p00000-s8", "p00001-s7"]


@pytest.mark.parametrize(("kind", "extra", "n_points"), [
    ("lhs", {"samples": 10}, 10),
    ("sobol", {"samples": 8}, 8 * (3 + 2)),                          # N (D + 2)
    ("sobol", {"samples": 8, "second_order": True}, 8 * (2 * 3 + 2)),  # N (2D + 2)
    ("morris", {"samples": 5, "levels": 4}, 5 * (3 + 1)),            # r (D + 1)
])
def test_sampled_designs_have_salib_sizes_and_stay_in_bounds(kind, extra, n_points):
    axes = {"a": {"low": 0.1, "high": 0.5}, "b": {"low": -2, "high": 2},
            "scenario": {"choices": ["edwc", "no_edwc", "ai_boom"]}}
    points = design_points(parse_design({"kind": kind, "axes": axes, **extra}))
    assert len(points) == n_points
    assert points["a"].between(0.1, 0.5).all() and points["b"].between(-2, 2).all()
    assert set(points["scenario"]) <= {"edwc", "no_edwc", "ai_boom"}
    assert (points["x:scenario"] // 1).clip(upper=2).astype(int).map(
        ["edwc", "no_edwc", "ai_boom"].__getitem__).tolist() == points["scenario"].tolist()


def test_samples_are_reproducible_from_sampler_seed():
    spec = {"kind": "lhs", "samples": 6, "axes": {"a": {"low": 0, "high": 1}}}
    first, again = design_points(parse_design(spec)), design_points(parse_design(spec))
    other = design_points(parse_design({**spec, "sampler_seed": 1}))
    assert first.equals(again) and not first.equals(other)


@pytest.mark.parametrize(("spec", "key", "value"), [
    ({"kind": "factorial", "axes": {"a": [1]}}, "design.kind", "'factorial'"),
    ({"kind": "lhs", "samples": 4, "axes": {"a": {"low": 2, "high": 1}}},
     "design.axes.a", "'low': 2"),
    ({"kind": "grid", "axes": {"a": []}}, "design.axes.a", "[]"),
    ({"kind": "sobol", "samples": 6, "axes": {"a": {"low": 0, "high": 1},
                                              "b": {"low": 0, "high": 1}}},
     "design.samples", "6"),
    ({"kind": "grid", "axes": {"a": [1]}, "size": 3}, "design.size", "3"),
])
def test_bad_design_is_one_line_naming_key_and_value(spec, key, value):
    with pytest.raises(SweepInputError) as err:
        parse_design(spec)
    message = str(err.value)
    assert "\n" not in message and f"{key} = " in message and value in message


@pytest.mark.parametrize("seeds", [[], [1, 1], [-1], "3", [0.5]])
def test_bad_seed_lists_are_refused(seeds):
    with pytest.raises(SweepInputError, match="sweep.seeds"):
        parse_seeds(seeds)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_composes_and_expands(name, tmp_path):
    plan = plan_from_overrides([f"experiment={name}", f"sweep.dir={tmp_path / name}"])
    assert len(plan.runs) >= 4
    task = plan.task(plan.runs.to_dict("records")[-1])
    assert task["config"]["run"]["seed"] == plan.settings.seeds[-1]
    assert not (tmp_path / name).exists()


def test_one_axis_sets_every_key_it_names(tmp_path):
    plan = plan_from_overrides(["experiment=voucher_vs_discount", f"sweep.dir={tmp_path}"])
    row = plan.runs[(plan.runs["east_voucher_rate"] == 0.6)
                    & (plan.runs["west_power_discount"] == 0.3)].iloc[0].to_dict()
    nodes = plan.run_config(row)["policy"]["local"]["nodes"]
    assert {nodes[n]["voucher"][k] for n in ("yangtze_delta", "greater_bay",
                                             "beijing_tianjin_hebei")
            for k in ("rate", "max_rate")} == {0.6}
    assert {nodes[n]["power_discount"][k] for n in ("gansu", "ningxia", "guizhou",
                                                    "inner_mongolia")
            for k in ("rate", "max_rate")} == {0.3}


def test_unknown_axis_key_is_refused_before_planning(tmp_path):
    with pytest.raises(SweepInputError, match=r"design.axes.demand.nope = 'demand.nope'"):
        plan_from_overrides(["experiment=smoke", f"sweep.dir={tmp_path}", "~design.axes",
                             "+design.axes={demand.nope:[1,2]}"])


@pytest.mark.parametrize(("override", "needle"), [
    ("sweep.executor=ray", "sweep.executor = 'ray'"),
    ("sweep.workers=0", "sweep.workers = 0"),
    ("+sweep.speed=3", "sweep.speed = 3"),
])
def test_bad_sweep_settings_are_refused_before_anything_is_written(override, needle, tmp_path):
    with pytest.raises(SweepInputError, match=needle):
        plan_from_overrides(["experiment=smoke", f"sweep.dir={tmp_path / 's'}", override])
    assert not (tmp_path / "s").exists()


def test_cli_bad_input_exits_nonzero_with_one_line_and_writes_nothing(tmp_path):
    out = tmp_path / "sweep"
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.sweep", "experiment=smoke", f"sweep.dir={out}",
         "sweep.seeds=[]"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "sweep error: sweep.seeds = []: expected a non-empty list of integers")
    assert not out.exists()
