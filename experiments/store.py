"""Sweep store: hive-partitioned Parquet shards, one per run and table, a DuckDB index of
runs, and a lazy loader (docs/sweeps.md).

Layout of a sweep folder::

    sweep.json        sweep manifest: fingerprints, design, seeds, git, packages, host, times
    config.yaml       the resolved base config of the sweep
    design.parquet    one row per run: run_id, point, seed, axis values (x:<key> raw samples)
    index.duckdb      table ``runs`` (status, wall time, error traceback) and ``design``;
                      views ``run_params`` and one per output table joined with run parameters
                      (relative paths: open it from the sweep folder)
    runs/<table>/run_id=<run_id>/part-0.parquet
                      one output table (national, node, flows, …) of one run, hive-partitioned:
                      ``pd.read_parquet("<sweep>/runs/national")`` gives every run, with run_id
    manifests/<run_id>/manifest.json, config.yaml
                      the run's manifest (with its design row) and resolved config

A run is complete when its manifest exists: its tables are renamed into place first, the
manifest folder last; a resumed sweep also checks each manifest (run id, sweep fingerprint,
status) and each table's Parquet footer, and redoes runs that fail. A running sweep holds
an exclusive lock on ``<sweep>/.lock``; only it writes the folder and the index.
"""

from __future__ import annotations

import fcntl
import hashlib
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
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from model.columns import arrow_table
from model.outputs import TABLES, YAML_DUMPER, umask

MANIFEST = "sweep.json"
DESIGN = "design.parquet"
INDEX = "index.duckdb"
RUNS = "runs"                 # table shards: runs/<table>/run_id=<run_id>/part-0.parquet
MANIFESTS = "manifests"       # per run: manifests/<run_id>/{manifest.json, config.yaml}
RUN_MANIFEST = "manifest.json"
PART = "part-0.parquet"
LOCK = ".lock"                # flock'ed by the running sweep

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


def shard_path(sweep_dir: Path, table: str, run_id: str) -> Path:
    """The Parquet file of one output table of one run."""
    return Path(sweep_dir) / RUNS / table / f"run_id={run_id}" / PART


def run_manifest_path(sweep_dir: Path, run_id: str) -> Path:
    """The manifest of one run (exists only once the run is complete)."""
    return Path(sweep_dir) / MANIFESTS / run_id / RUN_MANIFEST


def _temp_dir(parent: Path, name: str) -> Path:
    """A fresh hidden folder beside ``parent/name`` with the umask's permissions."""
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=parent))
    tmp.chmod(0o777 & ~umask())                   # mkdtemp makes it owner-only
    return tmp


def _rename_into_place(tmp: Path, final: Path) -> None:
    """Replace ``final`` (a folder left by an earlier try, if any) with ``tmp``."""
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)


