"""Run one scenario: `python -m model.run [hydra overrides]` (`make run ARGS="..."`).

Composes the Hydra config, validates it (one-line error and exit code 2 on bad input, before
anything is written), runs the model month by month, writes the run folder atomically and
prints a summary table.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import hydra
import pandas as pd
from omegaconf import DictConfig

from model import cli
from model.model import EDWCModel
from model.outputs import summary_table, target_problem, write_run
from model.paths import CONF_DIR, PACKAGE_ROOT, checkout_root, protected_dirs
from model.schema import ConfigError, ModelConfig, Run, to_container, validate

ROOT = PACKAGE_ROOT          # the checkout (or site-packages for an installed wheel)
PACKAGES = ("mesa", "numpy", "scipy", "pandas", "pyarrow", "hydra-core", "omegaconf")
BYTES_PER_ENTERPRISE = 6 * 8 * 8 + 64 * 8   # six segments x ~8 float/int columns + per-agent
BYTES_PER_ENTERPRISE_YEAR = 6 * 8 + 80      # yearly snapshot row
BYTES_PER_MARKET_CELL = 7 * 8               # float64 matrices of one month's placement market
BASE_MB = 150                               # interpreter and libraries
BYTES_PER_ENTERPRISE_ROW = 100              # run folder: one enterprise-year snapshot row
BYTES_PER_DC_MONTH = 10                     # one data center's monthly row (fleet grown 4x)
BYTES_PER_MONTH = 10_000                    # a month's flow, node, line and national rows
SEGMENTS_PER_SPLIT_LIMIT = 2.0              # groups end between half and all of the limit
REFERENCE_SIZE = {"demand.n_enterprises": 5000, "supply.n_datacenters": 150}   # defaults


@dataclass
class RunResult:
    tables: dict[str, pd.DataFrame]
    manifest: dict
    config: dict


def compose_config(overrides: list[str] | tuple[str, ...] = (), config_name: str = "config"
                   ) -> DictConfig:
    """Compose the project config with Hydra's compose API (no output folder, no chdir);
    a composition error is raised as a one-line ConfigError."""
    return cli.compose_checked(config_name, overrides)


def git_commit() -> str:
    """The checkout's commit, or "unknown" (an installed wheel has no checkout)."""
    if checkout_root() is None:
        return "unknown"
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions() -> dict[str, str]:
    """Versions of Python and the model's packages (read once per process: ~10 ms)."""
    return dict(_package_versions())


@functools.cache
def _package_versions() -> tuple[tuple[str, str], ...]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "missing"
    return tuple(versions.items())


def effective_enterprises(config: ModelConfig) -> float:
    """Enterprise groups after the first month's splits: a group splits while a segment
    exceeds `split_share` x the mean data center, so a load far above the capacity multiplies
    the agents (demand.initial_load_mw=1e16 would make ~1e14 groups)."""
    d, s = config.demand, config.supply
    limit = d.split_share * s.initial_capacity_mw / s.n_datacenters
    return max(float(d.n_enterprises), SEGMENTS_PER_SPLIT_LIMIT * d.initial_load_mw / limit)


