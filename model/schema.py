"""Typed, validated configuration: the single gate between YAML and the model.

`validate(cfg)` turns a composed Hydra config into frozen dataclasses, checking every field's
type and range. Any problem raises `ConfigError`, whose message is one line naming the config
key and the bad value, before anything is run or written.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from omegaconf import DictConfig, OmegaConf

from model.constants import COMPUTE_TYPES, LATENCY_CLASSES, OPERATOR_KINDS, ROLES, VOUCHER_SCOPES

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
INSTANTIATION_KEYS = frozenset({"_target_", "_partial_", "_args_", "_recursive_", "_convert_"})
SECTIONS = ("run", "geography", "demand", "supply", "grid", "policy", "scenario")
# Upper bounds on magnitudes: far above any real value (China's whole power system is ~3 TW;
# its DC load ~10 GW), low enough that sums, squares and casts stay finite and exact.
MAX_MW = 1e7                    # 10 TW: loads, capacities, headroom, pipelines
MAX_ENTERPRISES = 100_000_000   # agent counts (the memory estimate refuses far fewer)
MAX_DATACENTERS = 1_000_000


class ConfigError(ValueError):
    """A bad config value: names the dotted key and the value in a one-line message."""

    def __init__(self, key: str, value: Any, reason: str) -> None:
        self.key, self.value, self.reason = key, value, reason
        shown = repr(value) if isinstance(value, str) else str(value)
        super().__init__(f"config error: {key} = {shown}: {reason}")


# ---------------------------------------------------------------- primitive checks


def _get(d: Mapping, key: str, path: str) -> Any:
    if not isinstance(d, Mapping):
        raise ConfigError(path, d, "must be a mapping")
    if key not in d:
        raise ConfigError(f"{path}.{key}" if path else key, None, "is missing")
    return d[key]


def _number(value: Any, key: str, lo: float = -math.inf, hi: float = math.inf,
            lo_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(key, value, "must be a number")
    v = float(value)
    if math.isnan(v):
        raise ConfigError(key, value, "must not be NaN")
    if v < lo or (lo_open and v == lo):
        bound = f"> {lo:g}" if lo_open else f">= {lo:g}"
        raise ConfigError(key, value, f"must be {bound}")
    if v > hi:
        raise ConfigError(key, value, f"must be <= {hi:g}")
    return v


def _finite(value: Any, key: str, lo: float = 0.0, hi: float = math.inf,
            lo_open: bool = False) -> float:
    v = _number(value, key, lo, hi, lo_open)
    if math.isinf(v):
        raise ConfigError(key, value, "must be finite")
    return v


def _share(value: Any, key: str) -> float:
    return _finite(value, key, 0.0, 1.0)


def _int(value: Any, key: str, lo: int = 0, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(key, value, "must be a whole number")
    if value < lo:
        raise ConfigError(key, value, f"must be >= {lo}")
    if hi is not None and value > hi:
        raise ConfigError(key, value, f"must be <= {hi}")
    return value


PROJECT_STARTS = ("wait", "random", "carry")   # supply.project_starts
SHORT_OF_ROOM = ("wait", "retender")             # demand.short_of_room


def _bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(key, value, "must be true or false")
    return value


def _str(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(key, value, "must be a non-empty string")
    return value


def _choice(value: Any, key: str, options: Sequence[str]) -> str:
    if value not in options:
        raise ConfigError(key, value, f"must be one of {', '.join(options)}")
    return value


def parse_month(value: Any, key: str) -> int:
    """'YYYY-MM' -> months since year 0 (year*12 + month-1)."""
    if not isinstance(value, str) or not _MONTH.match(value):
        raise ConfigError(key, value, "must be a month 'YYYY-MM'")
    year, month = (int(x) for x in value.split("-"))
    if not 1 <= month <= 12 or not 1900 <= year <= 2200:
        raise ConfigError(key, value, "must be a real month 'YYYY-MM' (1900-2200)")
    return year * 12 + month - 1


def month_label(index: int) -> str:
    """Months since year 0 -> 'YYYY-MM'."""
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _mapping(value: Any, key: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise ConfigError(key, value, "must be a mapping")
    return value


def _known(d: Mapping, key: str, fields: set[str] | frozenset[str]) -> None:
    """Refuse keys a section does not define (a typo would otherwise be silently ignored)."""
    for field in d:
        if field not in fields:
            raise ConfigError(f"{key}.{field}" if key else str(field), d[field], "unknown key")


def _fields(cls: type, drop: Sequence[str] = (), add: Sequence[str] = ()) -> frozenset[str]:
    """The config keys of a section: its dataclass fields, less derived ones, plus extras."""
    return frozenset({f.name for f in fields(cls)} - set(drop) | set(add))


def _no_instantiation(value: Any, key: str = "") -> None:
    """Refuse Hydra instantiation keys anywhere: config never names code to import or call."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            sub = f"{key}.{k}" if key else str(k)
            if k in INSTANTIATION_KEYS:
                raise ConfigError(sub, v, "instantiation keys are not allowed in model config")
            _no_instantiation(v, sub)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        for i, v in enumerate(value):
            _no_instantiation(v, f"{key}[{i}]")


