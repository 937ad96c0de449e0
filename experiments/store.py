"""Sweep store: one Parquet shard (run folder) per run, a DuckDB index of runs, and a lazy
loader (DESIGN §10).

Layout of a sweep folder::

    sweep.json        sweep manifest: fingerprints, design, seeds, git, packages, host, times
    config.yaml       the resolved base config of the sweep
    design.parquet    one row per run: run_id, point, seed, axis values (x:<key> raw samples)
    index.duckdb      table ``runs`` (status, wall time, error traceback) and ``design``;
                      views ``run_params`` and one per output table joined with run parameters
    runs/<run_id>/    the run's folder as written by ``model.outputs.write_run`` (atomic)

A run folder that exists holds a complete run: ``write_run`` renames it into place only when
every file is written. Only the sweep process writes the index (single writer).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import pandas as pd

from model.outputs import umask

MANIFEST = "sweep.json"
DESIGN = "design.parquet"
INDEX = "index.duckdb"
RUNS = "runs"
RUN_MANIFEST = "manifest.json"

RUNS_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY,
    point BIGINT,
    seed BIGINT,
    status VARCHAR,          -- done | failed
    attempts INTEGER,
    wall_s DOUBLE,           -- seconds for simulate + write, in the worker
    started VARCHAR,         -- ISO 8601 UTC
    finished VARCHAR,
    host VARCHAR,
    pid INTEGER,
    error VARCHAR            -- traceback of a failed run
)
"""


def atomic_write_text(path: Path, text: str) -> None:
    """Write a text file via a temp file in the same folder and an atomic rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~umask())           # mkstemp makes it owner-only (0600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_parquet(path: Path, frame: pd.DataFrame) -> None:
    """Write a DataFrame to Parquet via a temp file and an atomic rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, 0o666 & ~umask())               # as every other file: umask, not 0600
    os.close(fd)
    try:
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_manifest(sweep_dir: Path) -> dict[str, Any] | None:
    """The sweep manifest, or None if the folder holds no sweep yet."""
    path = Path(sweep_dir) / MANIFEST
    return json.loads(path.read_text()) if path.exists() else None


def write_manifest(sweep_dir: Path, manifest: dict[str, Any]) -> None:
    """Write the sweep manifest atomically."""
    atomic_write_text(Path(sweep_dir) / MANIFEST, json.dumps(manifest, indent=2, default=str))


def completed_runs(sweep_dir: Path, run_ids: Iterable[str]) -> set[str]:
    """Run ids whose folder is complete (it exists and holds its manifest)."""
    runs = Path(sweep_dir) / RUNS
    return {r for r in run_ids if (runs / r / RUN_MANIFEST).is_file()}


def remove_partial_runs(sweep_dir: Path, run_ids: Iterable[str]) -> list[str]:
    """Delete leftovers of killed runs (temp folders, folders without a manifest) under
    ``runs/``; returns the names removed."""
    runs = Path(sweep_dir) / RUNS
    if not runs.is_dir():
        return []
    keep = completed_runs(sweep_dir, run_ids)
    removed = []
    for entry in sorted(runs.iterdir()):
        if entry.name in keep:
            continue
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()
        removed.append(entry.name)
    return removed


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_names(sweep_dir: Path) -> list[str]:
    """Output tables present in the sweep's run folders (e.g. national, node, flows)."""
    runs = Path(sweep_dir) / RUNS
    if not runs.is_dir():
        return []
    for run in sorted(runs.iterdir()):
        if (run / RUN_MANIFEST).is_file():
            return sorted(p.stem for p in run.glob("*.parquet"))
    return []


def create_views(con: duckdb.DuckDBPyConnection, sweep_dir: Path, design_rel: str,
                 temporary: bool = False) -> None:
    """Create ``run_params`` and one view per output table, joining each table's rows with
    the run's id, point, seed and parameter values (paths are absolute)."""
    kind = "TEMP VIEW" if temporary else "VIEW"
    root = Path(sweep_dir).resolve() / RUNS
    con.execute(f"CREATE OR REPLACE {kind} run_params AS SELECT * FROM {design_rel}")
    for name in table_names(sweep_dir):
        glob = _sql_str(str(root / "*" / f"{name}.parquet"))
        pattern = _sql_str(rf"([^/\\]+)[/\\]{name}\.parquet$")
        con.execute(
            f"CREATE OR REPLACE {kind} {_ident(name)} AS "
            f"SELECT p.*, t.* EXCLUDE (filename) "
            f"FROM read_parquet({glob}, filename=true, union_by_name=true) t "
            f"JOIN run_params p ON p.run_id = regexp_extract(t.filename, {pattern}, 1)"
        )


