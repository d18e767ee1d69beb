"""Shared inputs: synthetic ones built here, real ones read from ../shared/data."""

from __future__ import annotations

import io
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from mdlzip import cli

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


# The command as a user runs it: a fresh interpreter, the installed package.
MDLZIP = [sys.executable, "-m", "mdlzip"]


@dataclass
class Result:
    code: int
    out: bytes
    err: str


def assert_one_line_error(result: Result, *words: str) -> None:
    """Exit 1 and exactly one line on stderr, ``mdlzip: ...``, holding the given words."""
    assert result.code == 1, result
    assert result.err.startswith("mdlzip: ") and result.err.endswith("\n"), result.err
    assert result.err.count("\n") == 1, result.err
    assert "Traceback" not in result.err
    for word in words:
        assert word in result.err, result.err


@pytest.fixture
def out(tmp_path) -> Path:
    """An empty folder for what a benchmark-data builder writes."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


@pytest.fixture
def run_cli(monkeypatch):
    """Run the command in this process: run_cli(*args, stdin=b"") -> Result."""

    def run(*args: str, stdin: bytes = b"") -> Result:
        out, err = io.BytesIO(), io.BytesIO()
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(out, write_through=True))
        monkeypatch.setattr(sys, "stderr", io.TextIOWrapper(err, write_through=True))
        with pytest.raises(SystemExit) as exit_:
            cli.main(list(args))
        return Result(exit_.value.code, out.getvalue(), err.getvalue().decode())

    return run


def run_process(*args: str, stdin: bytes = b"", cwd=None) -> Result:
    proc = subprocess.run([*MDLZIP, *args], input=stdin, capture_output=True, cwd=cwd, timeout=120)
    return Result(proc.returncode, proc.stdout, proc.stderr.decode())
