"""Shared priors: what encoder and decoder both hold before an archive is read.

A prior (a ``.mdlp`` file, FORMAT.md "Prior files") carries a text that primes
the side models and, optionally, an integer transformer that archives refine
with a coded delta. An archive names its prior by the prior file's content
hash, so a decoder either finds that very file or refuses, never guesses.

Prior files are untrusted input like archives: every length is checked against
its limit before anything is allocated, the text's xz stream is decompressed
with a bounded output and memory limit, and a CRC32 covers the whole file.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from .coding import weight_codec
from .coding.varint import Reader, put_uint
from .errors import MdlzipError
from .model.config import ModelConfig
from .model.int_model import WEIGHT_MAX, IntWeights, QTensor

MAGIC = b"\x89MDP"
VERSION = 1
DIGEST_BYTES = 16
MAX_DESCRIPTION = 1 << 16
MAX_MODEL = 1 << 26
MAX_TEXT = 1 << 26
_XZ_MEMLIMIT = 1 << 28
_CFG_BYTES = len(ModelConfig().to_bytes())
SUFFIX = ".mdlp"
ENV_PATH = "MDLZIP_PRIOR_PATH"
SHIPPED_DIR = Path(__file__).parent / "priors"
DEFAULT_NAME = "default"


def digest(raw: bytes) -> bytes:
    """A prior's name inside archives: BLAKE2b-128 of the whole prior file."""
    return hashlib.blake2b(raw, digest_size=DIGEST_BYTES).digest()


@dataclass(frozen=True)
class Prior:
    description: str
    weights: Optional[IntWeights]  # the transformer archives start from (None: side models only)
    text: bytes  # what primes the side models
    digest: bytes
    file_bytes: int

    def describe(self) -> dict:
        return {
            "prior": self.digest.hex(),
            "prior_file_bytes": self.file_bytes,
            "description": self.description,
            "text_bytes": len(self.text),
            "architecture": self.weights.cfg.describe() if self.weights else None,
            "params_total": self.weights.cfg.n_params() if self.weights else 0,
        }


def to_bytes(description: str, weights: Optional[IntWeights], text: bytes) -> bytes:
    desc = description.encode("utf-8")
    if len(desc) > MAX_DESCRIPTION or len(text) > MAX_TEXT:
        raise MdlzipError("prior too large: description up to 64 KiB, text up to 64 MiB")
    out = bytearray(MAGIC + bytes([VERSION]))
    put_uint(out, len(desc))
    out += desc
    if weights is None:
        out.append(0)
    else:
        model = weight_codec.encode(weights)
        out.append(1)
        out += weights.cfg.to_bytes()
        put_uint(out, len(model))
        out += model
    packed = lzma.compress(text, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=9 | lzma.PRESET_EXTREME)
    put_uint(out, len(text))
    put_uint(out, len(packed))
    out += packed
    out += zlib.crc32(out).to_bytes(4, "little")
    return bytes(out)


def from_bytes(raw: bytes) -> Prior:
    if len(raw) < len(MAGIC) + 5 or raw[:4] != MAGIC:
        raise MdlzipError("not an mdlzip prior (bad magic)")
    if raw[4] != VERSION:
        raise MdlzipError(f"unsupported prior version {raw[4]} (this mdlzip reads version {VERSION})")
    if zlib.crc32(raw[:-4]).to_bytes(4, "little") != raw[-4:]:
        raise MdlzipError("corrupt prior: CRC32 mismatch")
    r = Reader(raw[5:-4], "prior")
    try:
        description = r.bytes(r.uint(MAX_DESCRIPTION)).decode("utf-8")
    except UnicodeDecodeError:
        r.fail("description is not UTF-8")
    kind = r.bytes(1)[0]
    if kind > 1:
        r.fail("bad model flag")
    weights = None
    if kind:
        cfg = ModelConfig.from_bytes(r.bytes(_CFG_BYTES))
        weights = weight_codec.decode(r.bytes(r.uint(MAX_MODEL)), cfg)
    text_len = r.uint(MAX_TEXT)
    packed = r.bytes(r.uint(MAX_TEXT))
    if r.rest():
        r.fail("trailing bytes")
    text = _unxz(packed, text_len)
    return Prior(description, weights, text, digest(raw), len(raw))


