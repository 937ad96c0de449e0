"""The EMA Workbench connector (experiments/ema.py): 8 experiments x 2 seeds on a tiny
configuration, PRIM on the results, and the connector's one-line refusals."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)   # "ipyparallel not installed"
    ema_workbench = pytest.importorskip(
        "ema_workbench", reason="EMA Workbench not installed: pip install -c constraints.txt "
        "-e '.[ema]' (make setup does)")

from ema_workbench import perform_experiments  # noqa: E402
from ema_workbench.analysis import prim  # noqa: E402

from experiments.ema import edwc_model  # noqa: E402
from model.model import EDWCModel  # noqa: E402
from model.outcomes import OUTCOMES  # noqa: E402
from model.run import compose_config  # noqa: E402
from model.schema import ConfigError, validate  # noqa: E402

TINY = ["run.end=2022-06", "demand.n_enterprises=200", "supply.n_datacenters=30"]
GROWTH = "demand.growth.general*"
UNCERTAINTIES = {"demand.logit_scale_rmb": (150.0, 600.0), GROWTH: (0.0, 3.0)}
SEEDS = [1, 2]


@pytest.fixture(scope="module")
def results():
    model = edwc_model(UNCERTAINTIES, seeds=SEEDS, overrides=TINY,
                       outcomes=["twh", "west_share", ("utilisation", 2022)])
    np.random.seed(3)                # EMA's samplers draw from numpy's global generator
    experiments, outcomes = perform_experiments(model, scenarios=8)
    return model, experiments, outcomes


def test_experiments_sample_the_config_keys_and_report_declared_outcomes(results):
    model, experiments, outcomes = results
    assert len(experiments) == 8
    assert set(outcomes) == {"twh_2022", "west_share_2022", "utilisation_2022"}
    for key, (low, high) in UNCERTAINTIES.items():
        assert experiments[key].between(low, high).all() and experiments[key].nunique() == 8
    assert model.replications == [{"seed": 1}, {"seed": 2}]
    # an outcome is the mean over the seeds of the declared outcome of a direct model run
    row = experiments.iloc[0]
    base = validate(compose_config(TINY)).demand.growth_general
    scaled = [{"from": f"{m // 12}-{m % 12 + 1:02d}", "value": v * row[GROWTH]}
              for m, v in zip(base.months, base.values, strict=True)]
    direct = []
    for seed in SEEDS:
        m = EDWCModel(seed=seed, overrides=TINY, **{
            "demand.logit_scale_rmb": float(row["demand.logit_scale_rmb"]),
            "demand.growth.general": scaled})
        m.run()
        frame = m.datacollector.get_model_vars_dataframe().assign(year=2022)
        direct.append(OUTCOMES["twh"].display(frame, 2022))
    assert outcomes["twh_2022"][0] == pytest.approx(np.mean(direct), rel=1e-12)
    assert direct[0] != direct[1]                    # the replications are distinct runs
    # a scaled growth schedule: more demand growth, more electricity (rank correlation)
    ranks = np.argsort(np.argsort(experiments[GROWTH].to_numpy()))
    twh_ranks = np.argsort(np.argsort(outcomes["twh_2022"]))
    assert np.corrcoef(ranks, twh_ranks)[0, 1] >= 0.9


def test_prim_finds_the_growth_box_for_high_electricity(results):
    model, experiments, outcomes = results
    x = experiments[list(model.uncertainties.keys())]
    twh = outcomes["twh_2022"]
    high = twh > np.median(twh)
    box = prim.Prim(x, high, threshold=0.8, peel_alpha=0.1).find_box()
    last = box.peeling_trajectory.iloc[-1]
    assert last["density"] == 1.0 and last["coverage"] == 1.0    # exactly the high cases
    assert set(box.yi) == set(np.flatnonzero(high))
    # the box restricts the growth factor from below: it cuts the lowest-growth cases and
    # keeps every high one
    growth = experiments[GROWTH].to_numpy()
    assert growth.min() < box.box_lims[-1].loc[0, GROWTH] <= growth[high].min()


@pytest.mark.parametrize(("uncertainties", "key", "reason"), [
    ({"demand.logit_scale": (1.0, 2.0)}, "demand.logit_scale", "is not a config key"),
    ({"demand.growth.general": (0.5, 1.5)}, "demand.growth.general", "is a schedule"),
    ({"demand.logit_scale_rmb*": (0.5, 1.5)}, "demand.logit_scale_rmb*", "scales a schedule"),
    ({"demand.logit_scale_rmb": (-50.0, 100.0)}, "demand.logit_scale_rmb", "must be"),
    ({"demand.logit_scale_rmb": (100.0, 50.0)}, "demand.logit_scale_rmb", "low < high"),
    ({"scenario": ["edwc"]}, "scenario", "scenario.name"),
    ({"scenario.name": ["edwc", "nope"]}, "scenario", "nope"),
    ({"run.seed": (1, 5)}, "run.seed", "replications are seeds"),
])
def test_bad_parameters_are_refused_when_the_model_is_built(uncertainties, key, reason):
    with pytest.raises(ConfigError) as info:
        edwc_model(uncertainties, seeds=[1], overrides=TINY)
    message = str(info.value)
    assert len(message.splitlines()) == 1 and message.startswith(f"config error: {key}")
    assert reason in message, message


def test_outcomes_must_be_declared_and_inside_the_run():
    with pytest.raises(ConfigError, match="is not a declared outcome"):
        edwc_model({}, overrides=TINY, outcomes=["west_shares"])
    with pytest.raises(ConfigError, match="year outside the run"):
        edwc_model({}, overrides=TINY, outcomes=[("west_share", 2030)])
