"""``python -m benchmarks.data OUTDIR``: benchmark files of 4, 16 and 64 MiB cut from the Linux 6.1 sources.

Writes ``linux-4MiB``, ``linux-16MiB`` and ``linux-64MiB`` into OUTDIR: the first
4, 16 and 64 MiB of the uncompressed tar stream ``linux-source-6.1.tar`` from
Debian's ``linux-source-6.1`` package, version 6.1.192-3 (the package's
``data.tar.xz`` holds ``usr/src/linux-source-6.1.tar.xz``). The package comes
from apt (``apt-get download``); each file is checked against its pinned SHA-256,
so every machine benchmarks the very same bytes.

What the files hold is not plain English prose: they are a tar stream, cut
mid-file, so its 512-byte headers and NUL padding are part of them (11 to 14% of
the bytes are NUL). After the top-level dotfiles, COPYING and CREDITS comes
``Documentation/`` in name order. ``linux-4MiB`` ends in
``Documentation/admin-guide`` and is mostly English text (the sysfs ABI
descriptions, reStructuredText on PCI and RCU, CREDITS), but a fifth of it is the
SVG drawings of ``Documentation/RCU/Design``. ``linux-16MiB`` reaches into
``Documentation/devicetree/bindings``, whose YAML schemas are nearly a quarter of
it. ``linux-64MiB`` holds all of ``Documentation/``, the translations into
Chinese, Italian, Korean and Japanese among it (3% of its bytes are not ASCII),
then the other top-level files (Kbuild, Kconfig, LICENSES, MAINTAINERS, Makefile,
README), ``arch/alpha``, ``arch/arc`` and the start of ``arch/arm``: C, assembly
and device-tree sources.

Exit status 0 when every file was written and matches its hash; 1, with one line
on stderr, on any error (that version not served by apt, a failed download, a
hash mismatch). A file is written under its name only once its hash matched.
"""

from __future__ import annotations

import contextlib
import hashlib
import lzma
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator, Optional

PACKAGE, VERSION = "linux-source-6.1", "6.1.192-3"
TARBALL = "usr/src/linux-source-6.1.tar.xz"
SIZES = {"linux-4MiB": 4 << 20, "linux-16MiB": 16 << 20, "linux-64MiB": 64 << 20}
SHA256 = {
    "linux-4MiB": "11a3efb836003e954770487741ebf394944febc9b9ddb42893fda8f4d305ae67",
    "linux-16MiB": "3e809c5ea5beae19eac599906ac69fd974c32ade0b54de9722f9c475f21acc6c",
    "linux-64MiB": "ce7835a147f8f1f333178d08676ea482c737b64376676974fe125a68332a05cd",
}
_CHUNK = 1 << 20
_AR_MAGIC, _AR_HEADER = b"!<arch>\n", 60
_PARTIAL = ".partial"


class DataError(Exception):
    pass


def served_versions(policy: str) -> set[str]:
    """The versions in the version table of ``apt-cache policy`` output.

    A version line is the version and its priority (behind ``***`` where installed);
    the lines under it name the sources, a priority and a URL or path.
    """
    versions = set()
    for line in policy.partition("Version table:")[2].splitlines():
        words = line.split()
        words = words[1:] if words[:1] == ["***"] else words
        if len(words) == 2 and words[1].isdigit():
            versions.add(words[0])
    return versions


