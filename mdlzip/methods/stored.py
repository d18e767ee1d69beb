"""Method 0: the input as it is. The fallback that bounds every archive's overhead."""

from __future__ import annotations

from . import Encoded, Options

METHOD_ID = 0
NAME = "stored"


def encode(data: bytes, options: Options) -> Encoded:
    return Encoded(data=bytes(data))


def decode(encoded: Encoded, original_length: int, options: Options) -> bytes:
    return encoded.data
