"""benchmarks/png.py: PNG files written here, each row filter and both colour types, decoded to PNM; damaged and unsupported files."""

from __future__ import annotations

import io
import random
import struct
import zlib

import pytest

from benchmarks import png


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def predictor(kind: int, a: int, b: int, c: int) -> int:
    if kind == 4:
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        return a if pa <= pb and pa <= pc else b if pb <= pc else c
    return (0, a, b, (a + b) // 2)[kind]


def png_file(width: int, height: int, colour: int, raw: bytes, depth: int = 8, interlace: int = 0) -> bytes:
    """A PNG of the filtered rows raw, in two IDAT chunks, with a tEXt chunk on the way."""
    data = zlib.compress(raw)
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    return png.SIGNATURE + chunk(b"IHDR", header) + chunk(b"tEXt", b"Comment\0test") + chunk(b"IDAT", data[:10]) + chunk(b"IDAT", data[10:]) + chunk(b"IEND", b"")


def encode(width: int, height: int, colour: int, pixels: bytes, filters: list[int]) -> bytes:
    """A PNG of the pixels, row y filtered with filters[y % len(filters)]."""
    bpp = {0: 1, 2: 3}[colour]
    stride, raw, prior = width * bpp, bytearray(), bytes(width * bpp)
    for y in range(height):
        line, kind = pixels[y * stride : (y + 1) * stride], filters[y % len(filters)]
        raw.append(kind)
        for i in range(stride):
            a, c = (line[i - bpp], prior[i - bpp]) if i >= bpp else (0, 0)
            raw.append((line[i] - predictor(kind, a, prior[i], c)) & 255)
        prior = line
    return png_file(width, height, colour, bytes(raw))


def image(width: int, height: int, bpp: int, seed: int = 0) -> bytes:
    """Pixels like a photo's: a gradient with noise, so that every predictor matters."""
    rng = random.Random(seed)
    return bytes((3 * x + 5 * y + 40 * c + rng.randrange(24)) & 255 for y in range(height) for x in range(width) for c in range(bpp))


@pytest.mark.parametrize("colour, magic, bpp", [(2, b"P6", 3), (0, b"P5", 1)])
def test_every_filter_decodes_to_the_pixels(colour, magic, bpp):
    pixels = image(13, 11, bpp)
    pnm = png.to_pnm(encode(13, 11, colour, pixels, filters=[0, 1, 2, 3, 4, 4, 3, 2, 1]))
    assert pnm == magic + b"\n13 11\n255\n" + pixels


def test_the_decoder_agrees_with_pillow():
    image_module = pytest.importorskip("PIL.Image")
    pixels = image(40, 30, 3, seed=5)
    encoded = io.BytesIO()
    image_module.frombytes("RGB", (40, 30), pixels).save(encoded, "PNG")
    assert png.to_pnm(encoded.getvalue()) == b"P6\n40 30\n255\n" + pixels


def test_a_damaged_chunk_is_an_error():
    good = encode(4, 4, 2, image(4, 4, 3), [1])
    bad = bytearray(good)
    bad[good.index(b"IDAT") + 5] ^= 1
    with pytest.raises(ValueError, match="bad CRC in its IDAT chunk"):
        png.to_pnm(bytes(bad))
    with pytest.raises(ValueError, match="no IEND"):
        png.to_pnm(good[:-12])
    with pytest.raises(ValueError, match="not a PNG"):
        png.to_pnm(b"GIF89a")


@pytest.mark.parametrize("colour, depth, interlace", [(3, 8, 0), (6, 8, 0), (2, 16, 0), (2, 8, 1)])
def test_other_pngs_are_unsupported(colour, depth, interlace):
    with pytest.raises(ValueError, match="unsupported PNG"):
        png.to_pnm(png_file(2, 2, colour, bytes(64), depth, interlace))


def test_a_wrong_amount_of_pixel_data_or_filter_type_is_an_error():
    with pytest.raises(ValueError, match="damaged PNG: 7 bytes of rows, expected 20"):
        png.to_pnm(png_file(4, 4, 0, bytes(7)))
    with pytest.raises(ValueError, match="damaged PNG: filter type 7"):
        png.to_pnm(png_file(2, 1, 0, b"\7\0\0"))


def test_pixel_data_that_is_no_zlib_stream_is_an_error():
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    with pytest.raises(ValueError, match="damaged PNG: Error -3"):
        png.to_pnm(png.SIGNATURE + header + chunk(b"IDAT", b"junk") + chunk(b"IEND", b""))


@pytest.mark.parametrize("colour,bpp", [(0, 1), (2, 3)])
def test_bmp_holds_the_pixels_bottom_up_in_padded_rows(colour, bpp):
    width, height = 7, 5
    pixels = image(width, height, bpp)
    bmp = png.to_bmp(encode(width, height, colour, pixels, filters=[0] * height))
    offset, info, w, h, planes, bits = struct.unpack("<10xI I i i H H", bmp[:30])
    assert bmp[:2] == b"BM" and struct.unpack("<I", bmp[2:6])[0] == len(bmp)
    assert (info, w, h, planes, bits) == (40, width, height, 1, 8 * bpp)
    stride = (width * bpp + 3) // 4 * 4
    assert len(bmp) == offset + stride * height and offset == 54 + (1024 if bpp == 1 else 0)
    for y in range(height):
        row = bmp[offset + (height - 1 - y) * stride :][: width * bpp]
        want = pixels[y * width * bpp :][: width * bpp]
        if bpp == 3:
            want = b"".join(want[i : i + 3][::-1] for i in range(0, len(want), 3))
        assert row == want
