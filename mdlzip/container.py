"""The archive container of FORMAT.md: fixed fields, the method's sections, CRC32.

The neural method has three length-prefixed sections (header, model, data); the classic
methods, whose header and model are always empty, only a data section; and the stored
method's data is the input itself, whose length the archive states already and whose bytes
the CRC32 checks, so it has neither a length prefix nor a content checksum. On an input that
does not compress (random bytes, an xz file) the archive is then the input plus 13 bytes or so, less
than zstd's frame adds (19 bytes on 250 kB).

Pure Python on purpose: a damaged or hostile archive is rejected here, before any
method (and so before torch or a model) is involved. The reader never trusts a
length: each one is checked against its limit and against the bytes that remain
before anything is sliced.
"""

from __future__ import annotations

import hashlib
import zlib

from .errors import MdlzipError
from .methods import NAME_OF_ID, NAMES, Encoded

MAGIC = b"\x89MDZ"
FORMAT_VERSION = 18
# Earlier versions, and the mdlzip release that reads them (so far release 0.N wrote version N):
# this one reads only its own.
RELEASE_OF_VERSION = {version: f"0.{version}" for version in range(1, FORMAT_VERSION)}
CHECKSUM_BYTES = 8
CRC_BYTES = 4
# 1 TiB: far beyond what an in-memory compressor handles, small enough that a
# corrupt length field can never ask for an absurd allocation.
MAX_LENGTH = 1 << 40
# A LEB128 number up to MAX_LENGTH takes at most 6 bytes; FORMAT.md allows 10 so
# that the limit can grow in a later version without changing the encoding.
MAX_VARINT_BYTES = 10
SECTIONS = ("header", "model", "data")
STORED = NAMES["stored"]
# The methods with a header and a model section; the others have a data section alone.
MODELLED = frozenset({NAMES["neural"]})

_METHOD_IDS = frozenset(NAMES.values())


def sections_of(method_id: int) -> tuple[str, ...]:
    """The length-prefixed sections a method's archive holds (none for stored: its data is the input)."""
    return () if method_id == STORED else SECTIONS if method_id in MODELLED else ("data",)


def checksum(data: bytes) -> bytes:
    """The content checksum stored in the archive: BLAKE2b with an 8-byte digest."""
    return hashlib.blake2b(data, digest_size=CHECKSUM_BYTES).digest()