def estimate_memory_mb(config: ModelConfig) -> float:
    """Peak memory of a run, MB: enterprise columns and snapshots, and the placement market's
    (movers x pools) matrices with the fleet grown fourfold. Fitted to measured peaks (peak
    RSS 260 MB default run, 1.2 GB at 50,000 enterprises, 1.1 GB at 1,500 data centers;
    docs/reliability.md); errs high by up to 1.4x."""
    e = effective_enterprises(config)
    years = config.run.n_months / 12 + 1
    dcs = config.supply.n_datacenters * 4
    market = min(e * 6, e * 6 // 10 + 1000) * dcs * BYTES_PER_MARKET_CELL
    return (e * BYTES_PER_ENTERPRISE + e * years * BYTES_PER_ENTERPRISE_YEAR + market) / 1e6 \
        + BASE_MB


def check_limits(config: ModelConfig) -> None:
    """Refuse up front a run that would need more memory than allowed, naming the agent count
    that is furthest above its default size."""
    need = estimate_memory_mb(config)
    if need > config.run.max_memory_mb:
        sizes = {"demand.n_enterprises": config.demand.n_enterprises,
                 "supply.n_datacenters": config.supply.n_datacenters}
        key = max(sizes, key=lambda k: sizes[k] / REFERENCE_SIZE[k])
        if effective_enterprises(config) > 2 * config.demand.n_enterprises \
                and key == "demand.n_enterprises":
            key = "demand.initial_load_mw"                 # the splits, not the count
            sizes[key] = config.demand.initial_load_mw
        raise ConfigError(key, sizes[key], f"needs ~{need:,.0f} MB, over run.max_memory_mb "
                          f"({config.run.max_memory_mb:,.0f} MB)")


def simulate(cfg: DictConfig | dict, progress: bool = False) -> RunResult:
    """Validate the config and run the model over the whole horizon."""
    container = to_container(cfg)      # resolved once: validated, then kept with the result
    config = validate(container)
    check_limits(config)
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    model = EDWCModel(config)
    total = config.run.n_months - 1
    while not model.finished:
        model.step()
        done = model.month - config.run.start
        if progress and (done % 12 == 0 or done == total):
            print(f"\r  simulating {done}/{total} months", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    wall = time.perf_counter() - t0
    manifest = {
        "scenario": config.scenario, "seed": config.run.seed,
        "start": started.isoformat(), "end": dt.datetime.now(dt.UTC).isoformat(),
        "wall_time_s": round(wall, 3), "status": "complete",
        "months": config.run.n_months, "enterprises": config.demand.n_enterprises,
        "datacenters_built": model.fleet.n, "git_commit": git_commit(),
        "packages": package_versions(), "host": socket.gethostname(),
    }
    return RunResult(clip_float_noise(model.recorder.tables()), manifest, container)


def clip_float_noise(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Unserved load is demand minus placed load, so float rounding leaves values like
    -7e-12 MW; clip them to 0 (nothing else is changed)."""
    for table in tables.values():
        for col in [c for c in table.columns if c.startswith("unserved")]:
            table[col] = table[col].clip(lower=0.0)
    return tables


def estimate_output_bytes(config: ModelConfig) -> float:
    """Size of a run folder, bytes: the yearly enterprise snapshots dominate, then monthly
    data-center, flow and node rows. Fitted to measured folders (7.5 MB default run, 8.7 MB
    at 50,000 enterprises for 2 years, 1.3 MB at 1,500 DCs for 2 years); errs high by up to
    1.7x (docs/reliability.md)."""
    years = config.run.n_months / 12 + 1
    months = config.run.n_months
    return (BYTES_PER_ENTERPRISE_ROW * effective_enterprises(config) * years
            + BYTES_PER_DC_MONTH * config.supply.n_datacenters * 4 * months
            + BYTES_PER_MONTH * months + 100_000)


def _protected(path: Path) -> Path | None:
    """The project folder `path` lies in or would replace (sources, conf, .git), if any."""
    if ".git" in path.parts:
        return next(p for p in [path, *path.parents] if p.name == ".git")
    for folder in protected_dirs():
        if path == folder or folder in path.parents or path in folder.parents:
            return folder
    return None


def resolve_out_dir(run: Run, base: Path | None = None, need_bytes: float = 0.0) -> Path:
    """The run folder: `run.out_dir` taken from `base` (default: the current folder). It must
    lie inside `base` unless `run.allow_outside_root` is true; never inside `.git`, the
    package sources or `conf/`; an existing path must be an empty folder or a complete run;
    its nearest existing folder must be writable with `need_bytes` free (ConfigError)."""
    base = (Path.cwd() if base is None else base).resolve()
    raw = Path(os.path.normpath(base / run.out_dir))          # an absolute out_dir wins
    path = raw.parent.resolve() / raw.name                    # the last part: not followed
    if path == base or path in base.parents:
        raise ConfigError("run.out_dir", run.out_dir, "would replace the current folder itself")
    if base not in path.parents and not run.allow_outside_root:
        raise ConfigError("run.out_dir", run.out_dir,
                          f"is outside the current folder {base}; set "
                          "run.allow_outside_root=true to write there")
    folder = _protected(path)
    if folder is not None:
        raise ConfigError("run.out_dir", run.out_dir,
                          f"is inside or would replace the project's {folder.name}/ folder "
                          f"({folder}); write runs elsewhere, e.g. outputs/")
    problem = target_problem(path, need_bytes)
    if problem:
        raise ConfigError("run.out_dir", run.out_dir, problem)
    return path


def print_summary(result: RunResult, out: Path) -> None:
    table = summary_table(result.tables["national"], result.tables["node"])
    with pd.option_context("display.float_format", "{:,.2f}".format, "display.width", 120):
        print(f"\nEDWC run '{result.manifest['scenario']}', seed {result.manifest['seed']}, "
              f"{result.manifest['months']} months in {result.manifest['wall_time_s']:.1f} s")
        print(table.to_string())
    print(f"\nTables, config and manifest written to {out}")


def check_before_running(cfg: DictConfig) -> Path:
    """Everything checked before a run starts: the schema, the memory limit and the run
    folder. Returns the run folder; raises ConfigError."""
    config = validate(cfg)
    check_limits(config)
    return resolve_out_dir(config.run, need_bytes=estimate_output_bytes(config))


def run_command(cfg: DictConfig, after: Callable[[Path, DictConfig], None] | None = None
                ) -> int:
    """The command's work for a composed config: check, run, write, summarise, then
    `after(run folder, cfg)`. Inside a `-m` job the run folder is the job's own
    (model.cli.job_out_dir). Returns the exit code: 0, or 2 after printing the one-line
    ConfigError (nothing written)."""
    cfg = cli.job_out_dir(cfg)
    try:
        out = check_before_running(cfg)
        result = simulate(cfg, progress=not cfg.run.quiet)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    out = write_run(result, out)
    if not cfg.run.quiet:
        print_summary(result, out)
    if after is not None:
        after(out, cfg)
    return 0


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> None:
    code = run_command(cfg)
    if code:
        sys.exit(code)


def main() -> None:
    """Entry point (`edwc-run`, `python -m model.run`): a Hydra app; its flags (`--cfg`,
    `--help`, `--info`, `-m`) pass through, bad input is refused in one line first."""
    sys.exit(cli.launch(_hydra_main, "config", check=check_before_running))


if __name__ == "__main__":
    main()
