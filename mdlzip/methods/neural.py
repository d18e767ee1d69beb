"""Method 2, neural: train a byte transformer on the input, store it, range-code the data with it.

Header section: flags, the model config (left out for the empty model), the number
of lock-step streams, the size of the side models' tables (0: no side models), the
number of blocks, the facts shown by ``info`` (training steps and time, codelengths:
left out where nothing was trained) and, where the archive uses a prior, how and
which one. Model section: the integer weights
(``coding.weight_codec``), or their delta from the prior's. Data section: the
range-coded bytes (``coding.data_coder``), of one block or of several
independent ones (``coding.blocks``, coded in parallel by ``coding.block_coder``),
all coded with the one model. The decoder path imports no trainer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from ..coding import blocks, data_coder, weight_codec, x86_filter
from ..coding.block_coder import BlockCoder, Coding
from ..coding.adaptive import DESCRIPTION as SIDE_MODELS, SideConfig
from ..coding.data_coder import MIX_START
from ..coding.varint import Reader, put_int, put_uint
from ..errors import MdlzipError
from ..model.config import ModelConfig
from ..model.int_model import IntWeights, QTensor
from ..prior import DIGEST_BYTES, apply_delta, delta_of, find
from . import Encoded, Options, Phase, note

METHOD_ID = 2
NAME = "neural"
# Below this the classic methods alone are tried: the side models alone cost no model bytes, and
# their archives of 1,000, 2,000 and 4,000 bytes of English prose are 9%, 12% and 15% smaller than
# the zstd method's (553, 971, 1,705 B against 609, 1,099, 1,998), but on a few dozen bytes they
# have learned nothing yet (300 B: 240 against zstd's 237).
MIN_INPUT = 64
MIN_INPUT_PRIMED = 64  # with a prior the side models start from its text: small inputs can win
# Below this no transformer is trained (a prior's may still be refined): beside the side models
# of format 3 no trained model has paid for itself on 1 MB of text at level 1 or 6 (enwik6: the
# trained candidate 225 and 127 bytes larger than the side models alone, after 2 and 16 minutes
# of training) nor on 4 MiB at level 1 (Linux documentation: 320 bytes larger), so training there
# would be pure waste of time. From here on the level buys training (and above it inputs are blocks).
TRAIN_MIN_INPUT = 8 << 20
MAX_STREAMS = 1 << 16
# Where the classic methods find no structure (random or compressed data, api.py) the side models
# may still: a JPEG's coded bytes come out 0.6% smaller with them (259,494 B: 258,018 B, where
# stored is the best classic archive), random bytes 0.08% larger, a WOFF2 font 0.03% smaller. So
# they are tried on the first PROBE_BYTES there, and the method only where that saves this much.
PROBE_BYTES = 64 << 10
PROBE_MIN_SAVING = 0.0015
# Inputs up to this are one block, coded as one piece; larger ones are cut into independent
# blocks of at most this many bytes (``coding.blocks``), which code and decode in parallel
# processes. Each block's side models start cold: on enwik6, 2 blocks of 500 kB cost 4.8% and
# 4 of 250 kB 10.4% more than one; at 8 MiB a block has long passed the steep start of the side
# models' learning curve. A process holds one block's tables: about 0.7 GiB.
BLOCK_SIZE = 8 << 20
_CFG_BYTES = len(ModelConfig().to_bytes())


def _empty_model() -> IntWeights:
    """The smallest model, all weights zero: uniform predictions, so the side models code alone."""
    cfg = ModelConfig(d_model=8, n_layer=1, n_head=2, d_ff=1, window=2, n_prev=0)
    weights = {name: QTensor(np.zeros(shape, dtype=np.int64), 1, 0) for name, shape in cfg.weight_shapes().items()}
    return IntWeights(cfg, weights, {site: 0 for site in cfg.act_sites()})


EMPTY = _empty_model()


def model_section(weights: IntWeights) -> bytes:
    """The model section of weights that are not a delta: none at all for the empty model (which
    the header's config then names), so the side models alone cost no model bytes."""
    return b"" if weights is EMPTY else weight_codec.encode(weights)


def model_of(section: bytes, cfg: ModelConfig) -> IntWeights:
    """The inverse of ``model_section``, for the header's config."""
    if section:
        return weight_codec.decode(section, cfg)
    if cfg != EMPTY.cfg:
        raise MdlzipError("corrupt archive: an empty model section for a model that is not the empty one")
    return EMPTY


def is_empty(weights: IntWeights) -> bool:
    """Whether this is the empty model, whose frequencies are uniform: the side models then code
    alone, and no transformer needs to run."""
    return weights.cfg == EMPTY.cfg and all(not bool(t.values.any()) for t in weights.weights.values())

# The side models' mixer weight limit (cm/mixer.h); a stored mixing weight beyond it is corrupt.
MIX_LIMIT = 1 << 22


def fixed_mix(mix: tuple[float, float]) -> tuple[int, int]:
    """The trainer's mixing weights as the last mixer's 16.16 integers, within its limit."""
    return tuple(max(-MIX_LIMIT, min(MIX_LIMIT, round(w * 65536))) for w in mix)


# How an archive uses its prior: not at all, only its text (primes the side models), or also its
# transformer (the model section is then the delta from the prior's weights).
NO_PRIOR, PRIMED, DELTA = 0, 1, 2
# The header's flags: the model config and mixing weights are stored (else the empty model's and
# the mixer's start), the training facts are stored (else all 0: nothing was trained), and the
# archive is the side models alone (Header.alone), so empty_bytes is its own size, not stored.
HAS_MODEL, HAS_TRAINING, ALONE = 1, 2, 4
# What the data section codes: the input, or the input after the x86 filter (``coding.x86_filter``).
NO_FILTER, X86 = 0, 1
FILTER_NAMES = {NO_FILTER: None, X86: "x86: call, jump and instruction-pointer-relative addresses made absolute"}
CANDIDATE_NAMES = {"trained": "trained transformer", "empty": "side models alone", "prior": "prior's transformer", "uniform": "uniform code"}
PRIOR_USES = {NO_PRIOR: None, PRIMED: "side models primed with its text", DELTA: "its transformer plus the stored delta; side models primed"}


def pick_device(name: str):
    """The torch device that trains (the integer engine always runs on the CPU)."""
    import torch  # only where a model is trained: decoding needs no torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise MdlzipError("--device cuda: no CUDA device is available")
        # TF32 must not touch training, so that a run is reproducible.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    elif name != "cpu":
        raise MdlzipError(f"unknown device {name!r}")
    return torch.device(name)


def streams_for(n: int, side: bool = False) -> int:
    """Lock-step streams: more streams batch the transformer's steps; each costs a context-free
    start. With the side models, one: they lose the locality of text when the input is coded in
    many places at once (enwik6, side models alone: 489 streams 7.5% larger than one, 4 streams
    2.2%), the trainer fits the transformer to their one-stream probabilities, and the engine
    steps one stream at 76,000 (dense) to 215,000 (1% of weights) bytes per CPU second."""
    if side:
        return 1
    return max(1, min(512, math.ceil(n / 2048)))


@dataclass(frozen=True)
class Header:
    cfg: ModelConfig
    streams: int
    side: SideConfig | None
    blocks: int  # independent blocks of the data section (``coding.blocks``)
    # Informational, for ``info``: never used to decode.
    train_steps: int
    train_ms: int
    # Codelengths of the input in 1/1000 bit per byte (0: not measured): the float model before
    # pruning and quantization, the float model at the end with fake quantization (what the
    # integer model follows), both on up to 128 KiB of the input evenly spread (the trainer's
    # EVAL_BYTES), and the integer model alone without side models, on all of it.
    float_mbpb: int
    final_mbpb: int
    integer_mbpb: int
    # Model + data bytes of each candidate the encoder measured: the trained model, and the empty
    # model (side models alone; 0: not tried, or this archive where it is that candidate: alone).
    # The smaller one is this archive.
    trained_bytes: int
    empty_bytes: int
    # Where the side models' last mixer starts, the 16.16 weights of the transformer's logit and
    # theirs: those the trainer fitted with the transformer (coded right after ``blocks``).
    mix: tuple[int, int] = MIX_START
    # Absent from archives without a prior. The best candidate with the prior's transformer
    # (0: none) is informational like the two above.
    prior_use: int = NO_PRIOR
    prior: bytes = b""
    delta_bytes: int = 0
    filter: int = NO_FILTER  # coded right after ``mix``

    @property
    def alone(self) -> bool:
        """The archive is the side models alone: the empty model, side models, no prior."""
        return self.cfg == EMPTY.cfg and tuple(self.mix) == MIX_START and self.side is not None and self.prior_use == NO_PRIOR

    def _training(self) -> tuple[int, ...]:
        return (self.train_steps, self.train_ms, self.float_mbpb, self.final_mbpb, self.integer_mbpb, self.trained_bytes)

    def to_bytes(self) -> bytes:
        # The flags leave out what an archive of the side models alone would only fill with
        # defaults (the empty model's config, the mixer's start, zeros): enwik5's went from 28 bytes to 8.
        stored = self.cfg != EMPTY.cfg or tuple(self.mix) != MIX_START
        trained = any(self._training())
        out = bytearray()
        put_uint(out, (HAS_MODEL if stored else 0) | (HAS_TRAINING if trained else 0) | (ALONE if self.alone else 0))
        if stored:
            out += self.cfg.to_bytes()
        put_uint(out, self.streams)
        put_uint(out, self.side.table_bits if self.side else 0)
        put_uint(out, self.blocks)
        if stored:
            for w, start in zip(self.mix, MIX_START):
                put_int(out, w - start)  # one byte each where the weights were not fitted
        put_uint(out, self.filter)
        for v in self._training() if trained else ():
            put_uint(out, v)
        if not self.alone:  # else it is this archive's model + data bytes: 2-3 bytes saved
            put_uint(out, self.empty_bytes)
        if self.prior_use != NO_PRIOR:
            put_uint(out, self.prior_use)
            out += self.prior
            put_uint(out, self.delta_bytes)
        return bytes(out)

    @classmethod
    def from_bytes(cls, raw: bytes) -> "Header":
        r = Reader(raw, "neural header")
        flags = r.uint(1 << 40)
        if flags & ~(HAS_MODEL | HAS_TRAINING | ALONE):
            r.fail(f"unknown header flags {flags:#x}")
        cfg = ModelConfig.from_bytes(r.bytes(_CFG_BYTES)) if flags & HAS_MODEL else EMPTY.cfg
        streams, side_bits = r.uint(MAX_STREAMS), r.uint(64)
        side = SideConfig(side_bits) if side_bits else None
        count = r.uint(1 << 40)
        if not 1 <= count <= blocks.MAX_BLOCKS:
            r.fail(f"block count {count} outside 1..{blocks.MAX_BLOCKS}")
        mix = tuple(start + r.int(2 * MIX_LIMIT) for start in MIX_START) if flags & HAS_MODEL else MIX_START
        if max(map(abs, mix)) > MIX_LIMIT:
            r.fail("mixing weight out of range")
        if flags & HAS_MODEL and cfg == EMPTY.cfg and mix == MIX_START:
            r.fail("the model flag is set for the empty model")  # the writer leaves these out: one spelling per header
        data_filter = r.uint(1 << 40)
        if data_filter not in FILTER_NAMES:
            r.fail(f"unknown data filter {data_filter}")
        training = [r.uint(1 << 40), r.uint(1 << 40), r.uint(1 << 20), r.uint(1 << 20), r.uint(1 << 20), r.uint(1 << 50)] if flags & HAS_TRAINING else [0] * 6
        if flags & HAS_TRAINING and not any(training):
            r.fail("the training flag is set with no training facts")
        fields = [*training, 0 if flags & ALONE else r.uint(1 << 50)]
        if streams < 1:
            r.fail("bad stream count")
        tail = Reader(r.rest(), "neural header")
        if not tail.raw:
            header = cls(cfg, streams, side, count, *fields, mix, filter=data_filter)
        else:
            use = tail.uint(DELTA)
            prior, delta_bytes = tail.bytes(DIGEST_BYTES), tail.uint(1 << 50)
            if use == NO_PRIOR or tail.rest() or (use == PRIMED and not side):
                tail.fail("bad prior field or trailing bytes")
            header = cls(cfg, streams, side, count, *fields, mix, use, prior, delta_bytes, data_filter)
        if header.alone != bool(flags & ALONE):  # one spelling per header
            r.fail("the side-models-alone flag does not match the header")
        return header


class FilterChoice(NamedTuple):
    """The data filter chosen, and the side models' data section of the whole input so filtered
    where the trial coded all of it (an input of at most TRIAL_BYTES): the empty model's pass
    would code exactly these bytes again."""

    data_filter: int
    coded: bytes | None


def choose_filter(data: bytes) -> FilterChoice:
    """The x86 filter where the input has the operands of x86 code (at least one per thousand
    bytes; text and random data have a few per hundred thousand) and the side models alone code
    its first TRIAL_BYTES smaller after it than before (a 32-bit image can look like code and
    lose); else none."""
    if x86_filter.candidates(data) < max(8, len(data) // 1000):
        return FilterChoice(NO_FILTER, None)
    sample = data[: x86_filter.TRIAL_BYTES]
    side = SideConfig.for_input(len(sample))
    filtered = data_coder.encode_uniform(x86_filter.forward(sample), 1, side)
    plain = data_coder.encode_uniform(sample, 1, side)
    whole = len(sample) == len(data)
    if len(filtered) < len(plain):
        return FilterChoice(X86, filtered if whole else None)
    return FilterChoice(NO_FILTER, plain if whole else None)


def finds_structure(data: bytes) -> bool:
    """Whether the side models alone code the input's first PROBE_BYTES at least PROBE_MIN_SAVING
    smaller than they are (the auto method's test where the classic methods saved nothing)."""
    sample = data[:PROBE_BYTES]
    coded = data_coder.encode_uniform(sample, 1, SideConfig.for_input(len(sample)))
    return len(coded) <= (1 - PROBE_MIN_SAVING) * len(sample)


class _Measured(NamedTuple):
    """A candidate coded: its exact size (model + data bytes) and what its archive would hold."""

    total: int
    kind: str
    cfg: ModelConfig
    model_bytes: bytes
    data_bytes: bytes
    integer_bits: float
    side: SideConfig | None
    use: int
    streams: int
    mix: tuple[int, int]


def encode(data: bytes, options: Options) -> Encoded:
    # The trainer is only needed to encode: importing it here keeps it off the decoder's path.
    from ..train import distributed
    from ..train.plan import plan_for

    cfg, plan = plan_for(len(data), options.level, options.seed, options.extra)
    if not options.extra.get("empty", True):  # the trained model is measured whatever it costs (benchmarks)
        plan = replace(plan, stop_early=False)
    prior = options.prior
    # Below MIN_INPUT with a prior only the prior can pay; below train_min nothing trained does.
    will_train = (len(data) >= MIN_INPUT or prior is None) and len(data) >= int(options.extra.get("train_min", TRAIN_MIN_INPUT))
    # Torch loads only where a transformer is trained or refined (under torchrun every rank
    # trains): the side models alone code in C, and a small input then starts in a fraction of
    # a second instead of torch's one to three.
    if will_train or (prior and prior.weights is not None) or distributed.world_size() > 1:
        import torch

        from ..model.convert import to_integer
        from ..train.finetune import finetune
        from ..train.trainer import train

        if options.threads:
            torch.set_num_threads(options.threads)
        group = distributed.join(pick_device(options.device))
    else:
        if options.device not in ("auto", "cpu"):
            pick_device(options.device)  # checks the option
        group = distributed.Group(None)
    device = group.device

    def train_progress(phase: str):
        bar = Phase(options.progress, phase, plan.steps, "steps")

        def report(step: int, steps: int, info: dict):
            bar.total = steps
            bar.update(step, info)

        return report

    adaptive = options.extra.get("adaptive", True)
    # The filter is the side models' help with machine code: without them it is not tried.
    choice = choose_filter(data) if adaptive and options.extra.get("filter", True) else FilterChoice(NO_FILTER, None)
    data_filter = choice.data_filter
    if data_filter:
        note(options.progress, f"data filter: {FILTER_NAMES[data_filter]} (the side models code the start of the input smaller so)")
        data = x86_filter.forward(data)
    lengths = blocks.split(len(data), int(options.extra.get("block_size", BLOCK_SIZE)))
    view, starts = memoryview(data), np.cumsum([0, *lengths]).tolist()
    parts = [view[a:b] for a, b in zip(starts, starts[1:])]
    longest = max(lengths)
    streams = int(options.extra.get("streams", streams_for(longest, adaptive)))
    # Side models sized for a block alone, and larger ones that also hold the prior's text.
    side = SideConfig.for_input(longest) if adaptive else None
    side_primed = SideConfig.for_input(longest, len(prior.text)) if adaptive and prior else None
    chunk = max(8, 16384 // streams)
    primed = PRIMED if side_primed else NO_PRIOR
    empty = model_section(EMPTY)
    coder = BlockCoder(options.threads or 1, options.threads)
    if len(lengths) > 1:
        note(options.progress, f"{len(lengths)} blocks of {lengths[-1]:,} to {lengths[0]:,} bytes, coded in {min(coder.workers, len(lengths))} process(es)")
    # Two-part code selection, each candidate measured exactly. Candidates are (kind, weights
    # the decoder rebuilds, model section, prior use): the model trained on the input; with side
    # models the empty model (side models alone, no model bytes at all), also primed by the
    # prior; with a prior's transformer, that transformer with no delta and fine-tuned on the input.
    candidates = []
    result = None
    # One pass of the side models alone gives the empty model's data section and the bit
    # probabilities the transformer is trained to complement (each block's, as its decoder sees them).
    alone, side_probs = None, None
    mixture = side and will_train and plan.mixture
    if side and group.leader and choice.coded is not None and len(lengths) == 1 and not mixture:
        alone = choice.coded  # the filter's trial coded the whole input just so
    elif side and group.leader:
        side_probs = np.empty((len(data), 8), dtype=np.uint16) if mixture else None
        alone_blocks = coder.encode(parts, Coding(EMPTY, 1, side, True), Phase(options.progress, "side models", len(data)).advance, side_probs)
        alone = blocks.pack(lengths, [c.data for c in alone_blocks])
    if not will_train:
        note(options.progress, f"no transformer trained: below {int(options.extra.get('train_min', TRAIN_MIN_INPUT)):,} bytes none has paid")
    if will_train:
        if mixture:
            side_probs = group.broadcast_array(side_probs, (len(data), 8), np.uint16)
        note(options.progress, f"training {plan.steps:,} steps of {plan.batch} windows of {plan.seq_len} bytes: {cfg.describe()}"
             + (f"; {group.world} processes ({group.backend}) share each batch" if group.world > 1 else ""))
        # Only rank 0 reports, so only it measures the float model's codelength.
        result = train(data, cfg, plan, device, train_progress("train"), streams if group.leader else None, side_probs, group)
        del side_probs  # 16 bytes per input byte, not needed to code
        if group.world > 1:
            note(options.progress, f"the {group.world} processes ended training with identical weights")
        group.leave()
    if not group.leader:
        return None  # rank 0 codes and writes the archive
    if will_train and result.stopped is not None:
        why = "pruning kept no weight" if math.isinf(result.stopped) else (
            f"the model pruning kept would code the input {result.stopped:,.0f} bytes larger than the side models alone (two-part estimate on held-out windows)")
        note(options.progress, f"training stopped after {result.steps:,} of {plan.steps:,} steps: {why}")
    elif will_train:
        trained = to_integer(result.model)
        candidates.append(("trained", trained, weight_codec.encode(trained), primed, fixed_mix(result.mix)))
    if side and options.extra.get("empty", True):  # False: measure the trained model alone (benchmarks)
        candidates.append(("empty", EMPTY, empty, NO_PRIOR, MIX_START))
        if primed:
            candidates.append(("empty", EMPTY, empty, PRIMED, MIX_START))
    if prior and prior.weights is not None:
        candidates.append(("prior", prior.weights, weight_codec.encode(delta_of(prior.weights, prior.weights)), DELTA, MIX_START))
        tuned = finetune(data, prior.weights, replace(plan, steps=max(1, plan.steps // 2)), device, train_progress("fine-tune"))
        candidates.append(("prior", tuned, weight_codec.encode(delta_of(prior.weights, tuned)), DELTA, MIX_START))
    if not candidates:  # nothing trained and no side models: every byte value equally likely
        candidates.append(("uniform", EMPTY, empty, NO_PRIOR, MIX_START))
    coded = []
    with coder:
        for kind, weights, model_bytes, use, mix in candidates:
            # The side models learn the prior's text first, in every block alike.
            side_i, prime = (side_primed, prior.text if side_primed else b"") if use != NO_PRIOR else (side, b"")
            # The empty model's data section is the side models' pass above, already made.
            side_alone = is_empty(weights) and side and use == NO_PRIOR
            streams_i = 1 if side_alone else streams
            if side_alone and alone is not None and len(alone) <= len(data):
                data_bytes, integer_bits = alone, 8.0 * len(data)
            else:
                phase = f"encode: {CANDIDATE_NAMES[kind]}{' (primed)' if use == PRIMED else ''}"
                coding = Coding(weights, streams_i, side_i, is_empty(weights), chunk, prime, mix)
                data_bytes, integer_bits, side_i = _code_data(coder, parts, lengths, coding, options, phase)
            if use == PRIMED and side_i is None:  # the side models did not pay, so neither does the text
                use = NO_PRIOR
            coded.append(_Measured(len(model_bytes) + len(data_bytes), kind, weights.cfg, model_bytes, data_bytes, integer_bits, side_i, use, streams_i, mix))
    if len(lengths) > 1:
        note(options.progress, f"peak memory of a process coding blocks: {coder.peak_rss / 2**20:,.0f} MiB")
    best = min(coded, key=lambda c: c.total)
    note(options.progress, "candidates, model + data bytes: " + ", ".join(
        f"{CANDIDATE_NAMES[c.kind]}{' (primed)' if c.use == PRIMED else ''} {c.total:,}{' (kept)' if c is best else ''}" for c in coded))

    def smallest(kind: str) -> int:
        return min((c.total for c in coded if c.kind == kind), default=0)

    def milli(bpb: float) -> int:
        return 0 if math.isnan(bpb) else round(bpb * 1000)

    header = Header(
        best.cfg, best.streams, best.side, len(lengths), result.steps if result else 0, int(result.seconds * 1000) if result else 0,
        milli(result.float_bpb if result else math.nan), milli(result.final_bpb if result else math.nan),
        # the empty model's 8 bits per byte is no measurement where nothing was trained
        0 if result is None and best.kind in ("empty", "uniform") else milli(best.integer_bits / len(data)),
        smallest("trained"), smallest("empty"), best.mix, best.use, prior.digest if best.use != NO_PRIOR else b"", smallest("prior"),
        data_filter,
    )
    if header.alone:  # its own size: not stored, so not kept either (one value per header)
        header = replace(header, empty_bytes=0)
    return Encoded(header.to_bytes(), best.model_bytes, best.data_bytes)


def _code_data(coder: BlockCoder, parts: list, lengths: list[int], coding: Coding, options: Options, phase: str) -> tuple[bytes, float, SideConfig | None]:
    """The data section, every block coded with exactly the model the decoder will rebuild; without
    the side models where they do not beat the transformer's own codelength."""

    def run(coding: Coding, phase: str) -> tuple[bytes, float]:
        coded = list(coder.encode(parts, coding, Phase(options.progress, phase, sum(lengths)).advance))
        return blocks.pack(lengths, [c.data for c in coded]), sum(c.integer_bits for c in coded)

    if coding.side and coding.uniform:
        data_bytes, integer_bits = run(coding, phase)
        if len(data_bytes) <= sum(lengths):
            return data_bytes, integer_bits, coding.side
        coding = replace(coding, side=None, prime=b"")  # incompressible: the uniform code below is never larger than the input
    data_bytes, integer_bits = run(coding, phase)
    if coding.side and len(data_bytes) > integer_bits / 8 + 8:
        coding = replace(coding, side=None, prime=b"")
        data_bytes, integer_bits = run(coding, f"{phase} without side models")
    return data_bytes, integer_bits, coding.side


# Every frequency is at least 1 of at most 2**16 + 255 (and every bit probability at most
# 4095/4096), so each byte costs at least 0.0028 bits: an honest data section never codes
# more than ~2,840 bytes per byte. A larger claim is a hostile archive, refused before
# anything of the claimed size is allocated.
MAX_BYTES_PER_DATA_BYTE = 4096


def decode(encoded: Encoded, original_length: int, options: Options) -> bytes:
    header = Header.from_bytes(encoded.header)
    if original_length > MAX_BYTES_PER_DATA_BYTE * (len(encoded.data) + 8):
        raise MdlzipError("corrupt archive: the data section is too short for the original length")
    parts = blocks.read(encoded.data, header.blocks, original_length, MAX_BYTES_PER_DATA_BYTE)
    if options.device not in ("auto", "cpu"):
        pick_device(options.device)  # checks the option; the integer engine itself runs on the CPU
    weights, prime = model_of(encoded.model, header.cfg), b""
    if header.prior_use != NO_PRIOR:
        prior = find(header.prior, [options.prior] if options.prior else [])
        prime = prior.text if header.side else b""
        if header.prior_use == DELTA:
            if prior.weights is None or prior.weights.cfg != header.cfg:
                raise MdlzipError("corrupt archive: its prior has no transformer of the archive's shape")
            weights = apply_delta(prior.weights, weights)
    coding = Coding(weights, header.streams, header.side, is_empty(weights), prime=prime, mix=header.mix)
    coder = BlockCoder(options.threads or 1, options.threads)
    out = b"".join(coder.decode(parts, coding, Phase(options.progress, "decode", original_length).advance))
    if header.filter == X86:
        out = x86_filter.inverse(out)
    if header.blocks > 1:
        note(options.progress, f"{header.blocks} blocks decoded in {min(coder.workers, header.blocks)} process(es), peak memory of one {coder.peak_rss / 2**20:,.0f} MiB")
    return out


def locate_damage(encoded: Encoded, original_length: int) -> str | None:
    """Where an archive whose CRC32 failed is damaged, if a block's own CRC32 tells: "block k of B"."""
    try:
        count = Header.from_bytes(encoded.header).blocks
    except MdlzipError:
        return None
    index = blocks.damaged(encoded.data, count)
    return None if index is None else f"block {index + 1} of {count}"


def _training(header: Header) -> str | None:
    """Why no trained candidate was coded, where none was."""
    if header.trained_bytes:
        return None
    if header.train_steps:
        return f"stopped after {header.train_steps:,} steps: the model pruning kept did not beat the side models alone (two-part estimate)"
    return f"skipped: no transformer is trained below {TRAIN_MIN_INPUT:,} bytes (none paid there); a prior's may be refined"


def describe(encoded: Encoded, original_length: int) -> dict:
    header = Header.from_bytes(encoded.header)
    w = model_of(encoded.model, header.cfg)
    stats = weight_codec.measure(w)
    nonzero = sum(t.nonzero for t in stats)
    mask_bits, value_bits = sum(t.mask_bits for t in stats), sum(t.value_bits for t in stats)
    return {
        "params_total": header.cfg.n_params(),
        "params_nonzero": nonzero,
        # Inside model_bytes: the ideal codelengths of the mask and of the nonzero values under
        # the codec's own models; the rest is the fixed tables and the coder's slack.
        "mask_bytes": round(mask_bits / 8, 1),
        "value_bytes": round(value_bits / 8, 1),
        "mask_bits_per_nonzero": mask_bits / nonzero if nonzero else None,
        "value_bits_per_nonzero": value_bits / nonzero if nonzero else None,
        "architecture": header.cfg.describe(),
        "streams": header.streams,
        "block_count": header.blocks,
        # Inside data_bytes: the block table (none for one block), then each block's coded bytes.
        "block_table_bytes": blocks.table_bytes(encoded.data, header.blocks),
        "blocks": blocks.describe(encoded.data, header.blocks, original_length),
        "train_steps": header.train_steps,
        # Why no trained candidate was coded, where none was: training skipped, or stopped.
        "training": _training(header),
        "train_seconds": header.train_ms / 1000,
        "float_bpb": header.float_mbpb / 1000 if header.float_mbpb else None,
        "final_float_bpb": header.final_mbpb / 1000 if header.final_mbpb else None,
        # The data section's bits per byte, and the integer transformer's own codelength without
        # the side models, measured in the encoder's pass.
        "data_bpb": 8 * len(encoded.data) / original_length if original_length else None,
        "integer_bpb": header.integer_mbpb / 1000 if header.integer_mbpb else None,
        "trained_model_candidate_bytes": header.trained_bytes,
        "side_models_alone_candidate_bytes": len(encoded.model) + len(encoded.data) if header.alone else header.empty_bytes or None,
        "data_filter": FILTER_NAMES[header.filter],
        "side_models": f"{SIDE_MODELS}; a hash table of 2^{header.side.table_bits} slots of 16 bytes" if header.side else None,
        # Where the last mixer starts: the weights of the transformer's logit and the side models'.
        "mix_weights": [w / 65536 for w in header.mix] if header.side and not is_empty(w) else None,
        "prior": header.prior.hex() if header.prior_use != NO_PRIOR else None,
        "prior_use": PRIOR_USES[header.prior_use],
        # With the prior's transformer the model section is the coded change from it.
        "delta_bytes": len(encoded.model) if header.prior_use == DELTA else None,
        "prior_transformer_candidate_bytes": header.delta_bytes or None,
        "tensors": {
            t.name: {"size": t.size, "nonzero": t.nonzero, "mask_bytes": round(t.mask_bits / 8, 1), "value_bytes": round(t.value_bits / 8, 1)}
            for t in stats
        },
    }