@dataclass
class SweepIndex:
    """The DuckDB index of one sweep; written only by the sweep process. Rows are buffered
    and written at most every FLUSH_S seconds (a lost buffer is harmless: completed runs
    are recognised from their folders, failed ones are simply retried)."""

    con: duckdb.DuckDBPyConnection
    sweep_dir: Path
    attempts: dict[str, int] = field(default_factory=dict)
    pending: list[list[Any]] = field(default_factory=list)
    flushed: float = field(default_factory=time.monotonic)

    FLUSH_S: ClassVar[float] = 2.0

    @classmethod
    def open(cls, sweep_dir: Path, design: pd.DataFrame) -> SweepIndex:
        """Open (or create) the index and load the design table into it."""
        con = duckdb.connect(str(Path(sweep_dir) / INDEX))
        con.execute(RUNS_SCHEMA)
        con.register("design_df", design)
        con.execute("CREATE OR REPLACE TABLE design AS SELECT * FROM design_df")
        con.unregister("design_df")
        attempts = dict(con.execute("SELECT run_id, attempts FROM runs").fetchall())
        return cls(con, Path(sweep_dir), attempts)

    def statuses(self) -> dict[str, str]:
        """Status (done | failed) of every run written to the index so far."""
        return dict(self.con.execute("SELECT run_id, status FROM runs").fetchall())

    def record(self, rec: dict[str, Any]) -> None:
        """Insert or replace one run's status row (attempts counts every try)."""
        self.attempts[rec["run_id"]] = self.attempts.get(rec["run_id"], 0) + 1
        self.pending.append(
            [rec["run_id"], rec["point"], rec["seed"], rec["status"],
             self.attempts[rec["run_id"]], rec.get("wall_s"), rec.get("started"),
             rec.get("finished"), rec.get("host"), rec.get("pid"), rec.get("error")])
        if time.monotonic() - self.flushed > self.FLUSH_S:
            self.flush()

    def flush(self) -> None:
        """Write buffered rows in one transaction."""
        if self.pending:
            self.con.executemany(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                self.pending)
            self.pending.clear()
        self.flushed = time.monotonic()

    def mark_done_from_disk(self, run_ids: Iterable[str], design: pd.DataFrame) -> None:
        """Record runs whose folder is complete but whose row is missing or stale (e.g. the
        sweep was killed between a run's write and its index update)."""
        statuses = self.statuses()
        meta = design.set_index("run_id")
        for rid in run_ids:
            if statuses.get(rid) == "done":
                continue
            man = json.loads((self.sweep_dir / RUNS / rid / RUN_MANIFEST).read_text())
            self.record({"run_id": rid, "point": int(meta.at[rid, "point"]),
                         "seed": int(meta.at[rid, "seed"]), "status": "done",
                         "wall_s": man.get("wall_time_s"), "host": man.get("host"),
                         "started": man.get("sweep", {}).get("started"),
                         "finished": man.get("end")})

    def close(self) -> None:
        """Write buffered rows, refresh the views over the shards and close the file."""
        self.flush()
        create_views(self.con, self.sweep_dir, "design")
        self.con.close()


class Sweep:
    """A finished (or partial) sweep, loaded lazily: nothing is read until asked for.

    ``sweep.runs`` and ``sweep.design`` are DataFrames; ``sweep.national`` (or any output
    table name) is that table over every completed run, joined with run_id, point, seed and
    the parameter values; ``sweep.relation(name)`` gives a lazy DuckDB relation for filtering
    and aggregating before loading; ``sweep.sql(query)`` runs SQL over those views.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if read_manifest(self.path) is None:
            raise FileNotFoundError(f"no sweep at {self.path} ({MANIFEST} missing)")
        self.manifest: dict[str, Any] = read_manifest(self.path)
        self._cache: dict[str, pd.DataFrame] = {}

    @cached_property
    def con(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect()
        design = _sql_str(str((self.path / DESIGN).resolve()))
        create_views(con, self.path, f"read_parquet({design})", temporary=True)
        return con

    @property
    def tables(self) -> list[str]:
        """Names of the output tables in this sweep."""
        return table_names(self.path)

    @cached_property
    def design(self) -> pd.DataFrame:
        """One row per run: run_id, point, seed and the parameter values."""
        return pd.read_parquet(self.path / DESIGN)

    @cached_property
    def runs(self) -> pd.DataFrame:
        """Index rows (status, attempts, wall_s, error) for every run, with design values;
        runs never attempted have status ``pending`` (while a sweep is running, only the
        status, read from the run folders)."""
        try:
            idx = duckdb.connect(str(self.path / INDEX), read_only=True)
        except duckdb.Error:        # a running sweep holds the index: read the run folders
            done = completed_runs(self.path, self.design["run_id"])
            runs = self.design.copy()
            runs["status"] = runs["run_id"].map(lambda r: "done" if r in done else "pending")
            return runs
        try:
            status = idx.execute("SELECT * EXCLUDE (point, seed) FROM runs").df()
        finally:
            idx.close()
        runs = self.design.merge(status, on="run_id", how="left")
        runs["status"] = runs["status"].fillna("pending")
        return runs

    def relation(self, name: str) -> duckdb.DuckDBPyRelation:
        """A lazy DuckDB relation over one output table (all completed runs)."""
        if name not in self.tables and name != "run_params":
            raise KeyError(f"sweep {self.path} has no table {name!r} (has {self.tables})")
        return self.con.table(name)

    def table(self, name: str) -> pd.DataFrame:
        """One output table over all completed runs, as a DataFrame (cached)."""
        if name not in self._cache:
            self._cache[name] = self.relation(name).df()
        return self._cache[name]

    def sql(self, query: str) -> pd.DataFrame:
        """Run SQL over the views (run_params and the output tables)."""
        return self.con.execute(query).df()

    def __getattr__(self, name: str) -> pd.DataFrame:
        if name.startswith("_") or name not in table_names(self.__dict__.get("path", Path())):
            raise AttributeError(name)
        return self.table(name)


def load_sweep(path: str | os.PathLike[str]) -> Sweep:
    """Open a sweep folder for lazy reading (see :class:`Sweep`)."""
    return Sweep(path)
