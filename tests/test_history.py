"""The mechanisms behind the 2022 -> mid-2025 history and a stable build cycle (issue 12): a
bounded scarcity adder on a growing grid, prices that recover after a glut, loss-making DCs
that change hands instead of being scrapped, and rack-target builders from the first year."""

from __future__ import annotations

import mesa
import numpy as np
import pytest

from agents.grid_operator import GridOperator
from model.constants import OPERATING
from model.model import EDWCModel


def _grid(short_config, name: str) -> GridOperator:
    index = short_config.geography.names.index(name)
    return GridOperator(mesa.Model(rng=1), index, short_config.geography.nodes[index],
                        short_config.grid)


def test_scarcity_adder_never_exceeds_its_share_of_the_base_tariff(short_config):
    g = _grid(short_config, "guizhou")
    base = short_config.geography.nodes[g.index].dc_power_price
    share = short_config.grid.scarcity_adder_share
    g.update(0.0, 0.0, 0.0)
    assert g.tariff == pytest.approx(base)
    g.update(0.0, 0.0, 50 * g.node.dc_headroom_mw)            # far beyond the headroom
    assert g.tariff == pytest.approx(base * (1 + share))
    g.update(0.0, 0.2, 50 * g.node.dc_headroom_mw)            # the local discount applies on top
    assert g.tariff == pytest.approx(base * (1 + share) * 0.8)


def test_grid_headroom_grows_so_the_same_dc_load_is_less_scarce_later(short_config):
    g = _grid(short_config, "yangtze_delta")
    load = 0.95 * g.node.dc_headroom_mw
    g.update(0.0, 0.0, load)
    early = g.tariff
    g.update(5.0, 0.0, load)            # headroom x 1.06^5 = 1.34: below the scarcity start
    assert early > g.tariff == pytest.approx(g.node.dc_power_price)


@pytest.fixture()
def model(short_config) -> EDWCModel:
    m = EDWCModel(short_config)
    m.step()
    return m


def test_markup_recovers_towards_normal_between_idle_and_full(model):
    f, s = model.fleet, model.config.supply
    row = int(np.flatnonzero(f.operating)[0])
    cap = f.cap_mw[row].sum()
    occupied = np.zeros_like(f.occupied_mw)
    occupied[row] = f.cap_mw[row] * 0.7               # 70 %: between idle (55 %) and full
    assert s.idle_utilisation < occupied[row].sum() / cap < s.full_utilisation
    f.markup[row] = s.markup_floor
    f.update_prices(occupied, np.zeros(f.n))
    assert f.markup[row] == pytest.approx(s.markup_floor + s.markup_step)
    f.markup[row] = s.initial_markup + 0.005
    f.update_prices(occupied, np.zeros(f.n))
    assert f.markup[row] == pytest.approx(s.initial_markup)


def test_a_dc_losing_money_for_years_changes_hands_and_keeps_running(model):
    f = model.fleet
    row = int(np.flatnonzero(f.operating)[0])
    f.loss_months[row] = model.config.supply.exit_loss_months
    f.cash[row] = -1e9
    retired = f.construct_and_retire(model.month)
    assert row not in retired
    assert f.status[row] == OPERATING and f.loss_months[row] == 0 and f.cash[row] == 0.0


def test_rack_target_builders_start_in_the_first_plan_year(short_config):
    m = EDWCModel(short_config)
    m.step()                                             # February 2022
    f = m.fleet
    state = [k.name for k in short_config.supply.operator_kinds].index("state")
    started = (f.built_month == m.month) & (f.kind == state)
    ningxia = short_config.geography.names.index("ningxia")
    assert f.cap_mw[started & (f.node == ningxia)].sum() > 100.0   # MW toward 720 k racks
