"""The EDWC model. Importing the package defers the modules Mesa imports that the model never
uses (networkx, scipy.spatial; model/_lazy_imports.py), before any ``import mesa``."""

from model._lazy_imports import defer

defer()