def _shares_sum_one(values: Mapping[str, float], key: str) -> None:
    total = sum(values.values())
    if abs(total - 1.0) > 1e-6:
        raise ConfigError(key, round(total, 6), "shares must sum to 1")


# ---------------------------------------------------------------- dataclasses


@dataclass(frozen=True)
class Schedule:
    """A dated step function: value of `values[i]` from month index `months[i]` on."""

    months: tuple[int, ...]
    values: tuple[float, ...]

    def at(self, month: int) -> float:
        value = self.values[0]
        for m, v in zip(self.months, self.values, strict=True):
            if m <= month:
                value = v
            else:
                break
        return value


def _schedule(value: Any, key: str, lo: float = 0.0, hi: float = math.inf) -> Schedule:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) == 0:
        raise ConfigError(key, value, "must be a non-empty list of {from: YYYY-MM, value: x}")
    months, values = [], []
    for i, item in enumerate(value):
        k = f"{key}[{i}]"
        item = _mapping(item, k)
        _known(item, k, {"from", "value"})
        months.append(parse_month(_get(item, "from", k), f"{k}.from"))
        values.append(_finite(_get(item, "value", k), f"{k}.value", lo, hi))
    if any(b <= a for a, b in zip(months, months[1:], strict=False)):
        raise ConfigError(f"{key}[].from", [month_label(m) for m in months],
                          "dates must be strictly increasing")
    return Schedule(tuple(months), tuple(values))


@dataclass(frozen=True)
class Node:
    name: str
    lat: float
    lon: float
    role: str
    grid_ef_2022: float
    ef_decline: float
    dc_power_price: float
    best_pue: float
    land_rmb_per_kw: float
    curtailment_twh: float
    grid_twh: float
    dc_headroom_mw: float
    energy_quota_twh: float


@dataclass(frozen=True)
class UHVLine:
    name: str
    enabled: bool
    source: str
    sink: str
    gw: float
    start: int
    loss: float
    tariff_rmb_per_kwh: float
    utilisation: float
    ef: float
    sending_price: float
    capex_rmb_per_gw: float
    life_years: float


@dataclass(frozen=True)
class Geography:
    nodes: tuple[Node, ...]
    fibre_km_per_ms: float
    base_ms: float
    latency_limits_ms: tuple[float, float, float]
    lines: tuple[UHVLine, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.nodes)


@dataclass(frozen=True)
class Sector:
    name: str
    share: float
    intelligent: float
    latency: tuple[float, float, float]
    growth_multiplier: float
    residency: float
    green_preference: float
    risk_aversion: float
    price_sensitivity: float
    data_intensity: float


@dataclass(frozen=True)
class Demand:
    n_enterprises: int
    initial_load_mw: float
    size_sigma: float
    split_share: float
    contract_months: float
    short_of_room: str
    logit_scale_rmb: float
    price_sensitivity_sigma: float
    preference_spread: tuple[float, float]
    migration_cost_rmb_per_kw: float
    latency_penalty_rmb_per_ms: float
    batch_latency_penalty_rmb_per_ms: float
    distance_risk_rmb_per_1000km: float
    green_value_rmb: float
    origin_shares: tuple[float, ...]
    growth_general: Schedule
    growth_intelligent: Schedule
    sectors: tuple[Sector, ...]


@dataclass(frozen=True)
class OperatorKind:
    name: str
    share: float
    hurdle_rate: float


@dataclass(frozen=True)
class Supply:
    n_datacenters: int
    initial_size_sigma: float
    initial_max_age_years: float
    initial_fill_slack: float
    rack_kw: float
    initial_capacity_mw: float
    capacity_shares: tuple[float, ...]
    initial_utilisation: tuple[float, ...]
    intelligent_capacity_share: float
    initial_intelligent_spread: tuple[float, float]
    operator_kinds: tuple[OperatorKind, ...]
    capex_rmb_per_kw: float
    capex_intelligent_multiplier: float
    om_rmb_per_kw_month: float
    life_years: float
    build_lag_months: tuple[int, int]
    build_lag_months_intelligent: tuple[int, int]
    initial_markup: float
    markup_step: float
    markup_floor: float
    markup_cap: float
    full_utilisation: float
    idle_utilisation: float
    price_normal_utilisation: float
    price_capital_rate: float
    expectation_alpha: float
    optimism: float
    ai_wave_optimism: float
    ai_wave: tuple[int, int]
    max_expected_utilisation: float
    initial_growth_expectation: tuple[float, float]
    min_expected_growth: float
    local_growth_clip: tuple[float, float]
    new_intelligent_share_multiplier: float
    new_intelligent_share_range: tuple[float, float]
    quota_load_factor: float
    quota_spill_share: float
    growth_reserve: float
    planning_utilisation: float
    build_response: float
    project_starts: str
    small_gap_response: float
    build_decision_spread: float
    project_size: tuple[float, float]
    initial_pue_excess: tuple[float, float]
    pipeline_pue_cap: float
    pue_tech_gain: float
    pue_fixed_overhead_share: float
    pue_floor: float
    retrofit_rmb_per_kw_per_0_1: float
    retrofit_pue_margin: float
    retrofit_payback_years: float
    retrofit_months: float
    pue_cap_extra_capex_per_0_01: float
    exit_loss_months: int
    flops_per_watt: tuple[float, float]
    flops_gain: float
    rack_target_follow: float
    state_exempt_from_floor: bool
    voluntary_green_share: float
    voluntary_green_growth: float
    initial_pipeline: tuple[tuple[int, float, tuple[float, ...]], ...]   # (year, MW, node shares)