def _unxz(packed: bytes, length: int) -> bytes:
    """The text, refusing anything but exactly ``length`` bytes from one complete xz stream."""
    decomp = lzma.LZMADecompressor(format=lzma.FORMAT_XZ, memlimit=_XZ_MEMLIMIT)
    try:
        text = decomp.decompress(packed, max_length=length + 1)
    except lzma.LZMAError as exc:
        raise MdlzipError(f"corrupt prior: text stream: {exc}") from None
    if len(text) != length or not decomp.eof or decomp.unused_data:
        raise MdlzipError("corrupt prior: text stream has the wrong length")
    return text


_MAX_FILE = MAX_DESCRIPTION + MAX_MODEL + 2 * MAX_TEXT + 64


def _read_bounded(path) -> bytes:
    """A prior file's bytes; a longer file is cut, so that its CRC32 fails."""
    with open(path, "rb") as f:
        return f.read(_MAX_FILE)


def read(path: str | os.PathLike) -> Prior:
    try:
        raw = _read_bounded(path)
    except OSError as exc:
        raise MdlzipError(f"cannot read prior {path}: {exc.strerror or exc}") from None
    return from_bytes(raw)


def resolve(name: str) -> Prior:
    """A prior named on the command line: a file, or ``default`` for the one shipped with mdlzip."""
    if name == DEFAULT_NAME and not os.path.exists(name):
        path = SHIPPED_DIR / (DEFAULT_NAME + SUFFIX)
        if not path.is_file():
            raise MdlzipError("this installation has no shipped prior")
        return read(path)
    return read(name)


def _search_path() -> list[Path]:
    """Where a decoder looks for a prior it was not given: $MDLZIP_PRIOR_PATH, then the shipped ones."""
    places = [Path(p) for p in os.environ.get(ENV_PATH, "").split(os.pathsep) if p]
    return places + [SHIPPED_DIR]


def _files(place: Path) -> Iterable[Path]:
    if place.is_dir():
        return sorted(p for p in place.iterdir() if p.suffix == SUFFIX and p.is_file())
    return [place] if place.is_file() else []


def find(wanted: bytes, given: Iterable[Prior] = ()) -> Prior:
    """The prior with this digest among those given, else on the search path; refuses otherwise."""
    given = tuple(given)
    for prior in given:
        if prior.digest == wanted:
            return prior
    for place in _search_path():
        for path in _files(place):
            try:
                raw = _read_bounded(path)
            except OSError:
                continue
            if digest(raw) == wanted:
                return from_bytes(raw)
    given_note = " (the --prior given has another hash)" if given else ""
    raise MdlzipError(f"this archive needs prior {wanted.hex()}, which was not found{given_note}: pass it with --prior or put it in ${ENV_PATH}")


def apply_delta(base: IntWeights, delta: IntWeights) -> IntWeights:
    """The prior's weights plus an archive's delta; steps must match so that the sum is exact."""
    weights = {}
    for name, q in base.weights.items():
        d = delta.weights[name]
        if (d.mant, d.exp) != (q.mant, q.exp):
            raise MdlzipError(f"corrupt model section: {name}'s step differs from the prior's")
        values = q.values + d.values
        if values.size and int(np.abs(values).max()) > WEIGHT_MAX:
            raise MdlzipError(f"corrupt model section: {name} leaves the weight range")
        weights[name] = QTensor(values, q.mant, q.exp)
    return IntWeights(base.cfg, weights, dict(delta.act_exp))


def delta_of(base: IntWeights, weights: IntWeights) -> IntWeights:
    """What an archive stores to turn the prior's weights into ``weights`` (same steps)."""
    return IntWeights(
        base.cfg,
        {name: QTensor(weights.weights[name].values - q.values, q.mant, q.exp) for name, q in base.weights.items()},
        dict(weights.act_exp),
    )
