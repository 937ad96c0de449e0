"""The switch between compiled helpers and their references: with EDWC_KERNEL=numpy in the
environment every compiled piece (the market draw, model/_market_kernel.pyx; the recorder's
segment pass, the grid sums and the streams' helpers, model/_kernels.pyx) uses its numpy or
Python reference, as a checkout where they were not built does."""

from __future__ import annotations

import os


def compiled_wanted() -> bool:
    """Whether compiled helpers are to be used where they are built (EDWC_KERNEL is not
    "numpy")."""
    return os.environ.get("EDWC_KERNEL", "compiled") != "numpy"