@dataclass(frozen=True)
class Grid:
    scarcity_adder_share: float
    scarcity_start: float
    headroom_growth: float
    curtailment_overlap: float
    curtailment_decline: float
    green_premium_rmb_per_kwh: tuple[float, float, float]  # east, central, west
    green_supply_share: float
    green_supply_growth: float
    green_response: float


@dataclass(frozen=True)
class National:
    hubs: tuple[str, ...]
    non_hub_approval: Schedule
    pue_cap_new_east: Schedule
    pue_cap_new_west: Schedule
    pue_cap_new_nonhub: Schedule
    pue_cap_existing: Schedule
    pue_surcharge_rmb_per_kwh: float
    utilisation_floor: Schedule
    green_mandate_new_hub: Schedule
    route_factor: Schedule
    transfer_rmb_per_kw_month_1000km: Schedule
    dispatch_risk_reduction: Schedule
    carbon_price_rmb_per_t: Schedule
    hub_new_share_target: float


@dataclass(frozen=True)
class Instrument:
    rate: float
    max_rate: float
    budget_rmb: float
    start: int
    scope: str = "local"
    compute_types: tuple[str, ...] = COMPUTE_TYPES


@dataclass(frozen=True)
class Local:
    node: str
    voucher: Instrument
    power_discount: Instrument
    capex_subsidy: Instrument
    rack_target: tuple[tuple[int, float], ...]   # (year, racks)
    target_utilisation: float
    adapt_step: float


@dataclass(frozen=True)
class Policy:
    national: National
    local: tuple[Local, ...]   # one per node, in node order


@dataclass(frozen=True)
class Run:
    start: int
    end: int
    seed: int
    out_dir: str
    quiet: bool
    max_memory_mb: float
    allow_outside_root: bool = False   # run.out_dir may lie outside the project folder

    @property
    def n_months(self) -> int:
        return self.end - self.start + 1


@dataclass(frozen=True)
class ModelConfig:
    run: Run
    geography: Geography
    demand: Demand
    supply: Supply
    grid: Grid
    policy: Policy
    scenario: str


# ---------------------------------------------------------------- section validators


def _geography(g: Mapping) -> Geography:
    _known(g, "geography", {"nodes", "latency", "uhv_lines"})
    nodes_raw = _mapping(_get(g, "nodes", "geography"), "geography.nodes")
    if len(nodes_raw) < 2:
        raise ConfigError("geography.nodes", len(nodes_raw), "needs at least 2 nodes")
    nodes = []
    for name, nd in nodes_raw.items():
        k = f"geography.nodes.{name}"
        nd = _mapping(nd, k)
        _known(nd, k, _fields(Node, drop=["name"], add=["cluster"]))   # cluster: a label

        def f(field: str, lo: float = 0.0, hi: float = math.inf, _nd=nd, _k=k) -> float:
            return _finite(_get(_nd, field, _k), f"{_k}.{field}", lo, hi)

        nodes.append(Node(
            name=str(name), lat=f("lat", -90, 90), lon=f("lon", -180, 180),
            role=_choice(_get(nd, "role", k), f"{k}.role", ROLES),
            grid_ef_2022=f("grid_ef_2022", 0, 2), ef_decline=f("ef_decline", 0, 1),
            dc_power_price=f("dc_power_price", 0, 10), best_pue=f("best_pue", 1.0, 3.0),
            land_rmb_per_kw=f("land_rmb_per_kw"), curtailment_twh=f("curtailment_twh"),
            grid_twh=f("grid_twh", 0, math.inf), dc_headroom_mw=f("dc_headroom_mw", 0, MAX_MW),
            energy_quota_twh=f("energy_quota_twh"),
        ))
    names = {n.name for n in nodes}
    lat = _mapping(_get(g, "latency", "geography"), "geography.latency")
    _known(lat, "geography.latency", {"fibre_km_per_ms", "base_ms", "classes"})
    classes = _mapping(_get(lat, "classes", "geography.latency"), "geography.latency.classes")
    for cls in classes:
        _choice(cls, "geography.latency.classes", LATENCY_CLASSES)
    # realtime and interactive limits are finite; batch may be .inf (no limit, the default)
    limits = tuple((_number if c == "batch" else _finite)(
        _get(classes, c, "geography.latency.classes"), f"geography.latency.classes.{c}", 0.0,
        lo_open=True) for c in LATENCY_CLASSES)
    for tighter, looser, a, b in zip(LATENCY_CLASSES, LATENCY_CLASSES[1:], limits, limits[1:],
                                     strict=False):
        if b < a:
            raise ConfigError(f"geography.latency.classes.{looser}", b,
                              f"must be >= the {tighter} limit ({a:g} ms)")
    lines = []
    for name, ln in _mapping(g.get("uhv_lines") or {}, "geography.uhv_lines").items():
        k = f"geography.uhv_lines.{name}"
        ln = _mapping(ln, k)
        _known(ln, k, _fields(UHVLine, drop=["name", "source", "sink"], add=["from", "to"]))
        src, dst = _get(ln, "from", k), _get(ln, "to", k)
        for key, node in (("from", src), ("to", dst)):
            if node not in names:
                raise ConfigError(f"{k}.{key}", node, "is not a node in geography.nodes")
        if src == dst:
            raise ConfigError(f"{k}.to", dst, "must differ from its 'from' node")
        lines.append(UHVLine(
            name=str(name), enabled=_bool(ln.get("enabled", True), f"{k}.enabled"),
            source=src, sink=dst, gw=_finite(_get(ln, "gw", k), f"{k}.gw", 0, MAX_MW / 1e3),
            start=parse_month(_get(ln, "start", k), f"{k}.start"),
            loss=_finite(_get(ln, "loss", k), f"{k}.loss", 0, 0.5),
            tariff_rmb_per_kwh=_finite(_get(ln, "tariff_rmb_per_kwh", k),
                                       f"{k}.tariff_rmb_per_kwh", 0, 10),
            utilisation=_share(_get(ln, "utilisation", k), f"{k}.utilisation"),
            ef=_finite(_get(ln, "ef", k), f"{k}.ef", 0, 2),
            sending_price=_finite(_get(ln, "sending_price", k), f"{k}.sending_price", 0, 10),
            capex_rmb_per_gw=_finite(_get(ln, "capex_rmb_per_gw", k), f"{k}.capex_rmb_per_gw",
                                     0, 1e12),
            life_years=_finite(_get(ln, "life_years", k), f"{k}.life_years", 0, 100,
                               lo_open=True),
        ))
    return Geography(
        nodes=tuple(nodes),
        fibre_km_per_ms=_finite(_get(lat, "fibre_km_per_ms", "geography.latency"),
                                "geography.latency.fibre_km_per_ms", 0, lo_open=True),
        base_ms=_finite(_get(lat, "base_ms", "geography.latency"), "geography.latency.base_ms"),
        latency_limits_ms=limits,  # type: ignore[arg-type]
        lines=tuple(lines),
    )


