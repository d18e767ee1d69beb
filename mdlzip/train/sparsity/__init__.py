"""Sparsifiers: how training learns which weights to keep.

Each method is one module with a ``Sparsifier`` subclass behind the interface in
``base.py``. The trainer adds ``alpha * penalty()`` to the loss (alpha = the
measured bits one nonzero weight costs in the weight codec, divided by the input
length, so the loss is the two-part codelength per byte), calls ``after_step``
after each optimizer step, and at the end asks for ``scores`` from which
``tamade`` picks the final mask by total codelength.
"""

from __future__ import annotations

import importlib

from ...errors import MdlzipError

# Kept free of torch imports, so that the command line can list the names cheaply.
NAMES = ("drr", "pmmp", "hardconcrete", "l1", "magnitude", "lq", "none")
# The smallest default-level enwik6 archive on the 2-core reference machine, the only one whose
# transformer pays beside the side models there (benchmarks/results/sparsifiers.md).
DEFAULT = "l1"


def make(name: str, model, steps: int):
    """The sparsifier called ``name`` for this model (a ``base.Sparsifier``)."""
    if name not in NAMES:
        raise MdlzipError(f"unknown sparsifier {name!r} (choose from {', '.join(NAMES)})")
    module = importlib.import_module(f"{__name__}.{name}")
    return module.METHOD(model, steps)