def _run(argv: list[str], **kwargs) -> str:
    """A command's stdout; its last stderr line as the error where it fails."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    except OSError as exc:
        raise DataError(f"{argv[0]}: {exc.strerror}: this script needs Debian's apt") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        raise DataError(f"{' '.join(argv)} failed: {last}")
    return proc.stdout


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def download(folder: Path, package: str = PACKAGE, version: str = VERSION, sha256: Optional[str] = None) -> Path:
    """A package's .deb at that version, fetched by apt into folder (and checked against sha256 where given).

    package is apt's name for it: NAME, or NAME:ARCH for one architecture's build.
    """
    if version not in served_versions(_run(["apt-cache", "policy", package])):
        raise DataError(f"{package} {version} is not served by this machine's apt sources (apt-cache policy {package}; apt-get update?)")
    _run(["apt-get", "download", f"{package}={version}"], cwd=folder)
    (deb,) = folder.glob(package.partition(":")[0] + "_*.deb")
    if sha256 is not None and (digest := file_sha256(deb)) != sha256:
        raise DataError(f"{deb.name}: sha256 {digest}, expected {sha256}")
    return deb


def seek_ar_member(f: BinaryIO, prefix: str) -> None:
    """Position f at the contents of the first member of an ar archive (a .deb) whose name starts with prefix."""
    if f.read(len(_AR_MAGIC)) != _AR_MAGIC:
        raise DataError("not a .deb: no ar archive")
    while header := f.read(_AR_HEADER):
        if len(header) < _AR_HEADER or header[58:] != b"`\n" or not header[48:58].strip().isdigit():
            raise DataError("damaged .deb: bad ar header")
        if header[:16].decode("ascii", "replace").startswith(prefix):
            return
        size = int(header[48:58])
        f.seek(size + size % 2, os.SEEK_CUR)  # members are 2-byte aligned
    raise DataError(f"the .deb has no {prefix}* member")


@contextlib.contextmanager
def data_tar(deb: Path) -> Iterator[tarfile.TarFile]:
    """The files of a .deb (its data.tar.*), as a stream of tar members; a damaged archive is a DataError."""
    try:
        with open(deb, "rb") as f:
            seek_ar_member(f, "data.tar")
            with tarfile.open(fileobj=f, mode="r|*") as tar:
                yield tar
    except (tarfile.TarError, lzma.LZMAError, EOFError) as exc:
        raise DataError(f"damaged package: {exc}") from None


def partial(folder: Path, name: str) -> Path:
    """Where file NAME is written until its hash has been checked."""
    return folder / (name + _PARTIAL)


def publish(folder: Path, digests: dict[str, str], pinned: dict[str, str]) -> None:
    """Give each written file its name, once every digest has matched its pin; a DataError for the first that does not."""
    for name, digest in digests.items():
        if digest != pinned[name]:
            raise DataError(f"{name}: sha256 {digest}, expected {pinned[name]}")
    for name in digests:
        os.replace(partial(folder, name), folder / name)


def remove_partials(folder: Path, names: Iterable[str]) -> None:
    for name in names:
        partial(folder, name).unlink(missing_ok=True)


def write_prefixes(stream: BinaryIO, folder: Path, sizes: dict[str, int]) -> dict[str, str]:
    """Write the first n bytes of stream to folder/NAME.partial for each NAME: n; their SHA-256s."""
    digests = {name: hashlib.sha256() for name in sizes}
    total, done = max(sizes.values()), 0
    with contextlib.ExitStack() as files:
        outputs = {name: files.enter_context(open(partial(folder, name), "wb")) for name in sizes}
        while done < total:
            chunk = stream.read(min(_CHUNK, total - done))
            if not chunk:
                raise DataError(f"the tar stream ends after {done} bytes, short of {total}")
            for name, n in sizes.items():
                part = chunk[: max(0, n - done)]
                outputs[name].write(part)
                digests[name].update(part)
            done += len(chunk)
    return {name: d.hexdigest() for name, d in digests.items()}


def build(deb: Path, folder: Path, sizes: dict[str, int] = SIZES, pinned: dict[str, str] = SHA256) -> dict[str, str]:
    """Cut the files from the package and check them; only files whose hashes match get their names."""
    try:
        with data_tar(deb) as outer:
            member = next((m for m in outer if m.name.removeprefix("./") == TARBALL), None)
            if member is None:
                raise DataError(f"the package holds no {TARBALL}")
            with lzma.open(outer.extractfile(member)) as tar:
                digests = write_prefixes(tar, folder, sizes)
        publish(folder, digests, pinned)
    finally:
        remove_partials(folder, sizes)
    return digests


def cli(prog: str, argv: Optional[list[str]], sizes: dict[str, int], make: Callable[[Path, Path], dict[str, str]]) -> int:
    """``python -m PROG OUTDIR``: make(tmp, OUTDIR) writes the files named in sizes, with tmp a temporary folder, and returns their SHA-256s."""
    args = sys.argv[1:] if argv is None else argv
    usage = f"usage: python -m {prog} OUTDIR (writes " + ", ".join(sizes) + " there)"
    if args in (["-h"], ["--help"]):
        print(usage)
        return 0
    if len(args) != 1 or args[0].startswith("-"):
        print(f"{prog}: {usage}", file=sys.stderr)
        return 1
    folder = Path(args[0])
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="mdlzip-data-") as tmp:
            digests = make(Path(tmp), folder)
    except DataError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{prog}: {exc.filename or folder}: {exc.strerror}", file=sys.stderr)
        return 1
    for name, digest in digests.items():
        print(f"{folder / name}: {sizes[name]:,} bytes, sha256 {digest} (as pinned)")
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    return cli("benchmarks.data", argv, SIZES, lambda tmp, folder: build(download(tmp), folder))


if __name__ == "__main__":
    sys.exit(main())