def _node_vector(d: Any, key: str, names: Sequence[str], check, fill: float | None = None
                 ) -> tuple[float, ...]:
    d = _mapping(d, key)
    for name in d:
        if name not in names:
            raise ConfigError(f"{key}.{name}", d[name], "unknown node (not in geography.nodes)")
    out = []
    for name in names:
        if name not in d:
            if fill is None:
                raise ConfigError(f"{key}.{name}", None, "is missing")
            out.append(fill)
        else:
            out.append(check(d[name], f"{key}.{name}"))
    return tuple(out)


def _month_pair(value: Any, key: str) -> tuple[int, int]:
    """['YYYY-MM', 'YYYY-MM'] -> (first month, end month), end not before first."""
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise ConfigError(key, value, "must be a ['YYYY-MM', 'YYYY-MM'] pair")
    a, b = (parse_month(v, f"{key}[{i}]") for i, v in enumerate(value))
    if b < a:
        raise ConfigError(key, list(value), "end must not be before start")
    return (a, b)


def _pair(value: Any, key: str, lo: float = 0.0, integer: bool = False) -> tuple:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise ConfigError(key, value, "must be a [low, high] pair")
    a, b = ((_int(v, f"{key}[{i}]", int(lo)) if integer else _finite(v, f"{key}[{i}]", lo))
            for i, v in enumerate(value))
    if b < a:
        raise ConfigError(key, list(value), "high must be >= low")
    return (a, b)


