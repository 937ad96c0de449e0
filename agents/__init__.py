"""The model's agents. ``import model`` first: it defers Mesa's unused modules before the
agent modules ``import mesa`` (model/_lazy_imports.py)."""

import model  # noqa: F401
