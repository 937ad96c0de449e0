"""One-command policy brief from a sweep or a folder of runs (docs/design.md §1.1, §2.11, §3.2).

    make brief ARGS="outputs/sweeps/voucher_vs_discount"            # a sweep folder (store.py)
    make brief ARGS="outputs/runs --out outputs/brief/runs"          # a folder of run folders
    make brief ARGS="--scenarios edwc,no_edwc,edwc_green --seeds 1,2,3 --end 2030-12 \\
                     --out outputs/brief"                            # run the scenarios, then brief

The brief folder holds ``index.html`` (figures, key numbers, scenario definitions, provenance),
``brief.pdf``, ``figures/<name>.png|svg``, ``data/<name>.csv`` (every number a figure shows),
``key_numbers.csv`` and ``provenance/`` (each scenario's resolved config, run list, manifest).
Figures whose inputs are absent (no swept levers, no counterfactual, no sensitivity design)
are skipped with a note. Styles and choices: ``conf/brief.yaml`` and ``conf/figures/``; change
them with ``--set key=value`` (e.g. ``--set figures.greyscale=true``).
"""

from __future__ import annotations

import argparse
import html
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import yaml
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from omegaconf import DictConfig, OmegaConf

from experiments import attribute as A
from experiments import bits_watts as BW
from experiments import figures as F
from experiments.paired import paired_differences
from model.cli import is_hydra_error
from model.guard import YAML_LOADER
from model.outcomes import KEY_NUMBERS, OUTCOMES
from model.paths import CONF_DIR

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SEEDS = "1,2,3,4,5,6,7,8,9,10"   # --scenarios: >= 10 seeds for paired intervals
RUN_FILES = ("national.parquet", "manifest.json")
NOT_LEVERS = {"run_id", "point", "seed", "scenario"}


class BriefError(ValueError):
    """Bad brief input; the message is one line."""


@dataclass
class BriefData:
    """Run tables of a sweep or a folder of runs, each row tagged with run_id, scenario, seed
    (and swept lever values): national and node monthly, flows as yearly mean MW."""

    kind: str                                  # "sweep" | "runs"
    path: Path
    runs: pd.DataFrame                         # run_id, scenario, seed, levers..., folder
    national: pd.DataFrame
    node: pd.DataFrame
    flows: pd.DataFrame                        # run_id, scenario, seed, year, origin, serving,
                                               # latency_class, mw (yearly mean MW)
    geo: pd.DataFrame                          # node, lat, lon, role, hub
    configs: dict[str, dict[str, Any]]         # scenario -> one run's resolved config
    levers: list[str] = field(default_factory=list)
    sensitivity: pd.DataFrame | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def scenarios(self) -> list[str]:
        return F.scenarios_in(self.runs)


# ---------------------------------------------------------------- loading

def run_folders(folder: Path) -> list[Path]:
    """Complete run folders (national.parquet + manifest.json) in ``folder`` or ``folder``
    itself, sorted by name."""
    if all((folder / f).is_file() for f in RUN_FILES):
        return [folder]
    return sorted(p for p in folder.iterdir()
                  if p.is_dir() and all((p / f).is_file() for f in RUN_FILES))