def _demand(d: Mapping, names: Sequence[str]) -> Demand:
    k = "demand"
    _known(d, k, _fields(Demand, drop=["growth_general", "growth_intelligent"],
                         add=["growth"]))

    def f(field: str, lo: float = 0.0, hi: float = math.inf, lo_open: bool = False) -> float:
        return _finite(_get(d, field, k), f"{k}.{field}", lo, hi, lo_open)

    origin = _node_vector(_get(d, "origin_shares", k), "demand.origin_shares", names, _share, 0.0)
    _shares_sum_one(dict(zip(names, origin, strict=True)), "demand.origin_shares")
    growth = _mapping(_get(d, "growth", k), "demand.growth")
    for ct in growth:
        _choice(ct, "demand.growth", COMPUTE_TYPES)
    sectors = []
    for name, s in _mapping(_get(d, "sectors", k), "demand.sectors").items():
        sk = f"demand.sectors.{name}"
        s = _mapping(s, sk)
        _known(s, sk, _fields(Sector, drop=["name"]))
        lat = _get(s, "latency", sk)
        if not isinstance(lat, Sequence) or isinstance(lat, str) or len(lat) != 3:
            raise ConfigError(f"{sk}.latency", lat,
                              "must be 3 shares: realtime, interactive, batch")
        lat_t = tuple(_share(v, f"{sk}.latency[{i}]") for i, v in enumerate(lat))
        if abs(sum(lat_t) - 1) > 1e-6:
            raise ConfigError(f"{sk}.latency", list(lat), "shares must sum to 1")

        def sf(field: str, lo: float = 0.0, hi: float = 1.0, _s=s, _sk=sk) -> float:
            return _finite(_get(_s, field, _sk), f"{_sk}.{field}", lo, hi)

        sectors.append(Sector(
            name=str(name), share=sf("share"), intelligent=sf("intelligent"), latency=lat_t,
            growth_multiplier=sf("growth_multiplier", 0, 10), residency=sf("residency"),
            green_preference=sf("green_preference"), risk_aversion=sf("risk_aversion"),
            price_sensitivity=sf("price_sensitivity", 0, 10),
            data_intensity=sf("data_intensity", 0, 10),
        ))
    if not sectors:
        raise ConfigError("demand.sectors", {}, "needs at least one sector")
    _shares_sum_one({s.name: s.share for s in sectors}, "demand.sectors.*.share")
    return Demand(
        n_enterprises=_int(_get(d, "n_enterprises", k), "demand.n_enterprises", 1,
                           MAX_ENTERPRISES),
        initial_load_mw=f("initial_load_mw", 0, MAX_MW, lo_open=True),
        size_sigma=f("size_sigma", 0, 5),
        split_share=f("split_share", 0, 10, lo_open=True),
        contract_months=f("contract_months", 1, 600),
        short_of_room=_choice(_get(d, "short_of_room", k), "demand.short_of_room",
                              SHORT_OF_ROOM),
        logit_scale_rmb=f("logit_scale_rmb", 0, lo_open=True),
        price_sensitivity_sigma=f("price_sensitivity_sigma", 0, 5),
        preference_spread=_pair(_get(d, "preference_spread", k), "demand.preference_spread"),
        migration_cost_rmb_per_kw=f("migration_cost_rmb_per_kw"),
        latency_penalty_rmb_per_ms=f("latency_penalty_rmb_per_ms"),
        batch_latency_penalty_rmb_per_ms=f("batch_latency_penalty_rmb_per_ms"),
        distance_risk_rmb_per_1000km=f("distance_risk_rmb_per_1000km"),
        green_value_rmb=f("green_value_rmb"),
        origin_shares=origin,
        growth_general=_schedule(_get(growth, "general", "demand.growth"),
                                 "demand.growth.general", -0.5, 5.0),
        growth_intelligent=_schedule(_get(growth, "intelligent", "demand.growth"),
                                     "demand.growth.intelligent", -0.5, 5.0),
        sectors=tuple(sectors),
    )


