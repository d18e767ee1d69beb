"""A small PNG decoder: 8-bit grey or RGB images, not interlaced, to binary PNM (P5 or P6).

It serves ``benchmarks.kinds``, which turns a photo shipped in a Debian package
into the raw pixels of an uncompressed image file. Ancillary chunks (colour
profiles, text, resolution) are checked and dropped; other images (palettes, alpha,
16-bit, interlaced) are a ValueError.
"""

from __future__ import annotations

import struct
import zlib
from typing import Iterator

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNM = {0: (b"P5", 1), 2: (b"P6", 3)}  # PNG colour type: PNM magic, bytes per pixel


def chunks(png: bytes) -> Iterator[tuple[bytes, bytes]]:
    """The (type, data) of each chunk up to IEND, their CRCs checked."""
    if not png.startswith(SIGNATURE):
        raise ValueError("not a PNG file")
    pos = len(SIGNATURE)
    while pos + 12 <= len(png):
        length, kind = struct.unpack_from(">I4s", png, pos)
        end = pos + 8 + length
        if end + 4 > len(png):
            break
        data = png[pos + 8 : end]
        if zlib.crc32(kind + data) != struct.unpack_from(">I", png, end)[0]:
            raise ValueError(f"damaged PNG: bad CRC in its {kind.decode('latin-1')} chunk")
        yield kind, data
        if kind == b"IEND":
            return
        pos = end + 4
    raise ValueError("truncated PNG: no IEND chunk")


def _unfilter(kind: int, line: bytearray, prior: bytes, bpp: int) -> None:
    """Undo one row's filter in place (PNG specification, section 9)."""
    n = len(line)
    if kind == 1:  # Sub
        for i in range(bpp, n):
            line[i] = (line[i] + line[i - bpp]) & 255
    elif kind == 2:  # Up
        for i in range(n):
            line[i] = (line[i] + prior[i]) & 255
    elif kind == 3:  # Average
        for i in range(n):
            left = line[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + ((left + prior[i]) >> 1)) & 255
    elif kind == 4:  # Paeth
        for i in range(n):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prior[i], prior[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    elif kind != 0:
        raise ValueError(f"damaged PNG: filter type {kind}")


def to_pnm(png: bytes) -> bytes:
    """The image as a binary PNM file: a P5 (grey) or P6 (RGB) header, then the pixels row by row."""
    header, idat = None, []
    for kind, data in chunks(png):
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", data)
        elif kind == b"IDAT":
            idat.append(data)
    if header is None:
        raise ValueError("damaged PNG: no IHDR chunk")
    width, height, depth, colour, compression, filtering, interlace = header
    if depth != 8 or colour not in _PNM or (compression, filtering, interlace) != (0, 0, 0):
        raise ValueError(f"unsupported PNG (bit depth {depth}, colour type {colour}, interlace {interlace}): only 8-bit grey or RGB, not interlaced")
    magic, bpp = _PNM[colour]
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as exc:
        raise ValueError(f"damaged PNG: {exc}") from None
    stride = width * bpp
    if len(raw) != height * (stride + 1):
        raise ValueError(f"damaged PNG: {len(raw)} bytes of rows, expected {height * (stride + 1)}")
    pixels, prior = bytearray(), bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        line = bytearray(raw[start + 1 : start + 1 + stride])
        _unfilter(raw[start], line, prior, bpp)
        pixels += line
        prior = line
    return magic + f"\n{width} {height}\n255\n".encode() + bytes(pixels)


def to_bmp(png: bytes) -> bytes:
    """The image as an uncompressed BMP (a 40-byte info header): rows bottom to top, each padded to 4
    bytes; RGB pixels as B, G, R, grey ones as 8-bit indices into a grey palette."""
    magic, dims, _maxval, pixels = to_pnm(png).split(b"\n", 3)
    width, height = map(int, dims.split())
    channels = 3 if magic == b"P6" else 1
    stride = width * channels
    pad = bytes(-stride % 4)
    rows = []
    for y in range(height - 1, -1, -1):
        row = pixels[y * stride : (y + 1) * stride]
        if channels == 3:
            swapped = bytearray(row)
            swapped[0::3], swapped[2::3] = row[2::3], row[0::3]
            row = bytes(swapped)
        rows.append(row + pad)
    data = b"".join(rows)
    palette = b"".join(bytes((i, i, i, 0)) for i in range(256)) if channels == 1 else b""
    offset = 14 + 40 + len(palette)
    return (
        b"BM"
        + struct.pack("<IHHI", offset + len(data), 0, 0, offset)
        + struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8 * channels, 0, len(data), 2835, 2835, 0, 0)
        + palette
        + data
    )
