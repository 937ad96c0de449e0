"""The sweep store is portable and self-describing: hive-partitioned shards that pandas,
pyarrow, polars and DuckDB read directly with run_id as a column, index views with relative
paths (a copied sweep folder still queries), months as dates, units in the field metadata
and every column documented in docs/outputs.md with the same unit."""

import re
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from experiments import store
from experiments.sweep import execute_plan, plan_from_overrides
from model.columns import COLUMNS, month_start
from model.outputs import TABLES

ROOT = Path(__file__).resolve().parents[1]
RUN_IDS = {f"p0000{p}-s{s}" for p in range(4) for s in (0, 1)}


@pytest.fixture(scope="module")
def copied_sweep(tmp_path_factory) -> Path:
    """A smoke sweep (8 runs, 2022) written in one folder, then copied to another and the
    original deleted: everything below reads the copy."""
    original = tmp_path_factory.mktemp("written") / "sweep"
    execute_plan(plan_from_overrides(["experiment=smoke", "sweep.progress=false",
                                      "sweep.executor=serial", f"sweep.dir={original}"]))
    copy = tmp_path_factory.mktemp("moved") / "elsewhere"
    shutil.copytree(original, copy)
    shutil.rmtree(original)
    return copy


def test_pandas_and_pyarrow_read_a_table_folder_with_run_id(copied_sweep):
    national = pd.read_parquet(copied_sweep / store.RUNS / "national")
    assert set(national["run_id"].astype(str)) == RUN_IDS and len(national) == 8 * 12
    assert national.groupby("run_id", observed=True)["month"].nunique().eq(12).all()
    node = ds.dataset(copied_sweep / store.RUNS / "node", partitioning="hive").to_table()
    assert set(node.column("run_id").to_pylist()) == RUN_IDS
    assert node.num_rows == 8 * 12 * 12                    # runs × months × nodes


def test_polars_reads_a_table_folder_with_run_id(copied_sweep):
    pl = pytest.importorskip("polars", reason="polars is not installed (optional reader)")
    flows = pl.read_parquet(copied_sweep / store.RUNS / "flows", hive_partitioning=True)
    assert set(flows["run_id"].unique().to_list()) == RUN_IDS


def test_index_views_of_a_copied_sweep_query_from_its_folder(copied_sweep, monkeypatch):
    monkeypatch.chdir(copied_sweep)
    with duckdb.connect(store.INDEX, read_only=True) as index:
        rows = index.execute(
            'SELECT run_id, count(*), max("supply.optimism") FROM national GROUP BY 1').fetchall()
        assert {r[0] for r in rows} == RUN_IDS and {r[1] for r in rows} == {12}
        assert index.execute("SELECT count(*) FROM runs WHERE status = 'done'").fetchone() == (8,)
        for table in TABLES:
            assert index.execute(f"SELECT count(DISTINCT run_id) FROM {table}").fetchone() == (8,)


def test_loader_of_a_copied_sweep_reads_from_any_folder(copied_sweep, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    sweep = store.load_sweep(copied_sweep)
    assert set(sweep.tables) == set(TABLES)
    assert set(sweep.national["run_id"]) == RUN_IDS


def test_months_are_dates_in_every_table(copied_sweep):
    for table in TABLES:
        schema = pq.read_schema(store.shard_path(copied_sweep, table, "p00000-s0"))
        for name in ("month", "built", "online"):
            if name in schema.names:
                assert str(schema.field(name).type) == "timestamp[us]", (table, name)
    dc = pd.read_parquet(store.shard_path(copied_sweep, "datacenters", "p00000-s0"))
    assert dc["online"].min() >= dc["built"].min() and dc["built"].dt.day.eq(1).all()
    assert month_start(pd.Series([2022 * 12 + 11])).iat[0] == pd.Timestamp("2022-12-01")


def test_every_column_has_its_unit_in_the_field_metadata(copied_sweep):
    for table in TABLES:
        schema = pq.read_schema(store.shard_path(copied_sweep, table, "p00000-s0"))
        assert set(schema.names) == set(COLUMNS[table]), table
        for field in schema:
            unit = field.metadata[b"unit"].decode()
            assert unit and unit == COLUMNS[table][field.name][0], (table, field.name)
            assert field.metadata[b"description"]


def test_docs_list_every_column_with_its_unit():
    text = (ROOT / "docs" / "outputs.md").read_text()
    for table, columns in COLUMNS.items():
        section = text.split(f"## {table}.parquet", 1)[1].split("\n## ", 1)[0]
        documented = dict(re.findall(r"^\| `([^`]+)` \| ([^|]+?) \|", section, re.M))
        assert documented == {c: unit for c, (unit, _) in columns.items()}, table