def _supply(s: Mapping, names: Sequence[str]) -> Supply:
    k = "supply"
    _known(s, k, _fields(Supply))

    def f(field: str, lo: float = 0.0, hi: float = math.inf, lo_open: bool = False) -> float:
        return _finite(_get(s, field, k), f"{k}.{field}", lo, hi, lo_open)

    shares = _node_vector(_get(s, "capacity_shares", k), "supply.capacity_shares", names,
                          _share, 0.0)
    _shares_sum_one(dict(zip(names, shares, strict=True)), "supply.capacity_shares")
    util = _node_vector(_get(s, "initial_utilisation", k), "supply.initial_utilisation", names,
                        _share)
    kinds = []
    for name, kd in _mapping(_get(s, "operator_kinds", k), "supply.operator_kinds").items():
        kk = f"supply.operator_kinds.{name}"
        _choice(name, "supply.operator_kinds", OPERATOR_KINDS)
        kd = _mapping(kd, kk)
        _known(kd, kk, {"share", "hurdle_rate"})
        kinds.append(OperatorKind(str(name), _share(_get(kd, "share", kk), f"{kk}.share"),
                                  _finite(_get(kd, "hurdle_rate", kk), f"{kk}.hurdle_rate", 0, 1)))
    if not kinds:
        raise ConfigError("supply.operator_kinds", {}, "needs at least one operator kind")
    _shares_sum_one({o.name: o.share for o in kinds}, "supply.operator_kinds.*.share")
    fpw = _mapping(_get(s, "flops_per_watt", k), "supply.flops_per_watt")
    _known(fpw, "supply.flops_per_watt", set(COMPUTE_TYPES))
    prior = _mapping(_get(s, "initial_growth_expectation", k), "supply.initial_growth_expectation")
    _known(prior, "supply.initial_growth_expectation", set(COMPUTE_TYPES))
    clip = _pair(_get(s, "local_growth_clip", k), "supply.local_growth_clip")
    if clip[0] <= 0:   # a zero ratio would plan no capacity at a node at all
        raise ConfigError("supply.local_growth_clip[0]", clip[0], "must be > 0")
    share_range = _pair(_get(s, "new_intelligent_share_range", k),
                        "supply.new_intelligent_share_range")
    if share_range[1] > 1:
        raise ConfigError("supply.new_intelligent_share_range[1]", share_range[1], "must be <= 1")
    lag = _pair(_get(s, "build_lag_months", k), "supply.build_lag_months", 1, integer=True)
    lag_ai = _pair(_get(s, "build_lag_months_intelligent", k),
                   "supply.build_lag_months_intelligent", 1, integer=True)
    idle, full = f("idle_utilisation", 0, 1), f("full_utilisation", 0, 1)
    project_size = _pair(_get(s, "project_size", k), "supply.project_size")
    if project_size[0] <= 0:   # zero-size projects would never close a capacity gap
        raise ConfigError("supply.project_size[0]", project_size[0], "must be > 0")
    if idle >= full:
        raise ConfigError("supply.idle_utilisation", idle, "must be below supply.full_utilisation")
    markup_cap = f("markup_cap", -1, 100)
    if markup_cap < f("markup_floor", -1, 10):
        raise ConfigError("supply.markup_cap", markup_cap, "must be >= supply.markup_floor")
    return Supply(
        n_datacenters=_int(_get(s, "n_datacenters", k), "supply.n_datacenters", 1,
                           MAX_DATACENTERS),
        initial_size_sigma=f("initial_size_sigma", 0, 5),
        initial_max_age_years=f("initial_max_age_years", 0, 100),
        initial_fill_slack=f("initial_fill_slack", 1, 2),
        rack_kw=f("rack_kw", 0, lo_open=True),
        initial_capacity_mw=f("initial_capacity_mw", 0, MAX_MW, lo_open=True),
        capacity_shares=shares, initial_utilisation=util,
        intelligent_capacity_share=f("intelligent_capacity_share", 0, 1),
        initial_intelligent_spread=_pair(_get(s, "initial_intelligent_spread", k),
                                         "supply.initial_intelligent_spread"),
        operator_kinds=tuple(kinds),
        capex_rmb_per_kw=f("capex_rmb_per_kw"),
        capex_intelligent_multiplier=f("capex_intelligent_multiplier", 0, 10),
        om_rmb_per_kw_month=f("om_rmb_per_kw_month"),
        life_years=f("life_years", 1, 100),
        build_lag_months=lag,
        build_lag_months_intelligent=lag_ai,
        initial_markup=f("initial_markup", -1, 10),
        markup_step=f("markup_step", 0, 1),
        markup_floor=f("markup_floor", -1, 10),
        markup_cap=markup_cap,
        full_utilisation=full, idle_utilisation=idle,
        price_normal_utilisation=f("price_normal_utilisation", 0, 1, lo_open=True),
        price_capital_rate=f("price_capital_rate", 0, 1),
        expectation_alpha=f("expectation_alpha", 0, 1, lo_open=True),
        optimism=f("optimism", -1, 1),
        ai_wave_optimism=f("ai_wave_optimism", 0, 1),
        ai_wave=_month_pair(_get(s, "ai_wave", k), "supply.ai_wave"),
        max_expected_utilisation=f("max_expected_utilisation", 0, 1),
        initial_growth_expectation=tuple(
            _finite(_get(prior, c, "supply.initial_growth_expectation"),
                    f"supply.initial_growth_expectation.{c}", -1, 10)
            for c in COMPUTE_TYPES),  # type: ignore[arg-type]
        min_expected_growth=f("min_expected_growth", -1, 0),
        local_growth_clip=clip,
        new_intelligent_share_multiplier=f("new_intelligent_share_multiplier", 0, 10),
        new_intelligent_share_range=share_range,
        quota_load_factor=f("quota_load_factor", 0, 1),
        quota_spill_share=f("quota_spill_share", 0, 1),
        growth_reserve=f("growth_reserve", 0, 0.5),
        planning_utilisation=f("planning_utilisation", 0, 1, lo_open=True),
        build_response=f("build_response", 0, 1),
        project_starts=_choice(_get(s, "project_starts", k), "supply.project_starts",
                               PROJECT_STARTS),
        small_gap_response=f("small_gap_response", 0, 1),
        build_decision_spread=f("build_decision_spread", 0, 10),
        project_size=project_size,
        initial_pue_excess=_pair(_get(s, "initial_pue_excess", k), "supply.initial_pue_excess"),
        pipeline_pue_cap=f("pipeline_pue_cap", 1.0, 3.0),
        pue_tech_gain=f("pue_tech_gain", 0, 0.1),
        pue_fixed_overhead_share=f("pue_fixed_overhead_share", 0, 1),
        pue_floor=f("pue_floor", 1, 3),
        retrofit_rmb_per_kw_per_0_1=f("retrofit_rmb_per_kw_per_0_1"),
        retrofit_pue_margin=f("retrofit_pue_margin", 0, 1),
        retrofit_payback_years=f("retrofit_payback_years", 0, 100),
        retrofit_months=f("retrofit_months", 0, 120),
        pue_cap_extra_capex_per_0_01=f("pue_cap_extra_capex_per_0_01"),
        exit_loss_months=_int(_get(s, "exit_loss_months", k), "supply.exit_loss_months", 1),
        flops_per_watt=tuple(_finite(_get(fpw, c, "supply.flops_per_watt"),
                                     f"supply.flops_per_watt.{c}", 0, lo_open=True)
                             for c in COMPUTE_TYPES),  # type: ignore[arg-type]
        flops_gain=f("flops_gain", 0, 1),
        rack_target_follow=f("rack_target_follow", 0, 1),
        state_exempt_from_floor=_bool(_get(s, "state_exempt_from_floor", k),
                                      "supply.state_exempt_from_floor"),
        voluntary_green_share=f("voluntary_green_share", 0, 1),
        voluntary_green_growth=f("voluntary_green_growth", 0, 1),
        initial_pipeline=_pipeline(s.get("initial_pipeline") or [], names),
    )


