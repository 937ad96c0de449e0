"""Policy levers of the interactive explorer, as Hydra overrides on top of a scenario.

Every lever but the demand-growth multiplier offers the choice ``scenario``: keep what the
chosen scenario configures (including its dated schedules). Any other choice replaces the
scenario's setting with one value held over the whole run (from ``run.start``). The
overrides are ordinary Hydra override strings, so a run tried in the explorer is re-run with
``make run ARGS="<overrides>"`` and swept with the same keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from model.paths import CONF_DIR
from model.schema import ConfigError

SCENARIO = "scenario"   # the choice "keep the scenario's own setting"

# Pools used when a lever switches an instrument on where the scenario has no budget for it.
FALLBACK_VOUCHER_BUDGET_RMB = 5.0e8    # per node per year: Shenzhen's pool, RMB 500 m [A/B]
FALLBACK_DISCOUNT_BUDGET_RMB = 5.0e8   # per node per year: western discount pools in edwc [B/C]

VOUCHER_RATES = ["0", "0.1", "0.2", "0.3", "0.5"]          # share of the compute bill
VOUCHER_SCOPES = ["local", "any", "west"]                   # where a voucher may be spent
POWER_DISCOUNTS = ["0", "0.1", "0.2", "0.3", "0.5"]         # share of the DC tariff, west
PUE_CAPS_EAST = ["1.15", "1.2", "1.25", "1.3", "1.4", "1.5"]   # design PUE cap, new east DCs
PUE_CAPS_WEST = ["1.1", "1.15", "1.2", "1.25", "1.3", "1.4"]   # design PUE cap, new west DCs
GREEN_MANDATES = ["0", "0.5", "0.8", "1"]                   # green share required, new hub DCs
CARBON_PRICES = ["0", "50", "100", "200", "400"]            # RMB/tCO2
ROUTE_FACTORS = ["2.0", "1.8", "1.65", "1.5", "1.3", "1.2"]  # fibre km / great-circle km
UHV_CHOICES = ["on", "off"]                                 # every UHV line in the geography


def scenario_names(conf_dir: Path = CONF_DIR) -> list[str]:
    """Names of the scenarios in ``conf/scenario/``, ``edwc`` first."""
    names = sorted(p.stem for p in (conf_dir / "scenario").glob("*.yaml"))
    return sorted(names, key=lambda n: n != "edwc")


def _select(label: str, choices: list[str]) -> dict[str, Any]:
    return {"type": "Select", "value": SCENARIO, "values": [SCENARIO, *choices], "label": label}


def explorer_params() -> dict[str, dict[str, Any]]:
    """Mesa ``model_params`` for SolaraViz: one input per lever, keyed as the model's kwargs."""
    return {
        "scenario": {"type": "Select", "value": "edwc", "values": scenario_names(),
                     "label": "Scenario"},
        "voucher_rate": _select("Compute voucher rate (share of bill)", VOUCHER_RATES),
        "voucher_scope": _select("Voucher scope (where it may be spent)", VOUCHER_SCOPES),
        "west_power_discount": _select("Western DC power discount", POWER_DISCOUNTS),
        "pue_cap_east": _select("PUE cap, new DCs east/central", PUE_CAPS_EAST),
        "pue_cap_west": _select("PUE cap, new DCs west", PUE_CAPS_WEST),
        "green_mandate": _select("Green-power mandate, new hub DCs", GREEN_MANDATES),
        "carbon_price": _select("Carbon price (RMB/tCO2)", CARBON_PRICES),
        "route_factor": _select("Backbone route factor", ROUTE_FACTORS),
        "uhv_lines": _select("UHV lines", UHV_CHOICES),
        "intelligent_growth": {"type": "SliderFloat", "value": 1.0, "min": 0.5, "max": 2.0,
                               "step": 0.1, "label": "Intelligent-compute growth (x scenario)"},
        "seed": {"type": "InputText", "value": "42", "label": "Seed"},
    }


def _schedule(start: str, value: float) -> str:
    """A one-entry schedule in Hydra override syntax: ``value`` from ``start`` on."""
    return f'[{{from:"{start}",value:{value}}}]'


def _instrument(cfg: DictConfig, node: str, name: str) -> Mapping[str, Any]:
    """A node's instrument as the scenario configures it (node entry over the defaults)."""
    local = cfg.policy.local
    merged = dict(OmegaConf.to_container(local.defaults[name], resolve=True))
    node_cfg = (local.get("nodes") or {}).get(node) or {}
    if name in node_cfg:
        merged.update(OmegaConf.to_container(node_cfg[name], resolve=True))
    return merged