def encode_uvarint(value: int) -> bytes:
    """Unsigned LEB128: 7 bits per byte, least significant first, high bit = more follows."""
    if not 0 <= value <= MAX_LENGTH:
        raise MdlzipError(f"length {value} outside 0..{MAX_LENGTH}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _fixed_fields(method_id: int, original_length: int, content_checksum: bytes) -> bytes:
    if method_id not in _METHOD_IDS:
        raise MdlzipError(f"unknown method id {method_id}")
    if len(content_checksum) != CHECKSUM_BYTES:
        raise MdlzipError(f"checksum must be {CHECKSUM_BYTES} bytes")
    fields = MAGIC + bytes([FORMAT_VERSION, method_id]) + encode_uvarint(original_length)
    return fields if method_id == STORED else fields + content_checksum


def _section(payload: bytes) -> bytes:
    return encode_uvarint(len(payload)) + payload


def _check_sections(method_id: int, original_length: int, encoded: Encoded) -> None:
    """What the layout leaves out must be empty (stored: its data the whole input)."""
    if method_id not in MODELLED and (encoded.header or encoded.model):
        raise MdlzipError(f"a {NAME_OF_ID[method_id]} archive has no header or model section")
    if method_id == STORED and len(encoded.data) != original_length:
        raise MdlzipError("a stored archive's data is the input")


def pack(method_id: int, original_length: int, content_checksum: bytes, encoded: Encoded) -> bytes:
    """The complete archive for one encoded input."""
    body = _fixed_fields(method_id, original_length, content_checksum)
    _check_sections(method_id, original_length, encoded)
    if method_id == STORED:
        body += encoded.data
    else:
        body += b"".join(_section(getattr(encoded, name)) for name in sections_of(method_id))
    return body + zlib.crc32(body).to_bytes(CRC_BYTES, "little")


def layout(method_id: int, original_length: int, encoded: Encoded) -> dict:
    """The archive's exact byte split; the three numbers sum to the archive size.

    header_bytes holds everything that is not model or data: the fixed fields, the
    header section with its length prefix and the trailing CRC32. model_bytes and
    data_bytes are those sections with their length prefixes (0 where there is no
    such section; stored's data has no prefix).
    """
    fixed = len(MAGIC) + 2 + len(encode_uvarint(original_length)) + CRC_BYTES
    if method_id == STORED:
        return {"header_bytes": fixed, "model_bytes": 0, "data_bytes": len(encoded.data)}
    kept = sections_of(method_id)
    size = {name: len(_section(getattr(encoded, name))) if name in kept else 0 for name in SECTIONS}
    return {
        "header_bytes": fixed + CHECKSUM_BYTES + size["header"],
        "model_bytes": size["model"],
        "data_bytes": size["data"],
    }


class Damaged(MdlzipError):
    """An archive whose structure reads but whose CRC32 does not match. It carries the sections,
    so that a method can tell which of its parts is damaged (a block archive names the block);
    nothing may decode them."""

    def __init__(self, method_id: int, original_length: int, encoded: Encoded):
        super().__init__("archive is damaged: CRC32 mismatch")
        self.method_id, self.original_length, self.encoded = method_id, original_length, encoded


class _Reader:
    """Reads the archive body (everything before the CRC32), refusing to run past its end."""

    def __init__(self, body: memoryview):
        self.body = body
        self.pos = 0

    def remaining(self) -> int:
        return len(self.body) - self.pos

    def take(self, n: int, what: str) -> bytes:
        if n > self.remaining():
            raise MdlzipError(f"truncated archive: {what} needs {n} bytes, {self.remaining()} remain")
        chunk = bytes(self.body[self.pos : self.pos + n])
        self.pos += n
        return chunk

    def uvarint(self, what: str) -> int:
        value = 0
        for i in range(MAX_VARINT_BYTES):
            (byte,) = self.take(1, what)
            value |= (byte & 0x7F) << (7 * i)
            if value > MAX_LENGTH:
                raise MdlzipError(f"corrupt archive: {what} exceeds the limit of {MAX_LENGTH} bytes")
            if not byte & 0x80:
                # A zero final byte after others means a padded (non-minimal) encoding;
                # accepting it would give one archive several spellings.
                if byte == 0 and i > 0:
                    raise MdlzipError(f"corrupt archive: non-minimal encoding of {what}")
                return value
        raise MdlzipError(f"corrupt archive: {what} is longer than {MAX_VARINT_BYTES} bytes")


def unpack(blob: bytes) -> tuple[int, int, bytes | None, Encoded]:
    """Check an archive's structure and CRC32; return (method_id, original_length, checksum, Encoded).

    The checksum is None for a stored archive, whose CRC32 covers the original bytes themselves.
    Decoding the data and verifying the content checksum is the caller's job
    (``api.decompress``), since that needs the method.
    """
    view = memoryview(blob)
    if bytes(view[: len(MAGIC)]) != MAGIC:
        if 0 < len(view) < len(MAGIC) and MAGIC.startswith(bytes(view)):
            raise MdlzipError("truncated archive: shorter than the magic number")
        raise MdlzipError("not an mdlzip archive (bad magic number)")
    if len(view) < len(MAGIC) + 1:
        raise MdlzipError("truncated archive: no format version")
    version = view[len(MAGIC)]
    if version in RELEASE_OF_VERSION:
        release = RELEASE_OF_VERSION[version]
        raise MdlzipError(
            f"archive format version {version} was written by mdlzip {release}; this mdlzip reads version {FORMAT_VERSION}: "
            f"decompress it with mdlzip {release} (pip install 'mdlzip=={release}.*')"
        )
    if version != FORMAT_VERSION:
        raise MdlzipError(f"unsupported format version {version} (this mdlzip reads version {FORMAT_VERSION})")
    if len(view) < len(MAGIC) + 2 + CRC_BYTES:
        raise MdlzipError("truncated archive: shorter than the fixed fields")

    reader = _Reader(view[:-CRC_BYTES])
    reader.take(len(MAGIC) + 1, "magic and version")
    (method_id,) = reader.take(1, "method id")
    if method_id not in _METHOD_IDS:
        raise MdlzipError(f"unknown method id {method_id}")
    original_length = reader.uvarint("original length")
    content_checksum = None if method_id == STORED else reader.take(CHECKSUM_BYTES, "content checksum")
    sections = {}
    if method_id == STORED:
        sections["data"] = reader.take(original_length, "stored data")
    for name in sections_of(method_id):
        size = reader.uvarint(f"{name} section length")
        sections[name] = reader.take(size, f"{name} section")
    if reader.remaining():
        raise MdlzipError(f"corrupt archive: {reader.remaining()} unexpected bytes after the data section")

    stored_crc = int.from_bytes(view[-CRC_BYTES:], "little")
    if zlib.crc32(reader.body) != stored_crc:
        raise Damaged(method_id, original_length, Encoded(**sections))
    return method_id, original_length, content_checksum, Encoded(**sections)
