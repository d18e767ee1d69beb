"""Unsigned LEB128 and zigzag integers for the model and header sections."""

from __future__ import annotations

from ..errors import MdlzipError


def put_uint(out: bytearray, v: int):
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return


def put_int(out: bytearray, v: int):
    put_uint(out, (v << 1) if v >= 0 else ((-v << 1) - 1))


class Reader:
    """Reads a byte string front to back; every read checks what is left."""

    def __init__(self, raw: bytes, what: str):
        self.raw, self.pos, self.what = raw, 0, what

    def fail(self, why: str):
        raise MdlzipError(f"corrupt {self.what}: {why}")

    def bytes(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.raw):
            self.fail("truncated")
        out = self.raw[self.pos : self.pos + n]
        self.pos += n
        return out

    def uint(self, limit: int) -> int:
        v = shift = 0
        while True:
            b = self.bytes(1)[0]
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
            if shift > 63:
                self.fail("integer too long")
        if v > limit or (b == 0 and shift > 7):
            self.fail("integer out of range")
        return v

    def int(self, limit: int) -> int:
        z = self.uint(2 * limit + 1)
        return (z >> 1) if not z & 1 else -((z + 1) >> 1)

    def rest(self) -> bytes:
        return self.bytes(len(self.raw) - self.pos)
