"""Run outputs: Parquet tables, resolved config and manifest, written atomically
(docs/outputs.md)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import yaml

from model.columns import arrow_table
from model.outcomes import OUTCOMES, SUMMARY

YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)   # libyaml when available
TABLES = ("national", "node", "flows", "lines", "datacenters", "enterprises")
RUN_FILES = frozenset({f"{t}.parquet" for t in TABLES} | {"config.yaml", "manifest.json"})
RUN_EXTRAS = frozenset({"brief"})       # the folder `make run` adds (figures of the run)
MANIFEST_KEYS = frozenset({"scenario", "seed", "status", "months", "git_commit", "packages"})
TEMP_SUFFIX = 24                        # ".<name>.tmp-XXXXXXXX" / ".<name>.old-<pid>": extra bytes


def run_folder_problem(path: Path) -> str | None:
    """Why an existing folder may not be replaced by a run, or None if it may: it is empty,
    or a complete run of this project (a manifest with the expected keys and status, and
    nothing but the run's files and its `brief/`)."""
    entries = {p.name for p in path.iterdir()}
    if not entries:
        return None
    foreign = sorted(entries - RUN_FILES - RUN_EXTRAS)
    if foreign:
        more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        return f"exists and holds files that are not a run's ({', '.join(foreign[:3])}{more})"
    try:
        manifest = json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError):
        return "exists and has no readable manifest.json, so it is not a complete run"
    if not isinstance(manifest, dict) or not MANIFEST_KEYS <= manifest.keys() \
            or manifest.get("status") != "complete":
        return "exists and its manifest.json is not a complete run's"
    missing = sorted(RUN_FILES - entries)
    if missing:
        return f"exists but is an incomplete run (no {', '.join(missing)})"
    return None


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISREG, "a file"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a folder"


def _existing_ancestor(path: Path) -> Path:
    p = path
    while not os.path.lexists(p):
        p = p.parent
    return p


def target_problem(path: Path, need_bytes: float = 0.0) -> str | None:
    """Why `path` (absolute) cannot become a run folder, or None: it exists and is not a
    folder (device, FIFO, socket, file, link) or not a replaceable run; a name is too long;
    the nearest existing folder is not writable, on a read-only file system, or has less
    free room than `need_bytes`."""
    if os.path.lexists(path):
        mode = os.lstat(path).st_mode
        if not stat.S_ISDIR(mode):
            return f"exists and is {_kind(mode)}, not a folder; refusing to replace it"
        problem = run_folder_problem(path)
        if problem:
            return problem + "; refusing to replace it"
        base = path.parent
    else:
        base = _existing_ancestor(path)
        if not stat.S_ISDIR(os.stat(base).st_mode):
            return f"cannot be created: {base} is {_kind(os.lstat(base).st_mode)}"
    name_max = os.pathconf(base, "PC_NAME_MAX")
    for part in path.relative_to(base).parts:
        extra = TEMP_SUFFIX if part == path.name else 0
        if len(os.fsencode(part)) + extra > name_max:
            return (f"name {part[:24]}... is too long ({len(os.fsencode(part))} bytes; "
                    f"at most {name_max - extra} here)")
    if len(os.fsencode(str(path))) + TEMP_SUFFIX > os.pathconf(base, "PC_PATH_MAX"):
        return "path is too long"
    if os.statvfs(base).f_flag & os.ST_RDONLY:
        return f"is on a read-only file system ({base})"
    if not os.access(base, os.W_OK | os.X_OK):
        return f"is not writable ({base})"
    free = shutil.disk_usage(base).free
    if free < need_bytes:
        return (f"needs ~{need_bytes / 1e6:,.1f} MB of disk, {base} has "
                f"{free / 1e6:,.1f} MB free")
    return None


def write_run(result, out_dir: str | os.PathLike) -> Path:
    """Write a run's tables, config and manifest into `out_dir`, all or nothing.

    Files go to a temporary sibling folder first, which replaces `out_dir` by rename only
    once every file is complete; a killed write leaves no folder that looks complete.
    An existing `out_dir` is replaced only if it is empty or a complete run folder
    (`run_folder_problem`); anything else, a device, FIFO or file included, is refused.
    """
    out = Path(out_dir)
    if os.path.lexists(out):
        mode = os.lstat(out).st_mode
        problem = (run_folder_problem(out) if stat.S_ISDIR(mode)
                   else f"is {_kind(mode)}, not a folder")
        if problem:
            raise FileExistsError(f"{out} {problem}; refusing to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    tmp.chmod(0o777 & ~umask())                   # mkdtemp makes it owner-only
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


def umask() -> int:
    """The process's umask (files are written with 0o666 & ~umask, folders 0o777 & ~umask)."""
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
