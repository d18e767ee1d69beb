"""``python scripts/make_fixtures.py``: the format fixtures of the current version, in tests/fixtures/.

Writes NAME.vV-KIND.mdlz for every kind below from NAME.txt, V being
``container.FORMAT_VERSION``, and checks that each decodes to its text and has
the method, block count and coding it stands for. The pinned-bitstream and
engine-versus-reference tests read them (tests/test_neural_cli.py,
tests/test_int_model.py). A fixture stands while its format version stands: when
the version changes, move the old ones to tests/fixtures/vOLD/ (where the tests
check that they are refused, naming the release that reads them) and run this.
Before a release, a change that alters the bytes of an unchanged version (the side
models' C code, say) is a format change; between releases the fixtures may be made
again with ``--force``.

The neural archives train small models for a few hundred steps on CPU: about a
minute in all.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import mdlzip
from mdlzip import container

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
# A small transformer trained on the 5,000 bytes whatever its size (train_min=0), the empty
# model not tried, so that the archive holds a trained model.
_TRAINED = dict(train_min=0, steps=300, empty=False, n_layer=1, window=16, streams=3)
# Beside the side models MDL prunes every weight on so small an input: the dense model, kept whole.
_MIXED = dict(d_model=8, n_head=2, d_ff=16, n_prev=1, sparsifier="none", tamade=False, **_TRAINED)
# (text, kind): compress's settings, and what info must show.
KINDS = {
    ("sample", "stored"): (dict(method="stored"), {"method": "stored"}),
    ("sample", "zstd"): (dict(method="zstd"), {"method": "zstd"}),
    ("sample", "xz"): (dict(method="xz"), {"method": "xz"}),
    # The side models alone (no transformer is trained on 5,000 bytes): one stream, all in C.
    ("sample", "neural"): (dict(method="neural", level=1), {"method": "neural", "params_nonzero": 0, "block_count": 1}),
    # The transformer alone, no side models: the data section is constriction's range code.
    ("ab", "neural"): (
        dict(method="neural", level=1, adaptive=False, d_model=32, n_head=2, d_ff=32, n_prev=3, **_TRAINED),
        {"method": "neural", "side_models": None, "block_count": 1},
    ),
    # The transformer mixed with the side models.
    ("sample", "neural-mixed"): (
        dict(method="neural", level=1, **_MIXED),
        {"method": "neural", "block_count": 1},
    ),
    # Three independent blocks, each coded with the transformer and its own side models.
    ("sample", "neural-blocks"): (
        dict(method="neural", level=1, block_size=2000, **_MIXED),
        {"method": "neural", "block_count": 3},
    ),
}


def make(force: bool) -> list[Path]:
    written = []
    for (name, kind), (settings, expected) in KINDS.items():
        path = FIXTURES / f"{name}.v{container.FORMAT_VERSION}-{kind}.mdlz"
        if path.exists() and not force:
            raise SystemExit(f"make_fixtures: {path} exists (fixtures stand while their version does; --force to make them again)")
        text = (FIXTURES / f"{name}.txt").read_bytes()
        archive = mdlzip.compress(text, threads=1, **settings)
        facts = mdlzip.info(archive)
        wrong = {k: facts.get(k) for k, v in expected.items() if facts.get(k) != v}
        untrained = "train_min" in settings and not facts["params_nonzero"]
        if wrong or untrained or mdlzip.decompress(archive) != text:
            raise SystemExit(f"make_fixtures: {path.name} is not what it stands for: {wrong or 'no trained weights'}")
        path.write_bytes(archive)
        written.append(path)
        print(f"{path.relative_to(FIXTURES.parent.parent)}: {len(archive)} bytes", file=sys.stderr)
    return written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="overwrite existing fixtures of this version")
    make(parser.parse_args().force)
