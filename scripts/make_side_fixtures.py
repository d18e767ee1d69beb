"""Recodes the data section of the test fixtures that code with the side models.

    python scripts/make_side_fixtures.py

The neural fixtures in tests/fixtures (NAME.vV-neural*.mdlz, written from NAME.txt)
store a trained transformer; those whose header names side models code their data
with them, so a change of the side models changes those bytes. This keeps each such
archive's header and model section as they are and codes NAME.txt again with that
model, the same number of streams and the same table size, then checks that the
archive decodes to NAME.txt. The header's informational candidate sizes are left
as they were measured when the fixture was written. Fixtures without side models
(and archives of other methods) are not touched.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import mdlzip
from mdlzip import container
from mdlzip.coding import data_coder, weight_codec
from mdlzip.methods import neural
from mdlzip.model.int_model import IntModel

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"


def recode(path: Path) -> bool:
    """Recode one fixture in place; False when it has no side-model data."""
    method_id, length, checksum, encoded = container.unpack(path.read_bytes())
    header = neural.Header.from_bytes(encoded.header)
    if header.side is None:
        return False
    if header.prior_use != neural.NO_PRIOR:
        raise SystemExit(f"{path.name}: a fixture coded with a prior is not supported")
    text = (FIXTURES / f"{path.name.split('.')[0]}.txt").read_bytes()
    assert len(text) == length
    weights = weight_codec.decode(encoded.model, header.cfg)
    if neural.is_empty(weights):
        data = data_coder.encode_uniform(text, header.streams, header.side)
    else:
        chunk = min(header.cfg.window, max(8, 16384 // header.streams))
        data, _ = data_coder.encode(text, IntModel(weights), header.streams, chunk, None, header.side)
    archive = container.pack(method_id, length, checksum, dataclasses.replace(encoded, data=data))
    if mdlzip.decompress(archive) != text:
        raise SystemExit(f"{path.name}: the recoded archive does not decode")
    path.write_bytes(archive)
    print(f"{path.name}: data {len(encoded.data)} -> {len(data)} bytes, archive {len(archive)} bytes")
    return True


def main() -> int:
    done = [p.name for p in sorted(FIXTURES.glob("*-neural*.mdlz")) if recode(p)]
    if not done:
        print("no fixture codes with the side models", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
