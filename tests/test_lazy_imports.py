"""Deferred imports (model/_lazy_imports.py): the model path leaves networkx and scipy.spatial
unloaded, and a deferred module behaves as the ordinary module once it is used."""

from __future__ import annotations

import importlib.machinery
import inspect
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from model import _lazy_imports as L

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, cwd: Path = ROOT) -> dict:
    """Run `code` in a fresh interpreter of this checkout; its last stdout line as JSON."""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, check=True,
                         capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_model_path_does_not_load_networkx_or_scipy_spatial():
    got = run_python("""
        import json, sys
        import model.run, mesa
        from model._lazy_imports import is_deferred
        print(json.dumps({
            "deferred": {n: is_deferred(sys.modules[n]) for n in
                         ("networkx", "mesa.experimental.continuous_space")},
            "loaded": sorted(m for m in sys.modules
                             if m.startswith(("scipy.spatial", "networkx.")))}))
    """)
    assert got == {"deferred": {"networkx": True, "mesa.experimental.continuous_space": True},
                   "loaded": []}


def test_deferred_mesa_modules_load_when_used():
    got = run_python("""
        import json, sys
        import model.model, mesa, networkx
        from mesa.experimental.continuous_space import ContinuousSpace
        from model._lazy_imports import is_deferred
        space = ContinuousSpace([[0, 1], [0, 1]], random=None)
        grid = mesa.space.NetworkGrid(networkx.path_graph(3))
        print(json.dumps({"space": type(space).__name__, "nodes": len(grid.G),
                          "deferred": [n for n in ("networkx",
                                                   "mesa.experimental.continuous_space")
                                       if is_deferred(sys.modules[n])]}))
    """)
    assert got == {"space": "ContinuousSpace", "nodes": 3, "deferred": []}


@pytest.fixture
def toy_module(tmp_path, monkeypatch):
    """A module that counts how often its code ran, importable as `edwc_toy_deferred`."""
    (tmp_path / "edwc_toy_deferred.py").write_text(
        "import builtins\nbuiltins.edwc_toy_runs = getattr(builtins, 'edwc_toy_runs', 0) + 1\n"
        "VALUE = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "edwc_toy_deferred", raising=False)
    import builtins
    monkeypatch.setattr(builtins, "edwc_toy_runs", 0, raising=False)
    yield "edwc_toy_deferred"
    sys.modules.pop("edwc_toy_deferred", None)


def test_a_deferred_module_runs_once_on_first_attribute_not_on_its_metadata(toy_module):
    import builtins

    finder = L.defer([toy_module])
    try:
        import edwc_toy_deferred as toy
        again = __import__(toy_module)                  # a second import statement
        assert again is toy and L.is_deferred(toy) and builtins.edwc_toy_runs == 0
        assert toy.__name__ == toy_module and toy.__file__.endswith("edwc_toy_deferred.py")
        inspect.getmodule(compile("0", "/nonexistent/edwc_toy.py", "eval"))  # reads every
        # module's __file__, as Mesa's loggers do through inspect.stack()
        assert L.is_deferred(toy) and builtins.edwc_toy_runs == 0
        assert toy.VALUE == 42 and builtins.edwc_toy_runs == 1 and not L.is_deferred(toy)
        assert toy.VALUE == 42 and builtins.edwc_toy_runs == 1
    finally:
        finder.names = finder.names - {toy_module}


def test_defer_installs_one_finder_before_the_path_finder():
    first = L.defer(["edwc_no_such_module_a"])
    second = L.defer(["edwc_no_such_module_b"])
    try:
        assert first is second
        assert sys.meta_path.index(first) < sys.meta_path.index(importlib.machinery.PathFinder)
        assert sum(isinstance(f, L.DeferringFinder) for f in sys.meta_path) == 1
        with pytest.raises(ModuleNotFoundError):
            import edwc_no_such_module_a  # noqa: F401
    finally:
        first.names = first.names - {"edwc_no_such_module_a", "edwc_no_such_module_b"}