def _pipeline(raw: Any, names: Sequence[str]) -> tuple:
    """Capacity under construction at the start: [(year, MW, node shares)]."""
    key = "supply.initial_pipeline"
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise ConfigError(key, raw, "must be a list of {year, mw, shares}")
    out = []
    for i, item in enumerate(raw):
        k = f"{key}[{i}]"
        item = _mapping(item, k)
        _known(item, k, {"year", "mw", "shares"})
        shares = _node_vector(_get(item, "shares", k), f"{k}.shares", names, _share, 0.0)
        _shares_sum_one(dict(zip(names, shares, strict=True)), f"{k}.shares")
        out.append((_int(_get(item, "year", k), f"{k}.year", 1900, 2200),
                    _finite(_get(item, "mw", k), f"{k}.mw", 0, MAX_MW), shares))
    return tuple(out)


def _grid(g: Mapping) -> Grid:
    k = "grid"

    def f(field: str, lo: float = 0.0, hi: float = math.inf) -> float:
        return _finite(_get(g, field, k), f"{k}.{field}", lo, hi)

    _known(g, k, _fields(Grid))
    prem = _mapping(_get(g, "green_premium_rmb_per_kwh", k), "grid.green_premium_rmb_per_kwh")
    _known(prem, "grid.green_premium_rmb_per_kwh", set(ROLES))
    return Grid(
        scarcity_adder_share=f("scarcity_adder_share", 0, 1),
        scarcity_start=f("scarcity_start", 0, 1),
        headroom_growth=f("headroom_growth", 0, 1),
        curtailment_overlap=f("curtailment_overlap", 0, 1),
        curtailment_decline=f("curtailment_decline", 0, 1),
        green_premium_rmb_per_kwh=tuple(
            _finite(_get(prem, r, "grid.green_premium_rmb_per_kwh"),
                    f"grid.green_premium_rmb_per_kwh.{r}", 0, 10) for r in ROLES),  # type: ignore
        green_supply_share=f("green_supply_share", 0, 1),
        green_supply_growth=f("green_supply_growth", 0, 2),
        green_response=f("green_response", 0, 10),
    )


def _instrument(raw: Mapping, key: str, with_scope: bool = False) -> Instrument:
    raw = _mapping(raw, key)
    known = {"rate", "max_rate", "budget_rmb", "start"} | (
        {"scope", "compute_types"} if with_scope else set())
    for field in raw:
        if field not in known:
            raise ConfigError(f"{key}.{field}", raw[field], "unknown field")
    rate = _share(_get(raw, "rate", key), f"{key}.rate")
    max_rate = _share(raw.get("max_rate", rate), f"{key}.max_rate")
    if max_rate < rate:
        raise ConfigError(f"{key}.max_rate", max_rate, f"must be >= rate ({rate:g})")
    extra: dict[str, Any] = {}
    if with_scope:
        extra["scope"] = _choice(raw.get("scope", "local"), f"{key}.scope", VOUCHER_SCOPES)
        types = raw.get("compute_types", list(COMPUTE_TYPES))
        if not isinstance(types, Sequence) or isinstance(types, str) or not types:
            raise ConfigError(f"{key}.compute_types", types, "must be a non-empty list")
        extra["compute_types"] = tuple(_choice(t, f"{key}.compute_types", COMPUTE_TYPES)
                                       for t in types)
    return Instrument(rate=rate, max_rate=max_rate,
                      budget_rmb=_finite(_get(raw, "budget_rmb", key), f"{key}.budget_rmb"),
                      start=parse_month(_get(raw, "start", key), f"{key}.start"), **extra)


def _merge(base: Mapping, over: Mapping) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _local(name: str, raw: Mapping, key: str) -> Local:
    """One node's local policy (defaults merged with the node's own settings)."""
    for field in raw:
        if field not in {"voucher", "power_discount", "capex_subsidy", "rack_target",
                         "target_utilisation", "adapt_step"}:
            raise ConfigError(f"{key}.{field}", raw[field], "unknown field")
    targets = []
    for year, racks in _mapping(raw.get("rack_target") or {}, f"{key}.rack_target").items():
        y = _int(int(year) if isinstance(year, str) and year.isdigit() else year,
                 f"{key}.rack_target", 1900, 2200)
        targets.append((y, _finite(racks, f"{key}.rack_target.{year}")))
    return Local(
        node=name,
        voucher=_instrument(_get(raw, "voucher", key), f"{key}.voucher", with_scope=True),
        power_discount=_instrument(_get(raw, "power_discount", key), f"{key}.power_discount"),
        capex_subsidy=_instrument(_get(raw, "capex_subsidy", key), f"{key}.capex_subsidy"),
        rack_target=tuple(sorted(targets)),
        target_utilisation=_share(_get(raw, "target_utilisation", key),
                                  f"{key}.target_utilisation"),
        adapt_step=_share(_get(raw, "adapt_step", key), f"{key}.adapt_step"),
    )


