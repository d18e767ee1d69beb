"""Method 1: one standard zstd frame at level 19, the classic baseline.

The data section is a plain zstd frame (content size recorded, no zstd
checksum: the container has its own), so ``zstd -d`` can read it too.
"""

from __future__ import annotations

import zstandard

from ..errors import MdlzipError
from . import Encoded, Options

METHOD_ID = 1
NAME = "zstd"
LEVEL = 19
# Level 19 already uses an 8 MiB window; beyond that, long-distance matching with a
# window covering the whole input lets matches reach back to its start (zstd --long).
LONG_INPUT = 8 << 20
BASE_WINDOW_LOG = 23
MAX_WINDOW_LOG = 31
READ_CHUNK = 1 << 20


def _window_log(n: int) -> int:
    """log2 of the largest window an encoder of n bytes uses; the decoder allows no more."""
    return min(MAX_WINDOW_LOG, max(BASE_WINDOW_LOG, (n - 1).bit_length()))


def encode(data: bytes, options: Options) -> Encoded:
    n = len(data)
    long_mode = {"window_log": _window_log(n), "enable_ldm": True} if n > LONG_INPUT else {}
    params = zstandard.ZstdCompressionParameters.from_level(LEVEL, source_size=n, **long_mode)
    return Encoded(data=zstandard.ZstdCompressor(compression_params=params).compress(data))


def decode(encoded: Encoded, original_length: int, options: Options) -> bytes:
    dctx = zstandard.ZstdDecompressor(max_window_size=1 << _window_log(original_length))
    out = bytearray()
    try:
        with dctx.stream_reader(encoded.data) as reader:
            # Stream in chunks and stop one byte past the declared length: memory follows
            # the output really produced, so a frame that merely claims a huge size
            # allocates nothing. The caller rejects any length other than the declared one.
            while len(out) <= original_length:
                chunk = reader.read(min(READ_CHUNK, original_length + 1 - len(out)))
                if not chunk:
                    break
                out += chunk
    except zstandard.ZstdError as e:
        raise MdlzipError(f"corrupt archive: zstd: {e}") from None
    return bytes(out)
