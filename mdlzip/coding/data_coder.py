"""The data section: S segments range-coded in lock-step with the integer model's frequencies.

The input is cut into S consecutive segments of equal length (the last one may
be shorter). Time step t advances every segment by one byte, so the decoder
calls the model once per step for all S streams and constriction once per step
for S symbols. Symbols go into one queue (FIFO) range coder stream, time-major:
segment 0..S-1 at t = 0, then at t = 1, and so on.

With side models (``coding.adaptive``) each byte is coded as eight binary
decisions instead, in the same time-major order, with the mixed probability of
every bit; the transformer's frequencies become one of the mixer's inputs. A
prior's text (``prime``) primes the side models on both sides before step 0.

Frequencies reach constriction as float64 arrays of integers (totals below
2**24), with ``perfect=False``: constriction's own quantization is then a fixed
sequence of IEEE operations on identical inputs, so both sides agree.
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np

import constriction

from ..errors import MdlzipError
from ..model.config import BOS
from ..model.int_model import IntModel
from .adaptive import SideCoder, SideConfig, side_coder

_FAMILY = constriction.stream.model.Categorical(perfect=False)
# The last mixer's weights for a transformer whose own were not fitted with the side models: 1 and 1.
MIX_START = (1 << 16, 1 << 16)


def segment_lengths(n: int, streams: int) -> list[int]:
    """Lengths of the segments for n bytes and at most ``streams`` segments."""
    if n == 0:
        return []
    seg = math.ceil(n / max(1, min(streams, n)))
    count = math.ceil(n / seg)
    return [seg] * (count - 1) + [n - seg * (count - 1)]


def _segments(data: bytes, lengths: list[int]) -> np.ndarray:
    """(S, max_len) byte matrix, the last segment padded with zeros."""
    out = np.zeros((len(lengths), lengths[0]), dtype=np.int64)
    flat = np.frombuffer(data, dtype=np.uint8)
    for s, start in enumerate(range(0, len(data), lengths[0])):
        out[s, : lengths[s]] = flat[start : start + lengths[s]]
    return out


def _transformer_bits(freqs: np.ndarray, symbols: np.ndarray) -> float:
    """The integer model's own codelength of ``symbols``, in bits (reported, never coded)."""
    picked = freqs[np.arange(len(symbols)), symbols]
    return float(-np.log2(picked / freqs.sum(1)).sum())


def encode(
    data: bytes,
    model: IntModel,
    streams: int,
    chunk: int = 256,
    progress: Optional[Callable[[int], None]] = None,
    side: Optional[SideConfig] = None,
    start: Optional[SideCoder] = None,
    mix: tuple[int, int] = MIX_START,
) -> tuple[bytes, float]:
    """The coded data, and the integer transformer's own codelength of it in bits.

    ``start`` is a side-model encoder for these segments that has already learned a
    prior's text (``side_coder(..., prime=text)``); a copy of it codes, so it serves again.
    ``mix``: the 16.16 weights of the transformer's and the side models' logits where
    the side models' last mixer starts.
    """
    lengths = segment_lengths(len(data), streams)
    if not lengths:
        return b"", 0.0
    segs = _segments(data, lengths)
    S, L = segs.shape
    inputs = np.concatenate([np.full((S, 1), BOS), segs[:, :-1]], 1).astype(np.int32)
    active = np.array(lengths)[None, :] > np.arange(L)[:, None]  # (L, S)
    encoder = constriction.stream.queue.RangeEncoder()
    state = model.new_state(S)
    side_models = (start.copy() if start is not None else side_coder(side, lengths)) if side else None
    if side_models is not None:
        side_models.mix_transformer(*mix)
    symbols_np = segs.astype(np.uint8)
    transformer_bits = 0.0
    for t0 in range(0, L, chunk):
        t1 = min(L, t0 + chunk)
        freqs_np = model.run(inputs[:, t0:t1], state).transpose(1, 0, 2)  # (C, S, 256), time-major
        keep_np = active[t0:t1]
        symbols, kept = symbols_np[:, t0:t1].T[keep_np], freqs_np[keep_np]
        transformer_bits += _transformer_bits(kept, symbols)
        if side_models is None:
            encoder.encode(symbols.astype(np.int32), _FAMILY, kept.astype(np.float64))
        else:
            for t in range(t0, t1):
                m = int(keep_np[t - t0].sum())  # active segments are always the first m
                side_models.encode_step(np.ascontiguousarray(freqs_np[t - t0, :m]), np.ascontiguousarray(symbols_np[:m, t]))
        if progress:
            progress(int(keep_np.sum()))
    if side_models is not None:
        return side_models.finish(), transformer_bits
    return encoder.get_compressed().astype("<u4").tobytes(), transformer_bits


