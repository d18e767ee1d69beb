"""The image model (cm/image_model.h): which headers it believes, what it buys, and that both sides
follow it exactly; a header it misreads costs bytes, never a wrong decode."""

import hashlib
import struct

import pytest

from test_adaptive import _assert_text_after_codes_as_text, _coded as coded, _lcg, _round_trip

OFF_IMAGE = 256  # cm/predictor.h
# sha256 of the side models' data section for the PPM of test_image_bitstream_is_pinned.
PINNED_IMAGE = "215a59070ac685d5eb7afe29343526be1d4f61a0c791c730da2122b37c2f06e1"


def pixels(width: int, height: int, channels: int, seed: int = 1) -> bytes:
    """A smooth picture with noise, rows top to bottom; a fixed generator, so the same everywhere."""
    noise = iter(_lcg(width * height * channels, seed))
    return bytes(
        (3 * x + 2 * y + 40 * c + 20 * ((x // 16 + y // 16) % 2) + next(noise) % 9) & 255
        for y in range(height)
        for x in range(width)
        for c in range(channels)
    )


def pnm(width: int, height: int, channels: int, header: bytes | None = None) -> bytes:
    magic = b"P6" if channels == 3 else b"P5"
    return (header or magic + b"\n%d %d\n255\n" % (width, height)) + pixels(width, height, channels)


def bmp(width: int, height: int, bits: int) -> bytes:
    """An uncompressed BMP: rows bottom to top, BGR(A), each padded to 4 bytes; 8 bits with a grey palette."""
    channels = bits // 8
    top_down = pixels(width, height, channels)
    row = width * channels
    pad = b"\0" * (-row % 4)
    data = b"".join(top_down[y * row:(y + 1) * row][::-1] + pad for y in range(height - 1, -1, -1))
    palette = b"".join(bytes([i, i, i, 0]) for i in range(256)) if bits == 8 else b""
    offset = 54 + len(palette)
    header = b"BM" + struct.pack("<IHHI", offset + len(data), 0, 0, offset)
    header += struct.pack("<IiiHHIIiiII", 40, width, height, 1, bits, 0, len(data), 2835, 2835, 0, 0)
    return header + palette + data




@pytest.mark.parametrize(
    "name,image",
    [
        ("P6", pnm(61, 40, 3)),
        ("P5 with a comment", pnm(97, 50, 1, b"P5\n# made by a test\n97  50\n# and another\n255\r")),
        ("BMP 24 bits, padded rows", bmp(61, 40, 24)),
        ("BMP 8 bits, palette", bmp(97, 50, 8)),
        ("BMP 32 bits", bmp(45, 40, 32)),
    ],
)
def test_an_image_codes_smaller_with_its_model(name, image):
    with_model, without = len(coded(image)), len(coded(image, OFF_IMAGE))
    assert with_model < 0.94 * without, (name, with_model, without)


@pytest.mark.parametrize(
    "data",
    [
        b"x" + pnm(61, 40, 3),  # "P6" not at the start of the data or of a line
        pnm(61, 40, 3, b"P6\n61 40\n256\n"),  # 16-bit samples
        pnm(61, 40, 3, b"P6\n0 40\n255\n"),
        pnm(61, 40, 3, b"P6\n123456 40\n255\n"),  # more than five digits
        pnm(61, 40, 3, b"P7\n61 40\n255\n"),
        pnm(61, 40, 3, b"P6\n61 40 x 255\n"),
        bmp(61, 40, 16),
        bmp(61, 40, 24).replace(b"\x01\x00\x18\x00", b"\x02\x00\x18\x00", 1),  # two planes
        b"The letters BM and P6 in text, and\nP5 words 1 2 3 are no header.\n" * 40,
    ],
)
def test_what_is_not_a_header_changes_nothing(data):
    """Without a header it believes, the model is idle: the coded bytes are exactly those without it."""
    assert coded(data) == coded(data, OFF_IMAGE)


def test_the_image_ends_where_its_header_says():
    """After the pixels the text contexts return."""
    _assert_text_after_codes_as_text(pnm(61, 40, 3), OFF_IMAGE)


@pytest.mark.parametrize(
    "data",
    [
        pnm(61, 40, 3)[:500],  # truncated pixels
        b"P6\n65535 65535\n255\n" + bytes(3000),  # a huge image that never comes
        bmp(61, 40, 24)[:40],  # a header cut short
        bmp(61, 40, 24)[:60],
        b"BM" + bytes(52) + b"tail",  # a header of zeros
        b"P6\n1 1\n1\n" + bytes(range(256)) * 4,
        bmp(1, 1, 32) * 30,  # images back to back
        pnm(3, 2, 3) * 50,
    ],
)
def test_hostile_and_odd_headers_round_trip(data):
    coded(data)


@pytest.mark.parametrize("streams", [1, 3])
def test_encoder_and_decoder_states_match_on_images(streams):
    """Stream 0 holds the header; the others start inside the pixels and never see one."""
    _round_trip(pnm(61, 40, 3) + bmp(33, 20, 24), streams, "random")


def test_image_bitstream_is_pinned():
    assert hashlib.sha256(coded(pnm(61, 40, 3) + bmp(45, 20, 8))).hexdigest() == PINNED_IMAGE
