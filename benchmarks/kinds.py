"""``python -m benchmarks.kinds OUTDIR``: seven 100,000-byte files of different kinds, cut from pinned Debian packages.

Each file is the first 100,000 bytes of what one Debian 12 (bookworm) package
ships; the package is fetched with ``apt-get download NAME=VERSION`` into a
temporary folder, its .deb is checked against a pinned SHA-256, and so is every
file written, so every machine benchmarks the very same bytes:

- ``text``: English prose, Ambrose Bierce's *The Devil's Dictionary* (1911), as
  ``dict-devil`` ships it for dictd (``devil.dict.dz``, gunzipped): a short
  dictfmt header (the database's name and source), the title page and preface,
  then the entries from ABASEMENT to FOREORDINATION, with their verses.
- ``c_headers.h``: the C headers of the GNU C library 2.36 (``libc6-dev``), every
  ``usr/include/**.h`` concatenated in path order: ``aio.h`` to the start of
  ``complex.h``, ``arpa/*.h`` among them.
- ``markup.xml``: the XSLT stylesheets of ``docbook-xsl`` that turn DocBook into
  HTML, ``html/*.xsl`` concatenated in path order: ``admon.xsl`` to ``autotoc.xsl``
  and the start of ``biblio-iso690.xsl``.
- ``python_source.py``: the Python 3.11 standard library (``libpython3.11-stdlib``),
  every ``usr/lib/python3.11/**.py`` concatenated in path order: the small modules
  from ``__hello__.py`` to ``_osx_support.py`` (55 KB), then the start of
  ``_pydecimal.py``.
- ``shared_library.so``: the start of zlib 1.2.13's shared library for x86-64
  (``zlib1g``, ``libz.so.1.2.13``, 121,280 bytes): the ELF and program headers,
  dynamic symbols and relocations (9 KB), all the machine code (74 KB) and the
  start of the read-only data, with the zero padding that aligns each segment to
  4 KiB between them.
- ``table.csv``: a table of US airports (``airports.csv`` of the ``vega_datasets``
  Python package): a header line, then IATA code, name, city, state, country,
  latitude and longitude, one airport a row (1,611 rows and part of the next of
  the 3,376).
- ``image.ppm``: a photo, scikit-image's ``chelsea.png`` (a cat, 451 x 300 RGB),
  decoded by ``benchmarks.png`` to a binary PPM: its 15-byte header and the top
  73 rows, then 1,216 bytes of the 74th. No PPM of a crop of it is exactly
  100,000 bytes long, so the file is cut like the others.

The ``:amd64`` packages are fetched for that architecture whatever the machine's.
The versions are those of bookworm's main suite at its point release 12.15 (July
2026), not of bookworm-security, whose versions are replaced by each update. A
version that apt does not serve, a failed download, a .deb or a file whose hash
differs is one line on stderr and exit 1; a file is written under its name only
once every file's hash matched.
"""

from __future__ import annotations

import gzip
import hashlib
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from benchmarks import png
from benchmarks.data import DataError, cli, data_tar, download, partial, publish, remove_partials

SIZE = 100_000


@dataclass(frozen=True)
class Package:
    name: str  # apt's name: NAME, or NAME:ARCH for one architecture's build
    version: str
    sha256: str  # of the .deb


def verbatim(data: bytes) -> bytes:
    return data


@dataclass(frozen=True)
class Kind:
    """A benchmark file: the files of a package under path (a file, or a folder ending in /) whose names end in suffix, in path order, decoded and concatenated, cut to SIZE."""

    package: Package
    path: str
    sha256: str
    suffix: str = ""
    decode: Callable[[bytes], bytes] = verbatim

    def wants(self, path: str) -> bool:
        if self.path.endswith("/"):
            return path.startswith(self.path) and path.endswith(self.suffix)
        return path == self.path

    def what(self) -> str:
        return self.path + ("*" + self.suffix if self.path.endswith("/") else "")


DICT_DEVIL = Package("dict-devil", "1.0-13.1", "6a535684def2a1f70cd42da16d12d43f0e9dc3e54e4a329178eebab3170e3154")
LIBC6_DEV = Package("libc6-dev:amd64", "2.36-9+deb12u14", "0218fc2befcd784c1b0c6292c0a137ce89fad054efaa579ad083bee0f2c01aae")
DOCBOOK_XSL = Package("docbook-xsl", "1.79.2+dfsg-2", "4e6e02268b2e02ece218880703fab427df40c52887c8b4076b0b76c11ea7b0fe")
PYTHON_STDLIB = Package("libpython3.11-stdlib:amd64", "3.11.2-6+deb12u8", "890b3540dad8a1ccc0deeca025db735bcc82629a76adacbe3b50fcc06ed528ca")
ZLIB = Package("zlib1g:amd64", "1:1.2.13.dfsg-1", "d7dd1d1411fedf27f5e27650a6eff20ef294077b568f4c8c5e51466dc7c08ce4")
VEGA_DATASETS = Package("python3-vega-datasets", "0.9+dfsg-1", "25e72663b40a67dce2e7e05f2db260e243f022d8ef66b0f770fda1fd87aed3ed")
SKIMAGE = Package("python3-skimage", "0.19.3-8", "728d88c3e3440f1f3712de0805dc834d29248ff07e1eec8c0f3da07606f752f9")

