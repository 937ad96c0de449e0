"""Run outputs: Parquet tables, resolved config and manifest, written atomically (DESIGN §6)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import yaml

from model.columns import arrow_table
from model.outcomes import OUTCOMES, SUMMARY

YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)   # libyaml when available
TABLES = ("national", "node", "flows", "lines", "datacenters", "enterprises")


def write_run(result, out_dir: str | os.PathLike) -> Path:
    """Write a run's tables, config and manifest into `out_dir`, all or nothing.

    Files go to a temporary sibling folder first, which replaces `out_dir` by rename only
    once every file is complete; a killed write leaves no folder that looks complete.
    An existing `out_dir` is replaced only if it is empty or a previous run folder.
    """
    out = Path(out_dir)
    if out.is_file() or (out.is_dir() and any(out.iterdir())
                         and not (out / "manifest.json").is_file()):
        raise FileExistsError(f"{out} exists and is not a run folder; refusing to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    tmp.chmod(0o777 & ~_umask())                  # mkdtemp makes it owner-only
    try:
        for name in TABLES:
            pq.write_table(arrow_table(name, result.tables[name]), tmp / f"{name}.parquet")
        (tmp / "config.yaml").write_text(yaml.dump(result.config, Dumper=YAML_DUMPER,
                                                   sort_keys=False))
        (tmp / "manifest.json").write_text(json.dumps(result.manifest, indent=2, default=str))
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def read_run(run_dir: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """Load a run folder's tables."""
    run = Path(run_dir)
    return {name: pd.read_parquet(run / f"{name}.parquet") for name in TABLES}


def summary_table(national: pd.DataFrame, node: pd.DataFrame) -> pd.DataFrame:
    """First- and last-year key numbers (`model.outcomes.SUMMARY`): west share, utilisation
    by role, PUE, TWh, MtCO2, racks, unserved MW (yearly means of monthly values; TWh and
    MtCO2 are yearly totals)."""
    years = sorted(national["year"].unique())
    picks = [years[0], years[-1]] if len(years) > 1 else years
    rows = {}
    for y in picks:
        rows[str(y)] = {OUTCOMES[name].label: OUTCOMES[name].display(national, y)
                        for name in SUMMARY}
    return pd.DataFrame(rows)