def write_shard(sweep_dir: Path, run_id: str, result: Any) -> None:
    """Write one run (``result.tables``, ``.config``, ``.manifest``) into the sweep store:
    each table into its partition folder, then the manifest folder, which marks the run
    complete. A killed write leaves no manifest, so the run is redone on resume."""
    sweep_dir = Path(sweep_dir)
    written = [name for name in TABLES if name in result.tables]
    for name in written:
        final = shard_path(sweep_dir, name, run_id).parent
        tmp = _temp_dir(final.parent, final.name)
        try:
            pq.write_table(arrow_table(name, result.tables[name]), tmp / PART)
            _rename_into_place(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    final = run_manifest_path(sweep_dir, run_id).parent
    tmp = _temp_dir(final.parent, run_id)
    try:
        (tmp / "config.yaml").write_text(yaml.dump(result.config, Dumper=YAML_DUMPER,
                                                   sort_keys=False))
        manifest = {**result.manifest, "tables": written}
        (tmp / RUN_MANIFEST).write_text(json.dumps(manifest, indent=2, default=str))
        _rename_into_place(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class SweepLocked(RuntimeError):
    """Another process holds the sweep folder's lock."""


@dataclass
class SweepLock:
    """An exclusive lock on a sweep folder (``flock`` on ``<sweep>/.lock``), held for the
    whole sweep; the kernel releases it when the process ends, however it ends."""

    path: Path
    fd: int

    @classmethod
    def acquire(cls, sweep_dir: Path) -> SweepLock:
        """Create the folder if needed and take the lock, or raise SweepLocked (the holder's
        pid in the message) or OSError (e.g. a read-only or unwritable folder)."""
        sweep_dir = Path(sweep_dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        path = sweep_dir / LOCK
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise SweepLocked(f"another sweep (pid {holder}) is running on this folder") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd)

    def release(self) -> None:
        """Drop the lock (the file stays; it is only a lock)."""
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def check_writable(sweep_dir: Path) -> None:
    """Raise OSError unless a file can be created in the sweep folder (or, if it does not
    exist yet, in its nearest existing parent); the probe file is removed at once."""
    folder = Path(sweep_dir)
    while not folder.exists():
        folder = folder.parent
    fd, probe = tempfile.mkstemp(prefix=".write-probe-", dir=folder)
    os.close(fd)
    os.unlink(probe)


def run_problem(sweep_dir: Path, run_id: str, fingerprint: dict[str, str]) -> str | None:
    """Why a run with a manifest is not a good finished run of this sweep, or None: its
    manifest must parse, name this run and this sweep's fingerprint and say complete, and
    every table's Parquet footer must open."""
    try:
        manifest = json.loads(run_manifest_path(sweep_dir, run_id).read_text())
    except (OSError, ValueError):
        return "unreadable manifest"
    meta = manifest.get("sweep") if isinstance(manifest, dict) else None
    if not isinstance(meta, dict) or meta.get("run_id") != run_id:
        return "manifest of another run"
    if meta.get("fingerprint") != fingerprint:
        return "run of another sweep"
    if manifest.get("status") != "complete":
        return f"status {manifest.get('status')!r}"
    for name in manifest.get("tables", TABLES):
        try:
            pq.read_metadata(shard_path(sweep_dir, name, run_id))
        except (OSError, ValueError) as err:        # missing, truncated, not Parquet
            return f"{name} table {'missing' if isinstance(err, FileNotFoundError) else 'bad'}"
    return None


def completed_runs(sweep_dir: Path, run_ids: Iterable[str]) -> set[str]:
    """Run ids whose manifest exists (the last file a run writes)."""
    return {r for r in run_ids if run_manifest_path(sweep_dir, r).is_file()}


def remove_partial_runs(sweep_dir: Path, keep: Iterable[str]) -> list[str]:
    """Delete everything under ``runs/`` and ``manifests/`` that is not part of a run in
    ``keep`` (temp folders and partitions of killed runs, bad or foreign runs); returns the
    paths removed, relative to the sweep folder."""
    sweep_dir = Path(sweep_dir)
    keep = set(keep)
    removed = []
    candidates = []
    if (sweep_dir / MANIFESTS).is_dir():
        candidates += [(e, e.name) for e in (sweep_dir / MANIFESTS).iterdir()]
    if (sweep_dir / RUNS).is_dir():
        for table in (sweep_dir / RUNS).iterdir():
            if table.is_dir() and not table.name.startswith("."):
                candidates += [(e, e.name.removeprefix("run_id=")) for e in table.iterdir()]
            else:
                candidates.append((table, ""))
    for entry, rid in sorted(candidates):
        if rid in keep and not entry.name.startswith("."):
            continue
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()
        removed.append(str(entry.relative_to(sweep_dir)))
    return removed


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_names(sweep_dir: Path) -> list[str]:
    """Output tables present in the sweep's store (e.g. national, node, flows)."""
    runs = Path(sweep_dir) / RUNS
    if not runs.is_dir():
        return []
    return sorted(t.name for t in runs.iterdir()
                  if t.is_dir() and not t.name.startswith(".") and any(t.glob(f"*/{PART}")))


def create_views(con: duckdb.DuckDBPyConnection, sweep_dir: Path, design_rel: str,
                 temporary: bool = False, root: str | None = None) -> None:
    """Create ``run_params`` and one view per output table, joining each table's rows with
    the run's id, point, seed and parameter values. ``root`` prefixes the shard paths
    (default ``runs``: relative, resolved from the current folder when a view is queried)."""
    kind = "TEMP VIEW" if temporary else "VIEW"
    con.execute(f"CREATE OR REPLACE {kind} run_params AS SELECT * FROM {design_rel}")
    for name in table_names(sweep_dir):
        glob = _sql_str(f"{root or RUNS}/{name}/*/{PART}")
        con.execute(
            f"CREATE OR REPLACE {kind} {_ident(name)} AS "
            f"SELECT p.*, t.* EXCLUDE (run_id) "
            f"FROM read_parquet({glob}, hive_partitioning=true, union_by_name=true) t "
            f"JOIN run_params p ON p.run_id = t.run_id"
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
            man = json.loads(run_manifest_path(self.sweep_dir, rid).read_text())
            self.record({"run_id": rid, "point": int(meta.at[rid, "point"]),
                         "seed": int(meta.at[rid, "seed"]), "status": "done",
                         "wall_s": man.get("wall_time_s"), "host": man.get("host"),
                         "started": man.get("sweep", {}).get("started"),
                         "finished": man.get("end")})

    def close(self) -> None:
        """Write buffered rows, refresh the views over the shards and close the file."""
        self.flush()
        # relative shard paths bind against the sweep folder here and against the current
        # folder when queried (file_search_path is not stored in the database file)
        self.con.execute(f"SET file_search_path = {_sql_str(str(self.sweep_dir.resolve()))}")
        create_views(self.con, self.sweep_dir, "design")
        self.con.execute("RESET file_search_path")
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
        create_views(con, self.path, f"read_parquet({design})", temporary=True,
                     root=str((self.path / RUNS).resolve()))
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


def table_digests(sweep_dir: str | os.PathLike[str]) -> dict[str, str]:
    """SHA-256 of every shard's contents (Arrow IPC of the table, schema metadata dropped),
    keyed ``<table>/run_id=<id>``: two sweeps with equal digests hold identical tables."""
    out = {}
    for path in sorted((Path(sweep_dir) / RUNS).glob(f"*/run_id=*/{PART}")):
        table = pq.read_table(path).replace_schema_metadata(None)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        out[f"{path.parent.parent.name}/{path.parent.name}"] = hashlib.sha256(
            sink.getvalue()).hexdigest()
    return out
