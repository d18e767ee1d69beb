"""Builds mdlzip/priors/default.mdlp, the prior shipped with mdlzip, from Debian packages.

    python scripts/build_default_prior.py [-o mdlzip/priors/default.mdlp]

Needs apt-get and dpkg-deb (any Debian or Ubuntu) and network access to a Debian
mirror. The packages are pinned by version and SHA-256, so the same prior file
comes out (its hash is printed; mdlzip/priors/README.md records it). The text is,
in this order (the side models adapt, so the last part weighs most): evenly
spaced slices of two dictionaries, then whole small texts.

| source | package | license | bytes used |
|---|---|---|---|
| GCIDE, the GNU Collaborative International Dictionary of English | dict-gcide | GPL-3+ | 4 MiB of slices |
| FOLDOC, the Free On-line Dictionary of Computing | dict-foldoc | GFDL | 3 MiB of slices |
| The Jargon File 4.4.7 | dict-jargon | public domain | all |
| The Devil's Dictionary (Ambrose Bierce, 1911) | dict-devil | public domain | all |
| fortune(6) cookie files | fortunes, fortunes-min | BSD | all |
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

from mdlzip.train.prior import priming_text

REPO = Path(__file__).resolve().parents[1]
PACKAGES = {
    "dict-gcide": ("0.48.5+nmu2", "7b0af5cfde3cbdef5e9d6e78f92ec335ced7c2790f37a40f49bebc6f7347ac0f"),
    "dict-foldoc": ("20230119-1", "745cbedb55c2da609cc88ee0284e9d11a67a11ae3709daf7bad0e895ac3294c3"),
    "dict-jargon": ("4.4.7-3.1", "405f8168d7994ed2cb71407bb95493daec2e9aa66fc0461dafa74a9d6728a8c1"),
    "dict-devil": ("1.0-13.1", "6a535684def2a1f70cd42da16d12d43f0e9dc3e54e4a329178eebab3170e3154"),
    "fortunes-min": ("1:1.99.1-7.3", "9eed5b45064e41133dae0967cf3a17588ad77c014fcc7bf1527fa3ea48e44d07"),
    "fortunes": ("1:1.99.1-7.3", "41d0551dc0ff52f875a2ecef7c39da2f672ab468c37e170119f7e0245a9d63c5"),
}
DESCRIPTION = (
    "mdlzip default prior (side-model priming text only). Slices of GCIDE (GPL-3+) and FOLDOC (GFDL), "
    "the Jargon File and The Devil's Dictionary (public domain), fortune cookies (BSD); "
    "from Debian packages " + ", ".join(f"{p} {v}" for p, (v, _) in PACKAGES.items())
)


def fetch(work: Path) -> Path:
    """Downloads, checks and unpacks the pinned packages; returns the unpacked root."""
    root = work / "root"
    for package, (version, sha256) in PACKAGES.items():
        subprocess.run(["apt-get", "download", f"{package}={version}"], cwd=work, check=True, capture_output=True)
        deb = next(work.glob(f"{package}_*.deb"))
        if hashlib.sha256(deb.read_bytes()).hexdigest() != sha256:
            sys.exit(f"{deb.name}: SHA-256 differs from the pinned one")
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root


def texts(root: Path) -> list[tuple[str, bytes]]:
    dictd = root / "usr/share/dictd"

    def dictionary(name: str) -> bytes:
        return gzip.decompress((dictd / f"{name}.dict.dz").read_bytes())  # dictzip is gzip

    cookies = sorted(p for p in (root / "usr/share/games/fortunes").iterdir() if p.is_file() and p.suffix not in (".dat", ".u8"))
    return [
        ("gcide-slices", priming_text(dictionary("gcide"), 4 << 20)),
        ("foldoc-slices", priming_text(dictionary("foldoc"), 3 << 20)),
        ("jargon", dictionary("jargon")),
        ("devil", dictionary("devil")),
        ("fortunes", b"".join(p.read_bytes() for p in cookies)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default=str(REPO / "mdlzip/priors/default.mdlp"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        parts = texts(fetch(work))
        names = []
        for name, data in parts:
            (work / name).write_bytes(data)
            names.append(str(work / name))
        subprocess.run(
            [sys.executable, "-m", "mdlzip", "prior", "train", "--no-transformer", "--text-bytes", str(1 << 26),
             "--description", DESCRIPTION, "-f", "-o", args.output, *names],
            check=True,
        )


if __name__ == "__main__":
    main()