def _roles(cfg: DictConfig) -> dict[str, str]:
    return {name: node.role for name, node in cfg.geography.nodes.items()}


def voucher_nodes(cfg: DictConfig) -> list[str]:
    """Nodes whose governments issue vouchers in the scenario, else the eastern nodes."""
    issuing = [n for n in _roles(cfg) if float(_instrument(cfg, n, "voucher")["budget_rmb"]) > 0]
    return issuing or [n for n, role in _roles(cfg).items() if role == "east"]


def _voucher_overrides(cfg: DictConfig, rate: str, scope: str) -> list[str]:
    out: list[str] = []
    start = cfg.run.start
    for node in voucher_nodes(cfg):
        key = f"++policy.local.nodes.{node}.voucher"
        if rate != SCENARIO:
            budget = float(_instrument(cfg, node, "voucher")["budget_rmb"])
            out += [f"{key}.rate={float(rate)}", f"{key}.max_rate={float(rate)}",
                    f'{key}.start="{start}"',
                    f"{key}.budget_rmb={budget or FALLBACK_VOUCHER_BUDGET_RMB}"]
        if scope != SCENARIO:
            out.append(f"{key}.scope={scope}")
    return out


def _discount_overrides(cfg: DictConfig, rate: str) -> list[str]:
    if rate == SCENARIO:
        return []
    out: list[str] = []
    for node in (n for n, role in _roles(cfg).items() if role == "west"):
        key = f"++policy.local.nodes.{node}.power_discount"
        budget = float(_instrument(cfg, node, "power_discount")["budget_rmb"])
        out += [f"{key}.rate={float(rate)}", f"{key}.max_rate={float(rate)}",
                f'{key}.start="{cfg.run.start}"',
                f"{key}.budget_rmb={budget or FALLBACK_DISCOUNT_BUDGET_RMB}"]
    return out


def _growth_overrides(cfg: DictConfig, factor: float) -> list[str]:
    if abs(float(factor) - 1.0) < 1e-9:
        return []
    entries = ",".join(
        f'{{from:"{e["from"]}",value:{round(float(e["value"]) * float(factor), 6)}}}'
        for e in cfg.demand.growth.intelligent)
    return [f"demand.growth.intelligent=[{entries}]"]


def lever_overrides(
    cfg: DictConfig,
    *,
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
) -> list[str]:
    """Hydra overrides that apply the levers to ``cfg`` (the scenario's composed config).
    A choice that is not one of the lever's (e.g. ``uhv_lines="maybe"``) is a ConfigError."""
    params = explorer_params()
    for name, choice in (("voucher_rate", voucher_rate), ("voucher_scope", voucher_scope),
                         ("west_power_discount", west_power_discount),
                         ("pue_cap_east", pue_cap_east), ("pue_cap_west", pue_cap_west),
                         ("green_mandate", green_mandate), ("carbon_price", carbon_price),
                         ("route_factor", route_factor), ("uhv_lines", uhv_lines)):
        if choice not in params[name]["values"]:
            raise ConfigError(name, choice, f"must be one of {', '.join(params[name]['values'])}")
    lo, hi = params["intelligent_growth"]["min"], params["intelligent_growth"]["max"]
    if isinstance(intelligent_growth, bool) or not isinstance(intelligent_growth, (int, float)) \
            or not lo <= float(intelligent_growth) <= hi:
        raise ConfigError("intelligent_growth", intelligent_growth, f"must be in [{lo}, {hi}]")
    start = cfg.run.start
    national = {
        "pue_cap_new_east": pue_cap_east,
        "pue_cap_new_west": pue_cap_west,
        "green_mandate_new_hub": green_mandate,
        "carbon_price_rmb_per_t": carbon_price,
        "route_factor": route_factor,
    }
    out = [f"policy.national.{key}={_schedule(start, float(choice))}"
           for key, choice in national.items() if choice != SCENARIO]
    out += _voucher_overrides(cfg, voucher_rate, voucher_scope)
    out += _discount_overrides(cfg, west_power_discount)
    if uhv_lines != SCENARIO:
        enabled = "true" if uhv_lines == "on" else "false"
        out += [f"geography.uhv_lines.{name}.enabled={enabled}" for name in cfg.geography.uhv_lines]
    out += _growth_overrides(cfg, intelligent_growth)
    return out
