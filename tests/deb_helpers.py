"""Fake Debian packages and a fake apt for the tests of the benchmark-data builders (benchmarks/data.py, benchmarks/kinds.py)."""

from __future__ import annotations

import io
import lzma
import os
import subprocess
import sys
import tarfile
from pathlib import Path

from conftest import REPO


def tar(files: dict[str, bytes], links: dict[str, str] = {}) -> bytes:
    """A tar archive of the files (path: content) and symbolic links (path: target)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
        for name, target in links.items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    return out.getvalue()


def ar(members: dict[str, bytes]) -> bytes:
    out = bytearray(b"!<arch>\n")
    for name, content in members.items():
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(content):<10}`\n".encode() + content + b"\n" * (len(content) % 2)
    return bytes(out)


def deb(package: str, data_tar: bytes) -> bytes:
    """A .deb whose data.tar.xz is data_tar; an odd-sized member before it checks the ar padding."""
    return ar({
        "debian-binary": b"2.0\n",
        "control.tar.xz": lzma.compress(tar({"./control": f"Package: {package}\n".encode()})),
        "odd": b"abc",  # members are 2-byte aligned: this one is followed by a padding byte
        "data.tar.xz": lzma.compress(data_tar),
    })


def fake_commands(folder: Path, scripts: dict[str, str]) -> str:
    """A PATH on which each named command is the given shell script, ahead of the real ones."""
    folder.mkdir(exist_ok=True)
    for name, script in scripts.items():
        (folder / name).write_text("#!/bin/sh\n" + script)
        (folder / name).chmod(0o755)
    return f"{folder}{os.pathsep}{os.environ['PATH']}"


def run_module(module: str, *args: str, path: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": path}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