KINDS = {
    "text": Kind(DICT_DEVIL, "usr/share/dictd/devil.dict.dz", "892a66eff84738d782da651bee4801eedd5cd7c95a37e0cc8f8e4a347e39cce8", decode=gzip.decompress),
    "c_headers.h": Kind(LIBC6_DEV, "usr/include/", "e8e2528d696b1e09563c3c19d717d52217a92b347cf773abff5d4a4469967766", suffix=".h"),
    "markup.xml": Kind(DOCBOOK_XSL, "usr/share/xml/docbook/stylesheet/docbook-xsl/html/", "637fa95fde0903427884efa391813dbf01ce10a4b63e270c5d6f383138e2875f", suffix=".xsl"),
    "python_source.py": Kind(PYTHON_STDLIB, "usr/lib/python3.11/", "80e582c588a1b94adbfe58d13e680986eb928c7c27a1395ddd121b4bab4ce8c8", suffix=".py"),
    "shared_library.so": Kind(ZLIB, "lib/x86_64-linux-gnu/libz.so.1.2.13", "80b0370092c058d03aab68dc4da6fa829be8189784bf0e48d488d38b538601e6"),
    "table.csv": Kind(VEGA_DATASETS, "usr/lib/python3/dist-packages/vega_datasets/_data/airports.csv", "9409e037e93d2e42220063302c3ad001f17eebb3431c5e5d1e31b27615485d51"),
    "image.ppm": Kind(SKIMAGE, "usr/lib/python3/dist-packages/skimage/data/chelsea.png", "25a13c501386aabf7dfb2048b760938b7e571356cd632077b76331ea825b82e6", decode=png.to_pnm),
}


def gather(deb: Path, kinds: dict[str, Kind], size: Optional[int] = SIZE) -> dict[str, bytes]:
    """The first size bytes of each kind (None: all of it), from one package's .deb."""
    found: dict[str, dict[str, bytes]] = {name: {} for name in kinds}
    with data_tar(deb) as tar:
        for member in tar:
            path = member.name.removeprefix("./")
            wanted = [name for name, kind in kinds.items() if member.isfile() and kind.wants(path)]
            if wanted:
                data = tar.extractfile(member).read()
                for name in wanted:
                    found[name][path] = data
    contents = {}
    for name, kind in kinds.items():
        package = f"{kind.package.name} {kind.package.version}"
        if not found[name]:
            raise DataError(f"{name}: {package} holds no {kind.what()}")
        out = bytearray()
        for path in sorted(found[name]):
            if size is not None and len(out) >= size:
                break
            try:
                out += kind.decode(found[name][path])
            except (ValueError, OSError, EOFError, zlib.error) as exc:
                raise DataError(f"{name}: cannot decode {path} of {package}: {exc}") from None
        if size is not None and len(out) < size:
            raise DataError(f"{name}: {kind.what()} of {package} makes {len(out):,} bytes, short of {size:,}")
        contents[name] = bytes(out[:size] if size is not None else out)
    return contents


def build(debs: dict[Package, Path], folder: Path, kinds: dict[str, Kind] = KINDS, size: Optional[int] = SIZE) -> dict[str, str]:
    """Cut the files from the packages' .debs and check them; they get their names only once every hash matched."""
    contents: dict[str, bytes] = {}
    for package, deb in debs.items():
        contents.update(gather(deb, {name: kind for name, kind in kinds.items() if kind.package == package}, size))
    try:
        digests = {}
        for name in kinds:
            partial(folder, name).write_bytes(contents[name])
            digests[name] = hashlib.sha256(contents[name]).hexdigest()
        publish(folder, digests, {name: kind.sha256 for name, kind in kinds.items()})
    finally:
        remove_partials(folder, kinds)
    return digests


def fetch(folder: Path, kinds: dict[str, Kind] = KINDS) -> dict[Package, Path]:
    """The .deb of each package the kinds are cut from, downloaded into folder and checked."""
    packages = dict.fromkeys(kind.package for kind in kinds.values())
    return {p: download(folder, p.name, p.version, p.sha256) for p in packages}


def main(argv: Optional[list[str]] = None) -> int:
    return cli("benchmarks.kinds", argv, dict.fromkeys(KINDS, SIZE), lambda tmp, folder: build(fetch(tmp), folder))


if __name__ == "__main__":
    sys.exit(main())