def _read_config(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "config.yaml"
    return yaml.load(path.read_text(), Loader=YAML_LOADER) if path.is_file() else {}


def _tag(frame: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Prefix a table with the run's scenario, seed and lever columns."""
    meta = runs.drop(columns=["folder"], errors="ignore")
    keep = [c for c in frame.columns if c not in meta.columns or c == "run_id"]
    return meta.merge(frame[keep], on="run_id", how="inner")


def _flows_yearly(files: list[Path], run_ids: list[str], national: pd.DataFrame
                  ) -> pd.DataFrame:
    """Flows aggregated in DuckDB to yearly mean MW per run, origin, serving and latency class
    (months without a row count as 0 MW)."""
    if not files:
        return pd.DataFrame(columns=["run_id", "year", "origin", "serving", "latency_class",
                                     "mw"])
    con = duckdb.connect()
    con.register("ids", pd.DataFrame({"file": [str(f) for f in files], "run_id": run_ids}))
    paths = "[" + ",".join("'" + str(f).replace("'", "''") + "'" for f in files) + "]"
    flows = con.execute(
        f"SELECT ids.run_id, year(t.month) AS year, t.origin, t.serving, t.latency_class, "
        f"SUM(t.mw) AS mw_months FROM read_parquet({paths}, filename=true) t "
        f"JOIN ids ON ids.file = t.filename GROUP BY ALL").df()
    con.close()
    months = national.groupby(["run_id", "year"])["month"].size().rename("months")
    flows = flows.join(months, on=["run_id", "year"])
    flows["mw"] = flows["mw_months"] / flows["months"]
    return flows.drop(columns=["mw_months", "months"])


def _geo(config: dict[str, Any]) -> pd.DataFrame:
    nodes = (config.get("geography") or {}).get("nodes") or {}
    hubs = set(((config.get("policy") or {}).get("national") or {}).get("hubs") or ())
    return pd.DataFrame([{"node": n, "lat": v["lat"], "lon": v["lon"], "role": v["role"],
                          "hub": n in hubs} for n, v in nodes.items()])


def _assemble(kind: str, path: Path, runs: pd.DataFrame, run_cfgs: dict[str, dict[str, Any]],
              manifest: dict[str, Any]) -> BriefData:
    """BriefData of the runs; `run_cfgs` holds (at least) the config of each scenario's first
    run, the one kept as that scenario's config."""
    folders = list(runs["folder"])
    ids = list(runs["run_id"])
    national = _tag(pd.concat([pd.read_parquet(f / "national.parquet").assign(run_id=r)
                               for r, f in zip(ids, folders, strict=True)],
                              ignore_index=True), runs)
    node_files = [(r, f / "node.parquet") for r, f in zip(ids, folders, strict=True)
                  if (f / "node.parquet").is_file()]
    node = _tag(pd.concat([pd.read_parquet(p).assign(run_id=r) for r, p in node_files],
                          ignore_index=True), runs) if node_files else pd.DataFrame()
    flow_files = [(r, f / "flows.parquet") for r, f in zip(ids, folders, strict=True)
                  if (f / "flows.parquet").is_file()]
    flows = _tag(_flows_yearly([p for _, p in flow_files], [r for r, _ in flow_files],
                               national), runs)
    configs = {}
    for scn, rid in runs.drop_duplicates("scenario")[["scenario", "run_id"]].itertuples(
            index=False):
        configs[scn] = run_cfgs[rid]
    levers = [c for c in runs.columns if c not in NOT_LEVERS | {"folder"}
              and not c.startswith("x:") and pd.api.types.is_numeric_dtype(runs[c])
              and runs[c].nunique() > 1]
    return BriefData(kind, path, runs, national, node, flows,
                     _geo(next(iter(configs.values()))), configs, levers, manifest=manifest)


def load_runs_folder(folder: Path) -> BriefData:
    """A folder of run folders (or one run folder) as written by ``model.outputs.write_run``."""
    found = run_folders(folder)
    if not found:
        raise BriefError(f"brief error: {folder}: not a sweep folder (no sweep.json) and holds "
                         f"no run folders (national.parquet + manifest.json)")
    rows, cfgs = [], {}
    for run in found:
        man = json.loads((run / "manifest.json").read_text())
        cfg = _read_config(run)
        rid = run.name
        rows.append({"run_id": rid, "scenario": str(man.get("scenario") or
                                                     cfg.get("scenario", {}).get("name", "?")),
                     "seed": int(man.get("seed", cfg.get("run", {}).get("seed", -1))),
                     "folder": run, "git_commit": man.get("git_commit")})
        cfgs[rid] = cfg
    runs = pd.DataFrame(rows)
    commits = sorted({str(c) for c in runs.pop("git_commit") if c})
    return _assemble("runs", folder, runs, cfgs, {"git_commits": commits,
                                                  "seeds": sorted(runs["seed"].unique())})


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep folder addressed like a run folder: ``run / "node.parquet"`` is its
    shard of the node table, ``run / "config.yaml"`` the file in its manifest folder
    (the store's layout, experiments/store.py)."""

    sweep: Path
    run_id: str

    def __truediv__(self, name: str) -> Path:
        from experiments.store import run_manifest_path, shard_path
        if name.endswith(".parquet"):
            return shard_path(self.sweep, name.removesuffix(".parquet"), self.run_id)
        return run_manifest_path(self.sweep, self.run_id).parent / name

    def __str__(self) -> str:
        return str(self / "")


def load_sweep_folder(folder: Path) -> BriefData:
    """A sweep folder of ``experiments.store`` (completed runs only)."""
    from experiments.sensitivity import DEFAULT_OUTPUTS, parse_output, sensitivity_table
    from experiments.store import load_sweep, run_manifest_path

    sweep = load_sweep(folder)
    design = sweep.design
    done = [r for r in design["run_id"] if run_manifest_path(folder, r).is_file()]
    if not done:
        raise BriefError(f"brief error: {folder}: the sweep has no completed runs yet")
    runs = design[design["run_id"].isin(done)].copy()
    cfgs: dict[str, dict[str, Any]] = {}
    if "scenario" not in runs.columns:                  # no scenario axis: each run's config
        cfgs = {r: _read_config(SweepRun(folder, r)) for r in runs["run_id"]}
        runs["scenario"] = [str(cfgs[r].get("scenario", {}).get("name", "sweep"))
                            for r in runs["run_id"]]
    runs["folder"] = [SweepRun(folder, r) for r in runs["run_id"]]
    front = ["run_id", "scenario", "seed"]
    runs = runs[front + [c for c in runs.columns if c not in front]].reset_index(drop=True)
    for rid in runs.drop_duplicates("scenario")["run_id"]:   # the configs _assemble keeps
        if rid not in cfgs:
            cfgs[rid] = _read_config(SweepRun(folder, rid))
    data = _assemble("sweep", folder, runs, cfgs, sweep.manifest)
    if len(done) < len(design):
        data.notes.append(f"{len(design) - len(done)} of {len(design)} sweep runs are not "
                          f"complete; the brief uses the {len(done)} completed runs.")
    sens = folder / "sensitivity.csv"
    if sens.is_file():
        data.sensitivity = pd.read_csv(sens)
    elif (sweep.manifest.get("design") or {}).get("kind") in ("sobol", "morris"):
        last = int(data.national["year"].max())
        outputs = [parse_output(t) for t in DEFAULT_OUTPUTS]
        outputs = [type(o)(o.column, min(o.year, last), o.agg) for o in outputs]
        try:
            data.sensitivity = sensitivity_table(folder, outputs)
        except ValueError as err:
            data.notes.append(f"sensitivity indices not computed: {str(err).splitlines()[0]}")
    return data


def load_brief_data(folder: str | Path) -> BriefData:
    """Load a sweep folder (with sweep.json) or a folder of run folders; BriefError if neither."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BriefError(f"brief error: {folder}: no such folder")
    if (folder / "sweep.json").is_file():
        return load_sweep_folder(folder)
    return load_runs_folder(folder)


# ---------------------------------------------------------------- config

def brief_config(overrides: Sequence[str] = ()) -> DictConfig:
    """Compose ``conf/brief.yaml`` (with ``figures/default``) with Hydra's compose API."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="brief", overrides=list(overrides))


# ---------------------------------------------------------------- figures

@dataclass
class FigureJob:
    """One brief figure: a title, a caption, and how to get its numbers and its figure from
    the data (or why it is skipped)."""

    name: str
    title: str
    caption: str
    skip: Callable[[BriefData], str | None]
    data: Callable[[BriefData], pd.DataFrame]
    plot: Callable[[BriefData], Figure]


def figure_jobs(cfg: DictConfig, style: F.FigureStyle) -> list[FigureJob]:
    """The brief's figures in order, bound to the brief config."""
    b = cfg.brief
    lo, hi = style.band
    bandtxt = f"median with {lo:g}–{hi:g} % percentile band across runs"

    def year(d: BriefData) -> int:
        return F.pick_year(d.national, int(b.outcome_year))

    def score_years(d: BriefData) -> list[int]:
        have = set(d.node["year"].unique())
        years = [y for y in b.scorecard_years if y in have]
        return years or [int(max(have))]

    def heat_levers(d: BriefData) -> list[str]:
        return list(b.heatmap_levers) if b.heatmap_levers else d.levers[:2]

    def map_scenario(d: BriefData) -> str:
        return b.map_scenario if b.map_scenario in d.scenarios else d.scenarios[0]

    def no_node(d: BriefData) -> str | None:
        return "no node tables in the runs" if d.node.empty else None

    def no_flows(d: BriefData) -> str | None:
        if d.node.empty or d.flows.empty:
            return "no node or flows tables in the runs"
        return None

    def no_bits(d: BriefData) -> str | None:
        if no_flows(d) is not None:
            return no_flows(d)
        if "capacity_capex_rmb" not in d.node.columns:
            return "the node tables have no capacity_capex_rmb (runs written before it); re-run"
        return None

    def no_levers(d: BriefData) -> str | None:
        levers = heat_levers(d)
        if len(levers) < 2 or any(lv not in d.national.columns for lv in levers):
            return (f"needs a sweep over two levers (this {d.kind} varies "
                    f"{len(d.levers)}: {', '.join(d.levers) or 'none'})")
        return None

    def no_sensitivity(d: BriefData) -> str | None:
        if d.sensitivity is None or d.sensitivity.empty:
            return "needs a Sobol or Morris sweep (experiments.sensitivity)"
        return None

    bits: dict[str, Any] = {}      # the last data and its table: its CSV and figure share it

    def bits_table(d: BriefData) -> pd.DataFrame:
        if bits.get("data") is not d:
            lines = BW.read_lines(list(d.runs["folder"]), list(d.runs["run_id"]))
            config = next(iter(d.configs.values()))
            runs = BW.per_run(d.national, d.node, d.flows, lines, config, year(d))
            ref = b.bits_reference if b.bits_reference in set(runs["scenario"]) \
                else runs["scenario"].iloc[0]
            bits.update(data=d, table=BW.paired(runs, ref).assign(year=year(d)))
        return bits["table"]

    def attribution_table() -> pd.DataFrame:
        return pd.read_csv(Path(str(b.attribution)) / "attribute.csv")

    def no_attribution(d: BriefData) -> str | None:
        path = Path(str(b.attribution)) / "attribute.csv"
        return None if path.is_file() else f"no {b.attribution}/attribute.csv: run make attribute"

    outcomes = list(b.heatmap_outcomes)
    targets = dict(b.targets)
    return [
        FigureJob("west_share", "Load served in the west",
                  f"Share of served IT load (MW) in western hubs, monthly; {bandtxt}.",
                  lambda d: None, lambda d: F.west_share_data(d.national, style),
                  lambda d: F.west_share(d.national, style)),
        FigureJob("west_share_by_class", "West share by latency class",
                  "West share of served load by latency class (real-time ≤ 5 ms, interactive "
                  f"≤ 20 ms, batch); {bandtxt}.",
                  lambda d: None, lambda d: F.west_share_by_class_data(d.national, style),
                  lambda d: F.west_share_by_class(d.national, style)),
        FigureJob("hub_scorecard", "Hub scorecard",
                  "Yearly mean rack utilisation and IT-load-weighted PUE by node vs the "
                  f"{targets['utilisation'] * 100:g} % utilisation target and the "
                  f"{targets['pue_east']:g} (east/central) and {targets['pue_west']:g} (west) "
                  "PUE caps for new hub DCs; markers are medians, whiskers the "
                  f"{lo:g}–{hi:g} % range.",
                  no_node, lambda d: F.hub_scorecard_data(d.node, score_years(d), style),
                  lambda d: F.hub_scorecard(d.node, style, score_years(d), targets)),
        FigureJob("sweep_heatmap", "Sweep outcomes over two levers",
                  "Outcomes in the outcome year over two swept levers, median across seeds "
                  "(and any other swept axes); sampled designs are binned.",
                  no_levers,
                  lambda d: F.sweep_heatmap_data(d.national, heat_levers(d), outcomes, year(d),
                                                 int(b.heatmap_bins)),
                  lambda d: F.sweep_heatmap(d.national, style, heat_levers(d), outcomes,
                                            year(d), int(b.heatmap_bins))),
        FigureJob("emissions_electricity", "Electricity and emissions",
                  "Data-center facility electricity (TWh/yr) and CO2 (MtCO2/yr) on location- "
                  f"and market-based (green-contract) accounting; {bandtxt}; partial years "
                  "annualised.",
                  lambda d: None, lambda d: F.emissions_electricity_data(d.national, style),
                  lambda d: F.emissions_electricity(d.national, style)),
        FigureJob("bits_vs_watts", "Moving bits vs moving watts",
                  "What the runs spend and emit to serve the IT load of eastern enterprises, "
                  "wherever it was placed, per MWh of that load: energy at the serving node's "
                  "tariff and PUE (less the UHV transmission tariff in it), data transfer for "
                  "load served away from home, and the annuitised capex of the capacity it "
                  "needs: the UHV lines' where the serving node imports over them (in place of "
                  "the tariff that recovers it) and the data centers' at what the serving "
                  "node's capacity cost; CO2 at the serving node's grid factor; latency of "
                  "moved load. Bars: mean over seeds, error bars: seed range; text: paired "
                  f"difference from '{b.bits_reference}' with its 95 % interval "
                  "(experiments/bits_watts.py; rows of the CSV name their runs).",
                  no_bits, bits_table, lambda d: BW.figure(bits_table(d), style, year(d))),
        FigureJob("attribution", "Which instrument buys what",
                  "Shapley contribution of each instrument group of the package against the "
                  "counterfactual (make attribute: every coalition of groups run for every "
                  "seed, paired by seed): MW served in the west, MtCO2 avoided (location "
                  "based) and public outlay per MW moved west; 95 % t-interval over seeds, "
                  "hatched where it spans 0; 'not resolved' where the MW effect's interval "
                  "spans 0.",
                  no_attribution, lambda d: attribution_table(),
                  lambda d: A.figure(attribution_table(), style)),
        FigureJob("sensitivity", "Sensitivity indices",
                  "Sobol (S1, ST) or Morris (mu*, sigma) indices per parameter from "
                  "experiments.sensitivity; bars are means across seeds, whiskers min–max.",
                  no_sensitivity, lambda d: F.sensitivity_data(d.sensitivity),
                  lambda d: F.sensitivity(d.sensitivity, style)),
        FigureJob("schematic_map", "Schematic map",
                  "Nodes at their latitude/longitude, sized by operating capacity (IT MW) and "
                  "coloured by utilisation; arrows show the largest east→west flows (MW), "
                  "medians across runs of the map scenario in the outcome year.",
                  no_flows,
                  lambda d: F.schematic_map_data(d.node, d.flows, d.geo, map_scenario(d),
                                                 year(d), int(b.top_flows)),
                  lambda d: F.schematic_map(d.node, d.flows, d.geo, style, map_scenario(d),
                                            year(d), int(b.top_flows), list(b.map_label_above))),
    ]


# ---------------------------------------------------------------- key numbers

def key_numbers(national: pd.DataFrame, years: Sequence[int],
                quantiles: tuple[float, float] = (0.05, 0.95), reference: str | None = None
                ) -> pd.DataFrame:
    """Per scenario and year (those the runs reach): median and band across runs of the
    declared key numbers (`model.outcomes.KEY_NUMBERS`: west share, utilisation, PUE, TWh/yr,
    MtCO2/yr in both accountings, subsidy outlay); no band from fewer than 3 runs. With a
    `reference` scenario among the runs, also each scenario's difference from it paired by
    seed: diff_mean, diff_low, diff_high (95 % t-interval), n_pairs."""
    part = national[national["year"].isin(list(years))]
    frames = []
    for o in (OUTCOMES[name] for name in KEY_NUMBERS):
        per_run = F.yearly(part, [o.column], o.agg)
        per_run["value"] = per_run[o.column] * o.scale
        out = F.band(per_run, ["scenario", "year"], "value", quantiles)
        if reference is not None and (per_run["scenario"] == reference).any():
            diff = paired_differences(per_run, "scenario", reference, "value",
                                      keys=("year",)).rename(columns={"n_seeds": "n_pairs"})
            out = out.merge(diff, on=["scenario", "year"], how="left")
        out.insert(0, "metric", o.label)
        frames.append(out)
    return pd.concat(frames, ignore_index=True)


def _number_cell(row: Any) -> str:
    """'median [p05–p95]' (no band from < 3 runs), then the paired difference if any."""
    text = f"{row.median:,.3g}"
    if np.isfinite(row.p05):
        text += f" [{row.p05:,.3g}–{row.p95:,.3g}]"
    low = getattr(row, "diff_low", np.nan)
    if np.isfinite(low):
        text += f"; Δ {row.diff_mean:+,.3g} [{low:+,.3g}, {row.diff_high:+,.3g}]"
    return text


def key_numbers_html(table: pd.DataFrame) -> str:
    """Wide HTML table: rows scenario × metric, columns years, cells median [p05–p95] and
    the paired difference from the reference scenario with its 95 % interval."""
    cell = table.assign(text=[_number_cell(r) for r in table.itertuples(index=False)])
    wide = cell.pivot_table(index=["scenario", "metric"], columns="year", values="text",
                            aggfunc="first", sort=False)
    return wide.to_html(classes="numbers", border=0, escape=True)


# ---------------------------------------------------------------- provenance

def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=5).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def scenario_questions(data: BriefData) -> dict[str, str]:
    """``scenario.question`` of each scenario: from its run config, else conf/scenario/."""
    out = {}
    for scn in data.scenarios:
        q = (data.configs.get(scn, {}).get("scenario") or {}).get("question")
        path = CONF_DIR / "scenario" / f"{scn}.yaml"
        if not q and path.is_file():
            q = ((yaml.safe_load(path.read_text()) or {}).get("scenario") or {}).get("question")
        out[scn] = q or "(no scenario.question)"
    return out


def write_provenance(data: BriefData, out: Path, cfg: DictConfig) -> dict[str, Any]:
    """Write each scenario's resolved config, the run list and a provenance.json; returns
    the provenance record."""
    prov = out / "provenance"
    prov.mkdir(parents=True, exist_ok=True)
    for scn, config in data.configs.items():
        (prov / f"config_{scn}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    runs = data.runs.drop(columns=["folder"]).assign(folder=[str(f) for f in data.runs["folder"]])
    runs.to_csv(prov / "runs.csv", index=False)
    (prov / "brief_config.yaml").write_text(OmegaConf.to_yaml(cfg))
    commits = data.manifest.get("git_commits") or [data.manifest.get("git_commit")]
    record = {"source": str(data.path.resolve()), "kind": data.kind, "n_runs": len(data.runs),
              "scenarios": data.scenarios, "seeds": sorted(int(s) for s in
                                                           data.runs["seed"].unique()),
              "levers": data.levers, "run_git_commits": [c for c in commits if c],
              "brief_git_commit": _git_commit(),
              "months": [str(data.national["month"].min())[:7],
                         str(data.national["month"].max())[:7]],
              "sweep_manifest": data.manifest if data.kind == "sweep" else None}
    (prov / "provenance.json").write_text(json.dumps(record, indent=2, default=str))
    return record


# ---------------------------------------------------------------- documents

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222}h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
img{max-width:100%;border:1px solid #eee}table{border-collapse:collapse;font-size:.85em}
td,th{padding:.25em .6em;border-bottom:1px solid #ddd;text-align:left}.note{color:#a50}
.caption{color:#444;font-size:.9em}code{background:#f4f4f4;padding:0 .2em}"""


def write_html(out: Path, data: BriefData, done: list[tuple[FigureJob, list[str]]],
               skipped: list[tuple[FigureJob, str]], numbers: pd.DataFrame,
               record: dict[str, Any], pdf: bool) -> Path:
    """The brief as one HTML document with relative links to figures, CSVs and configs."""
    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>EDWC policy brief"
             f"</title><style>{CSS}</style></head><body>",
             "<h1>East Data, West Computing: policy brief</h1>",
             f"<p>{len(data.runs)} runs of {len(data.scenarios)} scenario(s) "
             f"({esc(', '.join(data.scenarios))}), seeds {esc(str(record['seeds']))}, months "
             f"{record['months'][0]} to {record['months'][1]}. Source: <code>"
             f"{esc(record['source'])}</code>.</p>"]
    if pdf:
        parts.append("<p><a href='brief.pdf'>PDF version</a> · "
                     "<a href='key_numbers.csv'>key numbers (CSV)</a></p>")
    else:
        parts.append("<p><a href='key_numbers.csv'>key numbers (CSV)</a></p>")
    for note in data.notes:
        parts.append(f"<p class='note'>{esc(note)}</p>")
    parts.append("<h2>Key numbers</h2><p class='caption'>Median [5–95 % range] across runs; "
                 "yearly means (shares, PUE) or yearly totals (TWh, CO2, subsidies).</p>")
    parts.append(key_numbers_html(numbers))
    parts.append("<h2>Scenarios</h2><table><tr><th>scenario</th><th>question</th>"
                 "<th>config</th></tr>")
    for scn, q in scenario_questions(data).items():
        parts.append(f"<tr><td>{esc(scn)}</td><td>{esc(q)}</td><td><a href='provenance/"
                     f"config_{esc(scn)}.yaml'>config_{esc(scn)}.yaml</a></td></tr>")
    parts.append("</table>")
    parts.append("<h2>Figures</h2>")
    for job, files in done:
        links = " · ".join(f"<a href='{esc(f)}'>{esc(Path(f).suffix[1:].upper())}</a>"
                           for f in files if not f.endswith(".png"))
        parts.append(f"<h3 id='{job.name}'>{esc(job.title)}</h3>"
                     f"<img src='figures/{job.name}.png' alt='{esc(job.title)}'>"
                     f"<p class='caption'>{esc(job.caption)} Files: {links}.</p>")
    if skipped:
        parts.append("<h3>Skipped figures</h3><ul>")
        parts += [f"<li class='note'>{esc(j.title)}: {esc(why)}</li>" for j, why in skipped]
        parts.append("</ul>")
    parts.append("<h2>Provenance</h2><ul>"
                 f"<li>brief built at commit <code>{esc(record['brief_git_commit'])}</code>; "
                 f"runs at <code>{esc(', '.join(map(str, record['run_git_commits'])))}</code>"
                 "</li><li><a href='provenance/provenance.json'>provenance.json</a> (seeds, "
                 "levers, sweep manifest) · <a href='provenance/runs.csv'>runs.csv</a> · "
                 "<a href='provenance/brief_config.yaml'>brief_config.yaml</a></li></ul>"
                 "</body></html>")
    path = out / "index.html"
    path.write_text("\n".join(parts))
    return path


def title_page(numbers: pd.DataFrame, data: BriefData, record: dict[str, Any]) -> Figure:
    """First PDF page: title, sources and the key-numbers table."""
    wide = numbers.pivot_table(index=["scenario", "metric"], columns="year", values="median",
                               sort=False)
    fig = plt.figure(figsize=(8.27, 11.69))
    fig.text(0.06, 0.96, "East Data, West Computing: policy brief", fontsize=15,
             fontweight="bold", va="top")
    fig.text(0.06, 0.93, f"{len(data.runs)} runs; scenarios {', '.join(data.scenarios)}; seeds "
                         f"{record['seeds']}; months {record['months'][0]}–{record['months'][1]}"
                         f"\nbrief commit {record['brief_git_commit'][:12]}; key numbers: "
                         "median across runs", fontsize=8, va="top")
    ax = fig.add_axes((0.04, 0.05, 0.92, 0.84))
    ax.axis("off")
    cells = [[f"{v:,.3g}" if pd.notna(v) else "" for v in row] for row in wide.to_numpy()]
    rows = [f"{s}: {m}" for s, m in wide.index]
    table = ax.table(cellText=cells, rowLabels=rows, colLabels=[str(c) for c in wide.columns],
                     loc="upper right", colWidths=[0.12] * len(wide.columns))
    table.auto_set_font_size(False)
    table.set_fontsize(6.5)
    table.scale(1, 1.1)
    return fig


# ---------------------------------------------------------------- build

def build_brief(data: BriefData, out: str | Path, cfg: DictConfig | None = None,
                progress: bool = True) -> Path:
    """Write the brief folder for loaded data; returns the path of index.html."""
    cfg = cfg or brief_config()
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "data").mkdir(parents=True, exist_ok=True)
    style = F.FigureStyle.from_config(OmegaConf.to_container(cfg.figures, resolve=True))
    style.apply()
    say = print if progress else (lambda *a, **k: None)
    have = set(data.national["year"].unique())
    years = [y for y in cfg.brief.years if y in have] or [int(max(have))]
    numbers = key_numbers(data.national, years, style.quantiles, cfg.brief.counterfactual)
    numbers.to_csv(out / "key_numbers.csv", index=False)
    record = write_provenance(data, out, cfg)
    pdf = PdfPages(out / "brief.pdf") if cfg.brief.pdf else None
    if pdf is not None:
        page = title_page(numbers, data, record)
        pdf.savefig(page)
        plt.close(page)
    done: list[tuple[FigureJob, list[str]]] = []
    skipped: list[tuple[FigureJob, str]] = []
    jobs = figure_jobs(cfg, style)
    try:
        for k, job in enumerate(jobs, 1):
            t0 = time.perf_counter()
            why = job.skip(data)
            if why is None:
                table = job.data(data)
                if table.empty:
                    why = "no data to draw for the chosen year and scenarios"
            if why is not None:
                skipped.append((job, why))
                say(f"  [{k}/{len(jobs)}] {job.name}: skipped ({why})")
                continue
            table.to_csv(out / "data" / f"{job.name}.csv", index=False)
            fig = job.plot(data)
            files = []
            for fmt in cfg.brief.formats:
                fig.savefig(out / "figures" / f"{job.name}.{fmt}", dpi=style.dpi)
                files.append(f"figures/{job.name}.{fmt}")
            files.append(f"data/{job.name}.csv")
            if pdf is not None:
                pdf.savefig(fig)
            plt.close(fig)
            done.append((job, files))
            say(f"  [{k}/{len(jobs)}] {job.name}: {time.perf_counter() - t0:.1f} s")
    finally:
        if pdf is not None:
            pdf.close()
    page = write_html(out, data, done, skipped, numbers, record, pdf is not None)
    return page


def run_scenarios(scenarios: Sequence[str], seeds: Sequence[int], sweep_dir: Path,
                  model_overrides: Sequence[str] = (), workers: int | None = None,
                  progress: bool = True) -> Path:
    """Run scenarios × seeds as a sweep with a scenario axis (``experiments.sweep``; resumes
    a finished or partial sweep in the same folder); returns the sweep folder."""
    from experiments.sweep import execute_plan, plan_from_overrides

    overrides = [f"sweep.dir={sweep_dir}", "sweep.name=brief",
                 f"sweep.seeds=[{','.join(str(s) for s in seeds)}]",
                 f"sweep.progress={str(progress).lower()}", "+design.kind=grid",
                 f"+design.axes.scenario.choices=[{','.join(scenarios)}]", *model_overrides]
    if workers:
        overrides.append(f"sweep.workers={workers}")
    plan = plan_from_overrides(overrides)
    summary = execute_plan(plan)
    if progress:
        print(summary.line())
    if summary.failed:
        raise BriefError(f"brief error: {summary.failed} run(s) failed; see {sweep_dir}/"
                         "index.duckdb (table runs) and re-run the same command")
    return sweep_dir


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: build a brief from a folder, or run scenarios first; exit 2 on bad input."""
    parser = argparse.ArgumentParser(prog="python -m experiments.brief",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path,
                        help="a sweep folder (sweep.json) or a folder of run folders")
    parser.add_argument("--out", type=Path,
                        help="brief folder (default outputs/brief/<folder name>)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override conf/brief.yaml, e.g. figures.greyscale=true "
                             "(repeatable)")
    parser.add_argument("--scenarios", help="run these scenarios first (comma-separated)")
    parser.add_argument("--seeds", default=DEFAULT_SEEDS,
                        help=f"seeds for --scenarios (default {DEFAULT_SEEDS}: enough for the "
                             "paired intervals the brief prints)")
    parser.add_argument("--start", help="first month for --scenarios (YYYY-MM)")
    parser.add_argument("--end", help="last month for --scenarios (YYYY-MM)")
    parser.add_argument("--model", action="append", default=[], metavar="KEY=VALUE",
                        help="model override for --scenarios, e.g. demand.n_enterprises=1000")
    parser.add_argument("--workers", type=int, help="processes for --scenarios (default cores)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    args = parser.parse_args(argv)
    from experiments.design import SweepInputError
    from model.schema import ConfigError

    t0 = time.perf_counter()
    try:
        cfg = brief_config(args.set)
        if args.scenarios:
            out = args.out or Path("outputs/brief")
            model = list(args.model)
            model += [f"run.start={args.start}"] if args.start else []
            model += [f"run.end={args.end}"] if args.end else []
            try:
                seeds = [int(s) for s in _split(args.seeds)]
            except ValueError:
                raise BriefError(f"brief error: --seeds = {args.seeds!r}: expected integers "
                                 "like 1,2,3") from None
            folder = args.folder or out / "runs"
            if not args.quiet:
                print(f"brief: running {args.scenarios} x seeds {seeds} into {folder}")
            run_scenarios(_split(args.scenarios), seeds, folder, model, args.workers,
                          not args.quiet)
        elif args.folder is None:
            raise BriefError("brief error: give a sweep or runs folder, or --scenarios")
        else:
            folder = args.folder
            out = args.out or Path("outputs/brief") / folder.resolve().name
        if not args.quiet:
            print(f"brief: loading {folder}")
        data = load_brief_data(folder)
        if not args.quiet:
            print(f"brief: {len(data.runs)} runs ({data.kind}), scenarios "
                  f"{', '.join(data.scenarios)}; writing {out}")
        page = build_brief(data, out, cfg, progress=not args.quiet)
    except (BriefError, SweepInputError, ConfigError) as err:
        print(str(err).splitlines()[0], file=sys.stderr)
        return 2
    except Exception as err:  # hydra override errors and the like: one line, no traceback
        if is_hydra_error(err):
            print(f"brief error: {str(err).splitlines()[0]}", file=sys.stderr)
            return 2
        raise
    if not args.quiet:
        print(f"brief: wrote {page} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    np.seterr(invalid="ignore", divide="ignore")
    sys.exit(main())
