"""Method 3: one .xz stream of LZMA2 at preset 9e, the strongest classic baseline.

The data section is a complete .xz stream rather than raw LZMA2: ``xz -d`` reads
it on its own (as ``zstd -d`` reads method 1's frame), its block header carries
the filter chain and dictionary size so the reader needs no settings of its own,
and Python's lzma enforces a memory limit while decoding only in this container.
That costs 48 bytes over raw LZMA2, little beside what xz saves where it beats
zstd (9 kB on enwik6, 55 kB on libc.so.6). No xz check: the archive has its own
CRC32 and content checksum.
"""

from __future__ import annotations

import lzma

from ..errors import MdlzipError
from . import Encoded, Options

METHOD_ID = 3
NAME = "xz"
PRESET = 9 | lzma.PRESET_EXTREME
MIN_DICT = 4 << 10  # liblzma's smallest dictionary
MAX_DICT = 64 << 20  # preset 9's dictionary, what xz -9e uses for any input
# The stream, block and LZMA2 decoders' own state beside the dictionary: a few tens of KiB.
DECODER_STATE = 1 << 20
READ_CHUNK = 1 << 20


def dict_size(n: int) -> int:
    """The dictionary for an input of n bytes, as the .xz header can state it (2^k or 3 * 2^(k-1)).

    A dictionary beyond the input finds nothing more: xz -9e's 64 MiB gave the same
    LZMA2 data on every input tried, but the encoder sets up tables for all of it
    (~30 ms for any input) and the decoder would have to allow 64 MiB for a few bytes.
    """
    n = min(max(n, MIN_DICT), MAX_DICT)
    power = 1 << (n - 1).bit_length()
    return power * 3 // 4 if n <= power * 3 // 4 else power


def encode(data: bytes, options: Options) -> Encoded:
    lzma2 = {"id": lzma.FILTER_LZMA2, "preset": PRESET, "dict_size": dict_size(len(data))}
    return Encoded(data=lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_NONE, filters=[lzma2]))


def decode(encoded: Encoded, original_length: int, options: Options) -> bytes:
    # A stream that states a larger dictionary than the declared length calls for is refused
    # before liblzma allocates it.
    dctx = lzma.LZMADecompressor(format=lzma.FORMAT_XZ, memlimit=dict_size(original_length) + DECODER_STATE)
    out = bytearray()
    try:
        # Chunks, stopping one byte past the declared length: memory follows the output really
        # produced, never a claim. The caller rejects any length other than the declared one.
        chunk = dctx.decompress(encoded.data, max_length=min(READ_CHUNK, original_length + 1))
        while chunk:
            out += chunk
            if dctx.eof or len(out) > original_length:
                break
            chunk = dctx.decompress(b"", max_length=min(READ_CHUNK, original_length + 1 - len(out)))
    except lzma.LZMAError as e:
        raise MdlzipError(f"corrupt archive: xz: {e}") from None
    if len(out) <= original_length:
        if not dctx.eof:
            raise MdlzipError("corrupt archive: xz: the stream is truncated")
        if dctx.unused_data:
            raise MdlzipError("corrupt archive: xz: bytes after the end of the stream")
    return bytes(out)
