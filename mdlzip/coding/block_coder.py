"""Every block of the neural data section coded alike and independently, in worker processes.

One ``Coding`` holds what all blocks share: the integer model's weights, the
lock-step streams per block, the side models' table size and a prior's text the
side models learn first. Each block is then coded exactly as a whole input of its
length would be (``data_coder``): its own segments, its own side models, its own
transformer state, nothing carried over from the block before. So a block decodes
without the others, and the bytes do not depend on how many processes coded them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import numpy as np

from ..errors import MdlzipError
from ..model.int_model import IntModel, IntWeights
from ..parallel import Pool
from . import data_coder
from .adaptive import SideCoder, SideConfig, side_coder
from .blocks import Block


@dataclass(frozen=True)
class Coding:
    weights: IntWeights
    streams: int  # lock-step segments per block (fewer in a block shorter than that)
    side: Optional[SideConfig]
    # The weights are the empty model's: with side models, they code alone and no transformer runs.
    uniform: bool
    chunk: int = 256  # time steps the encoder feeds the transformer at once
    prime: bytes = b""  # a prior's text, learned by each block's side models before its first byte
    mix: tuple[int, int] = data_coder.MIX_START  # where the side models' last mixer starts (16.16)


@dataclass(frozen=True)
class Coded:
    data: bytes
    integer_bits: float  # the transformer's own codelength of the block (reported, never coded)
    probs: Optional[np.ndarray] = None  # (n, 8) uint16: each coded bit's probability, when asked for


# The integer engine's threads in this process: None (every core it may use) unless a BlockCoder
# or a worker's start-up sets a share.
_engine_threads: Optional[int] = None


def _threads(n: Optional[int]) -> None:
    """This process's share of the cores for the integer engine."""
    global _engine_threads
    _engine_threads = n


# The last primed side models, by (table size, segment lengths, text): a primed start serves
# every block of that length and every candidate coded after it in this process, instead of
# learning the prior's text again for each; held until the BlockCoder closes (or the worker ends).
_primed: dict = {}


def _start(coding: Coding, lengths: list[int]) -> Optional[SideCoder]:
    if not coding.prime or not coding.side:
        return None
    key = (coding.side, tuple(lengths), coding.prime)
    if key not in _primed:
        _primed.clear()
        _primed[key] = side_coder(coding.side, lengths, prime=coding.prime)
    return _primed[key]


def _encode(job: tuple[Coding, bytes, object, Optional[Callable[[int], None]]]) -> Coded:
    """``probs``: None, an (n, 8) array to fill (in this process), or True (a worker: return them)."""
    coding, data, probs, progress = job
    lengths = data_coder.segment_lengths(len(data), coding.streams)
    start = _start(coding, lengths)
    if coding.side and coding.uniform:
        out = np.empty((len(data), 8), dtype=np.uint16) if probs is True else probs
        coded = data_coder.encode_uniform(data, coding.streams, coding.side, start, progress, out)
        return Coded(coded, 8.0 * len(data), out if probs is True else None)
    engine = IntModel(coding.weights, _engine_threads)
    chunk = min(coding.weights.cfg.window, coding.chunk)
    coded, bits = data_coder.encode(data, engine, coding.streams, chunk, progress, coding.side, start, coding.mix)
    return Coded(coded, bits)


def _decode(job: tuple[Coding, int, bytes, Optional[Callable[[int], None]]]) -> bytes:
    coding, length, raw, progress = job
    if coding.side and coding.uniform:
        return data_coder.decode_uniform(raw, length, coding.streams, coding.side, coding.prime, progress)
    return data_coder.decode(raw, IntModel(coding.weights, _engine_threads), length, coding.streams, progress, coding.side, coding.prime, coding.mix)


class BlockCoder:
    """Codes blocks in up to ``workers`` processes, each engine with ``threads`` threads; in this
    process (with its own progress, byte by byte) when one worker is asked for or one block is
    coded, else a block's progress is reported when it is done."""

    def __init__(self, workers: int = 1, threads: Optional[int] = None):
        self.workers = max(1, workers)
        _threads(threads)  # blocks coded in this process
        self.pool = Pool(self.workers, _threads, (max(1, (threads or self.workers) // self.workers),))

    def __enter__(self) -> "BlockCoder":
        return self

    def __exit__(self, *exc) -> None:
        _primed.clear()  # the primed side models' tables: hundreds of MiB

    def _local(self, count: int) -> bool:
        return self.workers == 1 or count == 1

    @property
    def peak_rss(self) -> int:
        return self.pool.peak

    def encode(self, blocks: list, coding: Coding, progress: Optional[Callable[[int], None]] = None, probs: Optional[np.ndarray] = None) -> Iterator[Coded]:
        """One ``Coded`` per block (bytes or memoryviews of the input), in order. ``probs``, an
        (n, 8) uint16 array for the blocks' n bytes, receives the probability of every coded bit of
        the side models alone (``coding.uniform`` with side models)."""
        local = self._local(len(blocks))
        ends = np.cumsum([len(b) for b in blocks]).tolist()
        wanted = [None] * len(blocks) if probs is None else [probs[e - len(b) : e] if local else True for b, e in zip(blocks, ends)]
        jobs = [(coding, b if local else bytes(b), p, progress if local else None) for b, p in zip(blocks, wanted)]
        done = None if local or not progress else (lambda i, _: progress(len(blocks[i])))
        for i, coded in enumerate(self.pool.map(_encode, jobs, done)):
            if coded.probs is not None:
                probs[ends[i] - len(blocks[i]) : ends[i]] = coded.probs
                coded = Coded(coded.data, coded.integer_bits)
            yield coded

    def decode(self, blocks: list[Block], coding: Coding, progress: Optional[Callable[[int], None]] = None) -> list[bytes]:
        """Each block's bytes; an error names the block."""
        local = self._local(len(blocks))
        jobs = [(coding, block.length, bytes(block.data), progress if local else None) for block in blocks]
        done = None if local or not progress else (lambda i, _: progress(blocks[i].length))
        out = []
        try:
            for part in self.pool.map(_decode, jobs, done):
                if len(part) != blocks[len(out)].length:
                    raise MdlzipError(f"corrupt data section: decoded {len(part)} bytes, expected {blocks[len(out)].length}")
                out.append(part)
        except MdlzipError as exc:
            if len(blocks) == 1:
                raise
            raise MdlzipError(f"corrupt archive: block {len(out) + 1} of {len(blocks)}: {exc}") from None
        return out
