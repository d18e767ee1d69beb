"""Coding methods: each turns the input into three byte strings and back.

Every method is a module with ``METHOD_ID`` (the byte stored in the archive),
``NAME`` and two functions::

    encode(data: bytes, options: Options) -> Encoded
    decode(encoded: Encoded, original_length: int, options: Options) -> bytes

and optionally ``describe(encoded, original_length) -> dict`` for model facts
shown by ``info``, and ``finds_structure(data) -> bool``, which the auto method
asks where the classic methods saved next to nothing (without it, the method is
not tried there).
The three parts map one-to-one onto the archive's sections, so the archive size
is exactly header + model + data (plus the container's fixed fields), which is
the two-part MDL codelength.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..errors import MdlzipError


@dataclass(frozen=True)
class Encoded:
    header: bytes = b""  # method parameters: model config, segment layout, ...
    model: bytes = b""  # the model part of the two-part code (empty for classic methods)
    data: bytes = b""  # the coded data


# progress(phase, done, total, info): phase is e.g. "train" or "encode"; info a dict
# of figures worth showing (bits per byte so far, ...). Never called with output to print.
ProgressFn = Callable[[str, int, int, dict], None]


def note(progress: Optional[ProgressFn], text: str) -> None:
    """A decision worth telling the user (the command shows these with -v): phase "note"."""
    if progress:
        progress("note", 0, 0, {"note": text})


# Phases expected to end sooner than this get no estimate: the bar is enough.
ESTIMATE_MIN_SECONDS = 10.0


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class Phase:
    """A long phase's progress: feeds progress(phase, done, total, info) and, once two reports have
    been timed, notes how long the rest should take at the rate between them (the first report
    comes after the phase's start-up, so that is left out). Nothing is timed without a callback."""

    def __init__(self, progress: Optional[ProgressFn], phase: str, total: int, unit: str = "bytes"):
        self.progress, self.phase, self.total, self.unit = progress, phase, total, unit
        self.done, self.first, self.estimated = 0, None, False

    def advance(self, n: int, info: Optional[dict] = None) -> None:
        self.update(self.done + n, info)

    def update(self, done: int, info: Optional[dict] = None) -> None:
        self.done = done
        if not self.progress:
            return
        self.progress(self.phase, done, self.total, info or {})
        now = time.monotonic()
        if self.first is None:
            self.first = (done, now)
            return
        timed = done - self.first[0]
        if self.estimated or timed <= 0:
            return
        self.estimated = True
        per_unit = (now - self.first[1]) / timed
        left = per_unit * (self.total - done)
        if left >= ESTIMATE_MIN_SECONDS:
            rate = f"{per_unit:.3f} s/step" if self.unit == "steps" else f"{1e-3 / max(per_unit, 1e-12):,.0f} kB/s"
            note(self.progress, f"{self.phase}: about {duration(left)} to go, {self.total - done:,} {self.unit} at {rate} (timed on {timed:,} {self.unit})")


@dataclass
class Options:
    level: int = 6
    device: str = "auto"
    threads: Optional[int] = None
    seed: int = 0
    progress: Optional[ProgressFn] = None
    # A loaded prior (``mdlzip.prior.Prior``): what to refine when compressing, and where to
    # look first when an archive names one.
    prior: Optional[object] = None
    extra: dict = field(default_factory=dict)  # method-specific settings (tests, benchmarks)


# id -> name, which is also the module's; ids are part of FORMAT.md and never reused.
NAME_OF_ID = {0: "stored", 1: "zstd", 2: "neural", 3: "xz"}
NAMES = {name: mid for mid, name in NAME_OF_ID.items()}


def get(method: int | str):
    """The module implementing a method, by archive id or by name."""
    mid = NAMES.get(method) if isinstance(method, str) else method
    if mid not in NAME_OF_ID:
        raise MdlzipError(f"unknown method {method!r}")
    return importlib.import_module(f"{__name__}.{NAME_OF_ID[mid]}")
