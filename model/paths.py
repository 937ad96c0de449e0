"""Where the project's files are: the config folder and the source folders.

In a checkout, ``conf/`` sits beside the packages (the design card's top level). An installed
wheel ships the same files as the data package ``edwc_conf`` (pyproject maps ``conf/`` to it),
so every command composes its config from any folder. Outputs never go here: relative output
paths are taken from the current folder (``outputs/`` by default).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]   # the checkout, or site-packages
PACKAGES = ("model", "agents", "experiments")         # the project's Python packages
CONF_PACKAGE = "edwc_conf"                            # conf/ as installed by the wheel


def find_conf_dir() -> Path:
    """The config folder: ``<checkout>/conf`` if present, else the installed ``edwc_conf``."""
    local = PACKAGE_ROOT / "conf"
    if (local / "config.yaml").is_file():
        return local
    spec = importlib.util.find_spec(CONF_PACKAGE)
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / "config.yaml").is_file():
            return Path(location).resolve()
    raise RuntimeError(f"EDWC config folder not found (neither {local} nor the installed "
                       f"package {CONF_PACKAGE}); reinstall the package")


CONF_DIR = find_conf_dir()


def checkout_root() -> Path | None:
    """The git checkout holding the packages, or None for an installed wheel."""
    return PACKAGE_ROOT if (PACKAGE_ROOT / "conf" / "config.yaml").is_file() else None


def protected_dirs() -> tuple[Path, ...]:
    """Folders no output may be written into: the package sources, the config folder and
    the checkout's ``.git``."""
    out = [PACKAGE_ROOT / p for p in PACKAGES] + [CONF_DIR]
    root = checkout_root()
    if root is not None:
        out.append(root / ".git")
    return tuple(p.resolve() for p in out)