def _policy(p: Mapping, names: Sequence[str]) -> Policy:
    _known(p, "policy", {"national", "local"})
    n = _mapping(_get(p, "national", "policy"), "policy.national")
    k = "policy.national"
    _known(n, k, _fields(National))
    hubs = _get(n, "hubs", k)
    if not isinstance(hubs, Sequence) or isinstance(hubs, str):
        raise ConfigError(f"{k}.hubs", hubs, "must be a list of node names")
    for h in hubs:
        if h not in names:
            raise ConfigError(f"{k}.hubs", h, "unknown node (not in geography.nodes)")

    def sch(field: str, lo: float = 0.0, hi: float = math.inf) -> Schedule:
        return _schedule(_get(n, field, k), f"{k}.{field}", lo, hi)

    national = National(
        hubs=tuple(hubs),
        non_hub_approval=sch("non_hub_approval", 0, 1),
        pue_cap_new_east=sch("pue_cap_new_east", 1, 3),
        pue_cap_new_west=sch("pue_cap_new_west", 1, 3),
        pue_cap_new_nonhub=sch("pue_cap_new_nonhub", 1, 3),
        pue_cap_existing=sch("pue_cap_existing", 1, 5),
        pue_surcharge_rmb_per_kwh=_finite(_get(n, "pue_surcharge_rmb_per_kwh", k),
                                          f"{k}.pue_surcharge_rmb_per_kwh", 0, 10),
        utilisation_floor=sch("utilisation_floor", 0, 1),
        green_mandate_new_hub=sch("green_mandate_new_hub", 0, 1),
        route_factor=sch("route_factor", 1, 10),
        transfer_rmb_per_kw_month_1000km=sch("transfer_rmb_per_kw_month_1000km", 0),
        dispatch_risk_reduction=sch("dispatch_risk_reduction", 0, 1),
        carbon_price_rmb_per_t=sch("carbon_price_rmb_per_t", 0, 1e5),
        hub_new_share_target=_share(_get(n, "hub_new_share_target", k),
                                    f"{k}.hub_new_share_target"),
    )
    if len(set(hubs)) != len(hubs):
        raise ConfigError(f"{k}.hubs", list(hubs), "lists a node twice")
    loc = _mapping(_get(p, "local", "policy"), "policy.local")
    _known(loc, "policy.local", {"defaults", "nodes"})
    defaults = _mapping(_get(loc, "defaults", "policy.local"), "policy.local.defaults")
    per_node = _mapping(loc.get("nodes") or {}, "policy.local.nodes")
    for name in per_node:
        if name not in names:
            raise ConfigError(f"policy.local.nodes.{name}", name,
                              "unknown node (not in geography.nodes)")
    _local(names[0], defaults, "policy.local.defaults")   # defaults must be valid alone
    locals_ = []
    for name in names:
        raw = _merge(defaults, _mapping(per_node.get(name) or {}, f"policy.local.nodes.{name}"))
        key = f"policy.local.nodes.{name}" if name in per_node else "policy.local.defaults"
        locals_.append(_local(name, raw, key))
    return Policy(national=national, local=tuple(locals_))


def _out_dir(value: Any) -> str:
    """A run folder path; a relative one is taken from the current folder and must stay in it
    (absolute paths are checked by the command line, model.run.resolve_out_dir)."""
    out = _str(value, "run.out_dir")
    if "\0" in out:
        raise ConfigError("run.out_dir", out, "must not contain a NUL byte")
    if not os.path.isabs(out):
        norm = os.path.normpath(out)
        if norm == "." or norm == ".." or norm.startswith(".." + os.sep):
            raise ConfigError("run.out_dir", out, "must name a folder inside the project "
                              "(a relative path may not climb out with '..')")
    return out


def _run(r: Mapping) -> Run:
    _known(r, "run", _fields(Run))
    start = parse_month(_get(r, "start", "run"), "run.start")
    end = parse_month(_get(r, "end", "run"), "run.end")
    if end < start:
        raise ConfigError("run.end", month_label(end), f"must not be before run.start "
                          f"({month_label(start)})")
    out_dir = _out_dir(_get(r, "out_dir", "run"))
    return Run(start=start, end=end, seed=_int(_get(r, "seed", "run"), "run.seed", 0, 2**63 - 1),
               out_dir=out_dir, quiet=_bool(r.get("quiet", False), "run.quiet"),
               max_memory_mb=_finite(r.get("max_memory_mb", 16000), "run.max_memory_mb", 0,
                                     lo_open=True),
               allow_outside_root=_bool(r.get("allow_outside_root", False),
                                        "run.allow_outside_root"))


def to_container(cfg: DictConfig | Mapping) -> dict:
    """Resolve interpolations and return plain Python containers."""
    if isinstance(cfg, DictConfig):
        try:
            return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
        except Exception as exc:  # interpolation errors name the key themselves
            raise ConfigError(getattr(exc, "full_key", "?") or "?", "?", str(exc).splitlines()[0]
                              ) from exc
    return dict(cfg)


def validate(cfg: DictConfig | Mapping) -> ModelConfig:
    """Check every field of a composed config and return the typed model config."""
    c = to_container(cfg)
    _no_instantiation(c)
    _known(c, "", set(SECTIONS))
    for section in SECTIONS:
        _get(c, section, "")
    geography = _geography(_mapping(c["geography"], "geography"))
    names = geography.names
    scenario = _mapping(c["scenario"], "scenario")
    return ModelConfig(
        run=_run(_mapping(c["run"], "run")),
        geography=geography,
        demand=_demand(_mapping(c["demand"], "demand"), names),
        supply=_supply(_mapping(c["supply"], "supply"), names),
        grid=_grid(_mapping(c["grid"], "grid")),
        policy=_policy(_mapping(c["policy"], "policy"), names),
        scenario=_str(_get(scenario, "name", "scenario"), "scenario.name"),
    )
