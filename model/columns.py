"""Output columns declared once: unit and meaning of every column of every run table
(docs/outputs.md). ``arrow_table`` turns a recorder table into the Arrow table that is written:
month indices as month-start dates, and each field's unit and meaning in its metadata
(keys ``unit`` and ``description``). docs/outputs.md lists the same columns (a test checks).
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

MONTH = ("month", "calendar month, as its first day")
_ROLE = ("-", "node role: east, central or west")
_SEG = {f"demand_mw_{ct}_{lc}": ("MW", f"{ct} demand of latency class {lc}")
        for ct in ("general", "intelligent") for lc in ("realtime", "interactive", "batch")}


def _per_role(stem: str, unit: str, what: str) -> dict[str, tuple[str, str]]:
    return {f"{stem}_{r}": (unit, f"{what}, {r}ern nodes".replace("centralern", "central"))
            for r in ("east", "central", "west")}


COLUMNS: dict[str, dict[str, tuple[str, str]]] = {
    "national": {
        "month": MONTH,
        "year": ("year", "calendar year"),
        "demand_mw": ("MW", "IT load demanded by all enterprises"),
        "served_mw": ("MW", "IT load served by data centers"),
        "unserved_mw": ("MW", "demand minus served load"),
        "demand_mw_general": ("MW", "general-compute demand"),
        "unserved_mw_general": ("MW", "general-compute demand not served"),
        "demand_mw_intelligent": ("MW", "intelligent-compute (AI) demand"),
        "unserved_mw_intelligent": ("MW", "intelligent-compute demand not served"),
        **_per_role("served_mw", "MW", "IT load served"),
        "west_share": ("fraction", "share of served load served at western nodes"),
        "west_share_realtime": ("fraction", "west share of realtime load"),
        "west_share_interactive": ("fraction", "west share of interactive load"),
        "west_share_batch": ("fraction", "west share of batch load"),
        "west_share_general": ("fraction", "west share of general-compute load"),
        "west_share_intelligent": ("fraction", "west share of intelligent-compute load"),
        "east_origin_west_share": ("fraction",
                                   "share of eastern-origin enterprises' load served in the west"),
        "capacity_mw": ("MW", "operating IT capacity"),
        "capacity_mw_general": ("MW", "operating general-compute IT capacity"),
        "capacity_mw_intelligent": ("MW", "operating intelligent-compute IT capacity"),
        "racks": ("racks", "operating capacity in standard racks (supply.rack_kw each)"),
        "racks_occupied": ("racks", "served load in standard racks"),
        "utilisation": ("fraction", "served load / operating capacity"),
        **_per_role("utilisation", "fraction", "served load / operating capacity"),
        "pue": ("ratio", "facility energy / IT energy, IT-load weighted over operating DCs"),
        "energy_mwh": ("MWh", "facility energy of data centers this month"),
        "twh": ("TWh", "facility energy this month"),
        "green_share": ("fraction", "contracted green share of DC energy"),
        "co2_location_t": ("tCO2", "location-based emissions this month (grid factors)"),
        "co2_market_t": ("tCO2", "market-based emissions this month (net of green contracts)"),
        "curtailment_absorbed_mwh": ("MWh", "curtailed renewable energy used by DCs"),
        **_per_role("price", "RMB/kW-month", "capacity-weighted DC price"),
        "revenue_rmb": ("RMB", "DC revenue this month"),
        "investment_rmb": ("RMB", "capex committed this month"),
        "new_capacity_mw": ("MW", "IT capacity whose construction started this month"),
        "new_capacity_mw_west": ("MW", "of which at western nodes"),
        "new_capacity_mw_hub": ("MW", "of which at national hubs (policy.national.hubs)"),
        "subsidy_voucher_rmb": ("RMB", "compute vouchers paid this month"),
        "subsidy_power_rmb": ("RMB", "electricity discounts paid this month"),
        "subsidy_capex_rmb": ("RMB", "capex subsidies paid this month"),
        "subsidy_total_rmb": ("RMB", "all subsidies paid this month"),
        "enterprise_spend_rmb": ("RMB", "enterprises' compute spend net of vouchers"),
        "electricity_cost_rmb": ("RMB", "DCs' electricity bill this month"),
        "carbon_cost_rmb": ("RMB", "DCs' carbon cost this month"),
        "eflops": ("EFLOPS", "operating compute"),
        "eflops_general": ("EFLOPS", "operating general compute"),
        "eflops_intelligent": ("EFLOPS", "operating intelligent compute"),
        "n_datacenters": ("count", "operating data centers"),
        "route_factor": ("ratio", "backbone route length / great-circle distance in force"),
        "uhv_sent_mwh": ("MWh", "energy sent on UHV lines"),
        "uhv_loss_mwh": ("MWh", "UHV transmission losses"),
        "uhv_tariff_rmb": ("RMB", "UHV transmission tariffs paid"),
        "network_cost_rmb": ("RMB", "data-transfer cost of load served away from its origin"),
        "migrated_mw": ("MW", "IT load served away from its origin node"),
        "mean_latency_ms_migrated": ("ms", "load-weighted one-way latency of migrated load"),
    },
    "node": {
        "month": MONTH,
        "year": ("year", "calendar year"),
        "node": ("-", "node name"),
        "role": _ROLE,
        "hub": ("bool", "a national hub node"),
        "demand_mw": ("MW", "demand of enterprises at home here"),
        "served_mw": ("MW", "load served by DCs here"),
        "capacity_mw": ("MW", "operating IT capacity"),
        "racks": ("racks", "operating capacity in standard racks"),
        "utilisation": ("fraction", "served load / operating capacity"),
        "pue": ("ratio", "facility energy / IT energy"),
        "energy_mwh": ("MWh", "facility energy this month"),
        "green_share": ("fraction", "contracted green share of DC energy"),
        "co2_location_t": ("tCO2", "location-based emissions this month"),
        "co2_market_t": ("tCO2", "market-based emissions this month"),
        "grid_ef": ("kgCO2/kWh", "grid emission factor after UHV imports"),
        "tariff": ("RMB/kWh", "electricity tariff paid by DCs"),
        "price": ("RMB/kW-month", "capacity-weighted DC price"),
        "curtailment_mwh": ("MWh", "curtailed renewable energy"),
        "curtailment_absorbed_mwh": ("MWh", "curtailed energy used by DCs"),
        "uhv_import_mwh": ("MWh", "energy delivered here by UHV lines"),
        "voucher_rate": ("fraction", "compute-voucher rate in force (of the bill)"),
        "power_discount": ("fraction", "electricity discount for DCs in force"),
        "budget_rmb": ("RMB", "local government budget left"),
        "subsidy_rmb": ("RMB", "subsidies paid here this month"),
        "revenue_rmb": ("RMB", "DC revenue here this month"),
        "investment_rmb": ("RMB", "capex committed here this month"),
        "capacity_capex_rmb": ("RMB", "build and land capex paid for the operating IT capacity "
                                      "here"),
        "n_datacenters": ("count", "operating data centers"),
    },
    "flows": {
        "month": MONTH,
        "origin": ("-", "node where the enterprises are at home"),
        "serving": ("-", "node whose DCs serve the load"),
        "latency_class": ("-", "realtime, interactive or batch"),
        "compute_type": ("-", "general or intelligent"),
        "mw": ("MW", "IT load (rows with MW > 0 only)"),
    },
    "lines": {
        "month": MONTH,
        "line": ("-", "UHV line name"),
        "from": ("-", "sending node"),
        "to": ("-", "receiving node"),
        "capacity_gw": ("GW", "rated capacity in service (0 when switched off or not yet built)"),
        "sent_mwh": ("MWh", "energy sent"),
        "loss_mwh": ("MWh", "energy lost in transmission"),
        "delivered_mwh": ("MWh", "energy delivered"),
        "tariff_rmb": ("RMB", "transmission tariff paid on delivered energy"),
        "delivered_ef": ("kgCO2/kWh", "emission factor of the delivered mix (0 when off)"),
        "delivered_cost_rmb_per_mwh": ("RMB/MWh", "sending price grossed up for losses + tariff"),
    },
    "datacenters": {
        "year": ("year", "snapshot year (December, or the last month)"),
        "unique_id": ("-", "agent id"),
        "node": ("-", "node where the DC stands"),
        "kind": ("-", "operator kind (supply.operator_kinds)"),
        "status": ("-", "building or operating"),
        "capacity_mw_general": ("MW", "general-compute IT capacity"),
        "capacity_mw_intelligent": ("MW", "intelligent-compute IT capacity"),
        "occupied_mw": ("MW", "IT load served"),
        "pue": ("ratio", "facility energy / IT energy"),
        "green_share": ("fraction", "contracted green share of energy"),
        "price_general": ("RMB/kW-month", "price of general compute"),
        "price_intelligent": ("RMB/kW-month", "price of intelligent compute"),
        "markup": ("fraction", "markup over unit cost in the cost-plus price"),
        "cash_rmb": ("RMB", "cumulative cash position"),
        "built": MONTH[:1] + ("month construction started",),
        "online": MONTH[:1] + ("month the DC went (or goes) online",),
    },
    "enterprises": {
        "year": ("year", "snapshot year (December, or the last month)"),
        "unique_id": ("-", "agent id"),
        "node": ("-", "home node"),
        "sector": ("-", "sector (demand.sectors)"),
        "demand_mw": ("MW", "IT load demanded"),
        "served_mw": ("MW", "IT load served"),
        **_SEG,
    },
}
MONTH_INDEX_COLUMNS = ("built", "online")   # recorded as year * 12 + month - 1


def month_start(index: pd.Series) -> pd.Series:
    """Month indices (year × 12 + month − 1) → month-start timestamps."""
    year, month = divmod(index.astype("int64"), 12)
    return pd.to_datetime(pd.DataFrame({"year": year, "month": month + 1, "day": 1}))


def arrow_table(name: str, frame: pd.DataFrame) -> pa.Table:
    """The table as written: month indices as dates, units and meanings in field metadata."""
    frame = frame.copy(deep=False)
    for col in MONTH_INDEX_COLUMNS:
        if col in frame and pd.api.types.is_integer_dtype(frame[col]):
            frame[col] = month_start(frame[col]).astype("datetime64[us]")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    declared = COLUMNS.get(name, {})
    fields = []
    for f in table.schema:
        unit, description = declared.get(f.name, ("", ""))
        fields.append(f.with_metadata({"unit": unit, "description": description}))
    return table.cast(pa.schema(fields, metadata=table.schema.metadata))
