"""``python -m benchmarks.binaries OUTDIR``: two whole x86-64 programs, for the x86 filter.

- ``python3.11``: the CPython 3.11.2 interpreter as Debian 12 builds it
  (``python3.11-minimal``, ``usr/bin/python3.11``, 6,834,488 bytes): an ELF
  executable, most of it machine code, then read-only data and tables.
- ``libz.so.1.2.13``: zlib 1.2.13's shared library (``zlib1g``, 121,280 bytes), whole:
  the file whose first 100,000 bytes are the kinds set's ``shared_library.so``.

The .debs and both files are checked against pinned SHA-256s, as in ``benchmarks.kinds``.
"""

from __future__ import annotations

import sys
from typing import Optional

from benchmarks.data import cli
from benchmarks.kinds import ZLIB, Kind, Package, build, fetch

PYTHON_MINIMAL = Package("python3.11-minimal:amd64", "3.11.2-6+deb12u8", "4aba533f7cc5e7b93b7ff24482840e96813f5bcde9cce028395b65a0d799ccee")
BINARIES = {
    "python3.11": Kind(PYTHON_MINIMAL, "usr/bin/python3.11", "6d972cf21be56fe3c947ab6ba257ff8d08c342dd2714442986791bd9a6dfabfe"),
    "libz.so.1.2.13": Kind(ZLIB, "lib/x86_64-linux-gnu/libz.so.1.2.13", "7e2a72b4c4b38c61e6962de6e3f4a5e9ae692e732c68deead10a7ce2135a7f68"),
}
SIZES = {"python3.11": 6_834_488, "libz.so.1.2.13": 121_280}


def main(argv: Optional[list[str]] = None) -> int:
    return cli("benchmarks.binaries", argv, SIZES, lambda tmp, folder: build(fetch(tmp, BINARIES), folder, BINARIES, size=None))


if __name__ == "__main__":
    sys.exit(main())
