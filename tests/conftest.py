"""Shared inputs: synthetic ones built here, real ones read from ../shared/data."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The benchmark files live beside the repository (a clone sits next to shared/), never inside it.
DATA_DIR = REPO.parent / "shared" / "data"
MB = 1_000_000


def real_data(name: str) -> bytes:
    path = DATA_DIR / name
    if not path.is_file():
        pytest.skip(f"real-data file {path} not found (clone the repository beside shared/)")
    return path.read_bytes()


def sample_text(size: int = 20_000, seed: int = 1) -> bytes:
    """Deterministic text-like bytes: compressible, but not trivially."""
    rng = random.Random(seed)
    words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(1, 9))) for _ in range(300)]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words) + rng.choice([b" ", b" ", b" ", b", ", b".\n"])
    return bytes(out[:size])


def _binary() -> bytes:
    with open(sys.executable, "rb") as f:
        return f.read(MB)


SAMPLES = {
    "empty": lambda: b"",
    "one_byte": lambda: b"\x00",
    "random_1mb": lambda: random.Random(0).randbytes(MB),
    "repeated_1mb": lambda: b"a" * MB,
    "binary_1mb": _binary,
    "enwik5": lambda: real_data("enwik5"),
    "enwik6": lambda: real_data("enwik6"),
}


@pytest.fixture(params=sorted(SAMPLES))
def sample(request) -> tuple[str, bytes]:
    """(name, bytes) for every round-trip input of the acceptance list."""
    return request.param, SAMPLES[request.param]()