# Steps the side models code alone between two progress reports.
UNIFORM_CHUNK = 1 << 16


def _bytes_in_steps(lengths: list[int], t0: int, t1: int) -> int:
    return sum(max(0, min(length, t1) - t0) for length in lengths)


def encode_uniform(
    data: bytes,
    streams: int,
    side: SideConfig,
    start: Optional[SideCoder] = None,
    progress: Optional[Callable[[int], None]] = None,
    probs: Optional[np.ndarray] = None,
) -> bytes:
    """The data section with the empty model: the side models alone, every step run in C.

    The coded bits are those ``encode`` gives with the empty model's uniform frequencies, without
    running the transformer at all. ``start`` is as in ``encode``. ``probs``, an (n, 8) uint16
    array, receives the probability of every coded bit (``side_bit_probs``) from the same pass.
    """
    lengths = segment_lengths(len(data), streams)
    if not lengths:
        return b""
    coder = start.copy() if start is not None else side_coder(side, lengths)
    for t0 in range(0, lengths[0], UNIFORM_CHUNK):
        coder.encode_all(data, UNIFORM_CHUNK, probs)
        if progress:
            progress(_bytes_in_steps(lengths, t0, t0 + UNIFORM_CHUNK))
    return coder.finish()


def decode_uniform(
    raw: bytes,
    n: int,
    streams: int,
    side: SideConfig,
    prime: bytes = b"",
    progress: Optional[Callable[[int], None]] = None,
) -> bytes:
    """The inverse of ``encode_uniform``."""
    lengths = segment_lengths(n, streams)
    if not lengths:
        return b""
    coder = side_coder(side, lengths, raw, prime)
    out = None
    for t0 in range(0, lengths[0], UNIFORM_CHUNK):
        out = coder.decode_all(UNIFORM_CHUNK)
        if progress:
            progress(_bytes_in_steps(lengths, t0, t0 + UNIFORM_CHUNK))
    return out


def decode(
    raw: bytes,
    model: IntModel,
    n: int,
    streams: int,
    progress: Optional[Callable[[int], None]] = None,
    side: Optional[SideConfig] = None,
    prime: bytes = b"",
    mix: tuple[int, int] = MIX_START,
) -> bytes:
    lengths = segment_lengths(n, streams)
    if not lengths:
        return b""
    if side:
        side_models = side_coder(side, lengths, raw, prime)
        side_models.mix_transformer(*mix)
    elif len(raw) % 4:
        raise MdlzipError("corrupt data section: length is not a multiple of 4")
    else:
        decoder = constriction.stream.queue.RangeDecoder(np.frombuffer(raw, dtype="<u4").astype(np.uint32))
    S, L = len(lengths), lengths[0]
    out = np.zeros((S, L), dtype=np.uint8)
    state = model.new_state(S)
    token = np.full((S, 1), BOS, dtype=np.int32)
    step = np.empty((S, 1, 256), dtype=np.int64)  # the engine writes each step's frequencies here
    full = S if lengths[-1] == L else S - 1  # segments still active at the last steps
    for t in range(L):
        freqs = model.run(token, state, step)[:, 0]
        m = S if t < lengths[-1] else full
        try:
            if side:
                symbols = np.frombuffer(side_models.decode_step(np.ascontiguousarray(freqs[:m])), dtype=np.uint8)
            else:
                symbols = decoder.decode(_FAMILY, freqs[:m].astype(np.float64))
        except (ValueError, RuntimeError, AssertionError) as exc:
            raise MdlzipError(f"corrupt data section: {exc}") from None
        out[:m, t] = symbols
        token[:m, 0] = symbols
        token[m:, 0] = 0
        if progress:
            progress(m)
    return b"".join(out[s, : lengths[s]].tobytes() for s in range(S))
