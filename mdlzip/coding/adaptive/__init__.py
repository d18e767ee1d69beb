"""Adaptive side models mixed with the transformer: the part of the code that costs no archive bytes.

The stored transformer gives a distribution over the next byte. Beside it run
models that learn while coding, so the decoder rebuilds them from the bytes it
has already decoded (the prequential part of the code, as in paq and cmix).
Each byte is coded as eight binary decisions, most significant bit first.

- Context models (``cm/context_map.h``): hashed contexts of orders 0, 2, 4-6
  and 8 (5 and 6 off in inputs under 256 KiB; orders 1 and 3 have direct maps), thirty-seven text contexts
  (``cm/text_model.h``: the current word case-folded, with a skip-gram and a
  trigram, with the byte before it, with how recently it was last seen, with the
  1 KiB block it is in; the last five words of a phrase; the character above in
  the previous line; the text's shape with the nesting of brackets, quotes and
  tags, and with the last two bytes; the innermost open construct's name; the
  line's first bytes; the last two punctuation bytes with the word and the shape
  of the text after them; the groups of the last bytes; word endings; field
  names; the kinds of the last words and the previous word's stem; the field of a
  table's line; the indentation; the column and the distance to the lines' width;
  the word alone; the identifier; open markup elements and the one a closing tag
  closes; the region of marked-up text (``text_region``: a link, a template, a
  heading, emphasis, a tag, a list item, a quotation, ...) with the word and with
  the last byte; each off where it says nothing; in text the contexts of
  case-folded words see a capital's second nibble as its small letter's,
  ``TEXT_FOLDED``) and eight structure contexts (``cm/structure_model.h``: indirect,
  sparse, byte 2 back, and the bytes one and two records above where a record
  length is detected, the first record context off in inputs under 256 KiB). Each context holds a one-byte bit history per node of the byte's
  bit tree (a generated nonstationary state table, ``cm/state_table.c``) read
  through an adaptive map per context, and the last bytes seen in it with their
  run length. Inside the pixels of a PNM or BMP image (``cm/image_model.h``),
  contexts of the neighbouring pixels take the text contexts' place; in x86-64
  machine code (``cm/x86_model.h``, a parser of instruction lengths), sixteen
  contexts of where the byte falls in its instruction with the opcodes and bytes
  of this and the last instructions take the last sixteen's.
- A match model (``cm/match_model.h``): three candidates of minimum length 5,
  12 and 24 over every stream's coded bytes, verified, recovering after a
  mismatch; the longest one's expected byte is also a context, a mixer selector
  and an SSE context.
- A DMC model (``cm/dmc_model.h``): a bit-level state machine shared by the
  streams, grown from the order-1 machine by cloning nodes reached from several
  places and rebuilt when full; two inputs.
- Mixing (``cm/mixer.h``): all of the above and direct order 1-3 maps as
  stretched logits into seven logistic mixers, whose weight sets are chosen by
  the partial byte with the previous bytes (in a region of the text, with the
  region), the last punctuation or the match's expected byte, by how many orders
  know their context with the match state (one set in inputs under 256 KiB), and by the text's shape (in images, the local gradients), each set with its own learning rate; a second
  layer of two mixers (by the partial byte and the match, by the orders seen with the position
  in a word) combines them. Seven APMs (``cm/maps.h``) refine the result (orders
  0-4, the match's expected byte and length or else the text's region, the
  punctuation with where the next letter's case is decided), averaged and
  mixed by weights per region. A stored
  transformer's bit probability comes in last, through a two-input mixer with
  the side models' result, and a binary arithmetic coder (``cm/bit_coder.h``)
  codes it at 16-bit precision.

The loop (``cm/predictor.c``) uses integer arithmetic only, visits the streams
of a step in order and updates every table right after the bit it predicted,
so encoder and decoder hold the same state at every bit on any machine. Its
logistic tables come from ``logistic.py``. With the empty model (side models
alone) ``encode_all``/``decode_all`` run the whole input in C.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import MdlzipError
from ._side import OFF_ALL, SMALL_INPUT_BITS, SideCoder  # noqa: F401 - the coder's type, for annotations elsewhere
from .logistic import squash16_table, squash_table, stretch_table

TABLE_BITS_MIN, TABLE_BITS_MAX = 12, 26
# The largest table an encoder chooses: 2**25 slots of 16 bytes is 512 MiB (a process of about
# 1.1 GB). Against 2**24, side models' data: enwik6 -0.06%, linux-4MiB -0.17%, an 8 MiB block
# -0.44%; 2**26 gave that block -0.67% but 1.6 GB a process, times the blocks coded at once.
TABLE_BITS_LIMIT = 25
DESCRIPTION = (
    "bit-history context models (orders 0, 2, 4-6, 8; 37 text, 8 structure contexts; 22 image contexts "
    "inside PNM/BMP pixels, 16 x86 contexts in machine code), 3-candidate match model, DMC model, direct orders 1-3; "
    "7+2 mixers, 7 APMs"
)


@dataclass(frozen=True)
class SideConfig:
    """What the archive records: the size of the hashed table (the model set is fixed by the format)."""

    table_bits: int

    def __post_init__(self):
        if not TABLE_BITS_MIN <= self.table_bits <= TABLE_BITS_MAX:
            raise MdlzipError("invalid side-model config: bad table size")

    @classmethod
    def for_input(cls, n: int, primed: int = 0) -> "SideConfig":
        """About 32 slots of 16 bytes per input byte (each byte touches two per context), so that contexts rarely
        collide, within the limits above; twice that, up to the small-input model's largest table
        (SMALL_INPUT_BITS - 1, inputs under 256 KiB), where a table is small anyway and its fifty-odd
        contexts crowd it (enwik5 -5 B, the kinds files -13 B)."""
        bits = (32 * max(n + primed, 1)).bit_length()
        if bits < SMALL_INPUT_BITS:
            bits = min(bits + 1, SMALL_INPUT_BITS - 1)
        return cls(min(TABLE_BITS_LIMIT, max(16, bits)))


def side_coder(cfg: SideConfig, lengths: list[int], data: bytes | None = None, prime: bytes = b"", off: int = 0) -> SideCoder:
    """A coder for segments of these lengths: encodes when ``data`` is None, else decodes it.

    ``prime`` is a prior's text: the models learn from it before the first byte
    (both sides alike), so a small input starts from English statistics, not from nothing.
    ``off`` switches component families off (``cm/predictor.h``; ablation benchmarks only:
    archives always use every component).
    """
    coder = SideCoder(
        lengths,
        cfg.table_bits,
        stretch_table().astype("<i2").tobytes(),
        squash_table().astype("<i2").tobytes(),
        squash16_table().astype("<u2").tobytes(),
        data,
        off,
    )
    if prime:
        coder.prime(prime)
    return coder


def side_bit_probs(data: bytes, cfg: SideConfig) -> np.ndarray:
    """(n, 8): the probability (of 65536) the side models alone (a uniform transformer) give each
    bit of each byte, most significant first, coded as one stream. What the trainer needs to fit
    the transformer to what these models miss; reporting only, nothing is coded from it."""
    probs = np.empty((len(data), 8), dtype=np.uint16)
    if data:
        side_coder(cfg, [len(data)]).encode_all(data, probs=probs)
    return probs
