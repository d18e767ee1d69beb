"""The side models: encoder and decoder stay in the same state, bit for bit, in every layout."""

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from mdlzip.coding import data_coder
from mdlzip.coding.adaptive import OFF_ALL, SideConfig, _side, side_bit_probs, side_coder
from mdlzip.coding.adaptive.logistic import LOGIT_MAX, P16_ONE, P_ONE, squash, squash16_table, squash_table, stretch, stretch_table
from mdlzip.errors import MdlzipError
from mdlzip.model.int_model import IntModel

from neural_helpers import random_int_weights

SOURCE = Path(data_coder.__file__).read_bytes()
# sha256 of the data section in test_bitstream_is_pinned; changes only with a new format version.
PINNED = "f277d0622be411ddf939fb1056b93ef8d7adfd0ed6afb53ee7dc94ce79cab3d8"
SQUASH16 = "84ead9aa2ebf71e76f6d5552f2f2ab4560d3adcbf365c108a860a6a09c10952e"


def test_logistic_tables_are_pinned():
    """Computed with the decimal module, so the same on every machine; a change would break archives."""
    assert hashlib.sha256(stretch_table().astype("<i2").tobytes()).hexdigest() == "6647a2127f6da568bdfd13bc3244a31303727ba99558813b52b5fe889582473a"
    assert hashlib.sha256(squash_table().astype("<i2").tobytes()).hexdigest() == "69fc26cc6e313444a0879b9f7a70eff4c1a8a20c53d258c7dcb6b659815bb672"
    assert hashlib.sha256(squash16_table().astype("<u2").tobytes()).hexdigest() == SQUASH16


def test_logistic_tables_are_the_decimal_modules_values(monkeypatch):
    """The tables computed in doubles, the decimal module settling only values near a tie, hold
    exactly the values the decimal module gives for every entry."""
    from mdlzip.coding.adaptive import logistic

    fast = [f.__wrapped__() for f in (logistic.stretch_table, logistic.squash_table, logistic.squash16_table)]
    monkeypatch.setattr(logistic, "_TIE_MARGIN", 1.0)  # every value is near a tie
    exact = [f.__wrapped__() for f in (logistic.stretch_table, logistic.squash_table, logistic.squash16_table)]
    for a, b in zip(fast, exact):
        assert np.array_equal(a, b)


def test_squash16_refines_squash():
    assert np.abs(squash16_table() // 16 - squash_table()).max() <= 1
    assert squash16_table()[LOGIT_MAX] == P16_ONE // 2


def test_squash_inverts_stretch():
    p = np.arange(1, P_ONE)
    assert np.abs(squash(stretch(p)) - p).max() <= 2
    assert squash(np.array([-10**6, 0, 10**6])).tolist() == [1, P_ONE // 2, P_ONE - 1]
    assert stretch(np.array([0, 1, P_ONE - 1])).tolist() == [-LOGIT_MAX, -LOGIT_MAX, LOGIT_MAX]


def _segments(data: bytes, streams: int) -> tuple[list[int], np.ndarray]:
    lengths = data_coder.segment_lengths(len(data), streams)
    return lengths, data_coder._segments(data, lengths).astype(np.uint8)


def _freqs(kind: str, steps: int, S: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        return np.ones((steps, S, 256), dtype=np.int64)
    if kind == "random":
        return rng.integers(1, 1 << 16, (steps, S, 256), dtype=np.int64)
    peaked = np.ones((steps, S, 256), dtype=np.int64)  # a confident, often wrong model
    peaked[np.arange(steps)[:, None], np.arange(S)[None, :], rng.integers(0, 256, (steps, S))] = 1 << 24
    return peaked


def _round_trip(data: bytes, streams: int, freqs_kind: str, table_bits: int = 12) -> bytes:
    lengths, segs = _segments(data, streams)
    S, L = segs.shape
    freqs = _freqs(freqs_kind, L, S, len(data))
    cfg = SideConfig(table_bits)
    enc, dec = side_coder(cfg, lengths), None
    if freqs_kind != "uniform":
        enc.mix_transformer()
    active = [S if t < lengths[-1] else S - 1 for t in range(L)]
    checked = set(range(0, L, max(1, L // 8))) | {L - 1}  # a digest hashes every table: a few steps suffice
    digests = {}
    for t in range(L):
        enc.encode_step(freqs[t, : active[t]], np.ascontiguousarray(segs[: active[t], t]))
        if t in checked:
            digests[t] = enc.digest()
    raw = enc.finish()
    dec = side_coder(cfg, lengths, raw)
    if freqs_kind != "uniform":
        dec.mix_transformer()
    out = np.zeros_like(segs)
    for t in range(L):
        out[: active[t], t] = np.frombuffer(dec.decode_step(freqs[t, : active[t]]), dtype=np.uint8)
        if t in checked:
            assert dec.digest() == digests[t], f"decoder state diverged at step {t}"
    assert b"".join(out[s, : lengths[s]].tobytes() for s in range(S)) == data
    return raw


@pytest.mark.parametrize("streams", [1, 3, 64])
@pytest.mark.parametrize("freqs_kind", ["uniform", "random", "peaked"])
def test_encoder_and_decoder_states_match(streams, freqs_kind):
    data = SOURCE[:3000] + os.urandom(500) + b"abc" * 300 + bytes(200)
    _round_trip(data, streams, freqs_kind)


def test_long_real_input_with_wide_tables():
    raw = _round_trip(SOURCE * 3, 16, "uniform", table_bits=16)
    assert len(raw) < len(SOURCE)  # the copies after the first are nearly free (match model)


def test_one_byte_and_odd_layouts():
    for data, streams in ((b"x", 1), (b"xy", 5), (bytes(range(256)) * 2, 7)):
        _round_trip(data, streams, "random")


def _coded(data: bytes, off: int = 0) -> bytes:
    """The side models' data section for ``data`` as one stream (families in ``off`` switched off), checked to decode."""
    cfg = SideConfig.for_input(len(data))
    enc = side_coder(cfg, [len(data)], off=off)
    enc.encode_all(data)
    raw = enc.finish()
    assert side_coder(cfg, [len(data)], raw, off=off).decode_all() == data
    return raw


def _assert_text_after_codes_as_text(blob: bytes, off: int) -> None:
    """After a blob that the model ``off`` switches off is for, the text contexts return: text after
    it codes as well as after the blob with that model off, give or take the blob's own saving."""
    text = b"After it, plain words follow again, as text does. " * 30
    saving = len(_coded(blob, off)) - len(_coded(blob))
    both, both_off = len(_coded(blob + text)), len(_coded(blob + text, off))
    assert both <= both_off - saving + 24


def _lcg(n: int, seed: int) -> list[int]:
    """A fixed pseudo-random sequence that no library version can change."""
    out = []
    for _ in range(n):
        seed = (seed * 6364136223846793005 + 1442695040888963407) % 2**64
        out.append(seed >> 40)
    return out


def test_bitstream_is_pinned():
    """Integer arithmetic only: every machine must produce exactly these bytes."""
    words = [b"the ", b"model ", b"codes ", b"bits ", b"of ", b"text ", b"<page>", b"\n"]
    data = b"".join(words[v % len(words)] for v in _lcg(1500, 1))[:6000]
    lengths, segs = _segments(data, 4)
    freqs = np.array(_lcg(lengths[0] * 4 * 256, 2), dtype=np.int64).reshape(lengths[0], 4, 256) % 60000 + 1
    enc = side_coder(SideConfig(12), lengths)
    enc.mix_transformer(52000, 70000)  # the last mixer's start weights as a trainer leaves them
    for t in range(lengths[0]):
        m = 4 if t < lengths[-1] else 3
        enc.encode_step(freqs[t, :m], np.ascontiguousarray(segs[:m, t]))
    assert hashlib.sha256(enc.finish()).hexdigest() == PINNED


def test_narrow_training_variants_agree():
    """The first-layer mixers' training step has vector variants chosen by the CPU; each must move
    the weights exactly as the plain C one does, or archives would differ between machines."""
    variants, agree = _side.check_kernels()
    assert variants >= 1
    assert agree


def _code_stepwise(data: bytes, freqs: np.ndarray, mix, side: SideConfig = SideConfig(14)) -> bytes:
    """``mix``: False, True (the last mixer's default weights) or its start weights."""
    coder = side_coder(side, [len(data)])
    if mix is True:
        coder.mix_transformer()
    elif mix:
        coder.mix_transformer(*mix)
    for t, b in enumerate(data):
        coder.encode_step(freqs[t : t + 1], bytes((b,)))
    return coder.finish()


def test_a_mixed_transformer_is_used_and_an_unmixed_one_ignored():
    """A transformer that knows each byte makes random bytes nearly free once it is mixed in (its
    weight starts at one and stays); without mix_transformer() its frequencies change nothing."""
    data = os.urandom(3000)
    oracle = np.ones((len(data), 256), dtype=np.int64)
    oracle[np.arange(len(data)), np.frombuffer(data, dtype=np.uint8)] = 1 << 20
    uniform = np.ones_like(oracle)
    alone = _code_stepwise(data, uniform, mix=False)
    assert _code_stepwise(data, oracle, mix=False) == alone
    assert _code_stepwise(data, uniform, mix=True) != alone  # the last mixer learns even from nothing
    assert len(_code_stepwise(data, oracle, mix=True)) < len(data) / 20 < len(alone) / 19


def test_the_last_mixer_starts_from_the_weights_given():
    """Both sides start the last mixer where the archive says (the trainer's weights): the
    default is 1 and 1, a transformer weighted 0 at first has to earn its weight (an oracle then
    costs more than one trusted from the start), and other start weights decode alike."""
    data = SOURCE[:3000]
    oracle = np.ones((len(data), 256), dtype=np.int64)
    oracle[np.arange(len(data)), np.frombuffer(data, dtype=np.uint8)] = 1 << 20
    assert _code_stepwise(data, oracle, True) == _code_stepwise(data, oracle, (1 << 16, 1 << 16))
    trusted, ignored = _code_stepwise(data, oracle, (1 << 16, 1 << 16)), _code_stepwise(data, oracle, (0, 1 << 16))
    assert len(trusted) < len(ignored) < len(data) / 20
    for mix in ((0, 1 << 16), (-3 << 14, 5 << 15), (1 << 30, -(1 << 30))):  # the last pair clamps to the limit
        coder = side_coder(SideConfig(14), [len(data)], _code_stepwise(data, oracle, mix))
        coder.mix_transformer(*mix)
        assert b"".join(coder.decode_step(oracle[t : t + 1]) for t in range(len(data))) == data


def test_mix_transformer_comes_before_the_first_step():
    coder = side_coder(SideConfig(12), [4])
    coder.encode_step(np.ones((1, 256), dtype=np.int64), b"a")
    with pytest.raises(ValueError):
        coder.mix_transformer()


def test_side_models_learn_text():
    data = SOURCE[:20000]
    raw = _round_trip(data, 8, "uniform", table_bits=16)
    assert 8 * len(raw) / len(data) < 3.0  # uniform transformer: all of the gain is the side models'


def test_side_bit_probs_are_what_the_coder_pays():
    """Each bit's probability as the side models alone code the input in one stream: their costs
    add up to the coder's own codelength, and a repeated text gets surer the second time."""
    data = SOURCE[:3000] * 2
    probs = side_bit_probs(data, SideConfig(14))
    coder = side_coder(SideConfig(14), [len(data)])
    uniform = np.ones((1, 256), dtype=np.int64)
    for b in data:
        coder.encode_step(uniform, bytes((b,)))
    assert probs.shape == (len(data), 8) and probs.min() >= 1 and probs.max() <= P16_ONE - 1
    assert -np.log2(probs / P16_ONE).sum() == pytest.approx(coder.bits, rel=1e-9)
    assert probs[3000:].mean() > probs[:3000].mean() + 8000
    assert side_bit_probs(b"", SideConfig(12)).shape == (0, 8)


def test_encoder_refuses_bad_arguments():
    cfg = SideConfig(12)
    enc = side_coder(cfg, [4, 4])
    with pytest.raises(ValueError):
        enc.encode_step(np.ones((3, 256), dtype=np.int64), b"abc")  # more rows than streams
    with pytest.raises(ValueError):
        enc.encode_step(np.ones((2, 255), dtype=np.int64), b"ab")
    with pytest.raises(ValueError):
        enc.encode_step(np.zeros((2, 256), dtype=np.int64), b"ab")  # a zero frequency
    with pytest.raises(ValueError):
        enc.encode_step(np.ones((2, 256), dtype=np.int32), b"ab")
    with pytest.raises(ValueError):
        enc.encode_step(np.ones((2, 256), dtype=np.int64), b"a")
    with pytest.raises(ValueError):
        enc.decode_step(np.ones((2, 256), dtype=np.int64))
    with pytest.raises(MdlzipError):
        SideConfig(40)
    with pytest.raises(ValueError):
        side_coder(cfg, [4, 5])  # a later segment longer than the first


def test_decoding_garbage_is_safe():
    lengths = [50, 50, 20]
    dec = side_coder(SideConfig(12), lengths, os.urandom(37))
    for t in range(50):
        out = dec.decode_step(np.ones((3 if t < 20 else 2, 256), dtype=np.int64))
        assert len(out) == (3 if t < 20 else 2)
    with pytest.raises(ValueError):
        dec.decode_step(np.ones((2, 256), dtype=np.int64))  # past the last step


@pytest.fixture(scope="module")
def model():
    return IntModel(random_int_weights(seed=3))


@pytest.mark.parametrize("streams,chunk", [(1, 7), (5, 16), (40, 3)])
def test_data_coder_round_trip_with_side_models(model, streams, chunk):
    data = SOURCE[:1500] + os.urandom(300)
    side = SideConfig(14)
    raw, _ = data_coder.encode(data, model, streams, chunk, side=side)
    assert data_coder.decode(raw, model, len(data), streams, side=side) == data
    assert raw == data_coder.encode(data, model, streams, 64, side=side)[0]  # chunking changes nothing


def test_side_models_alone_in_c_code_what_the_steps_code():
    """encode_all/decode_all (the empty model's fast path) code exactly what step-by-step coding
    with uniform frequencies codes, in any number of calls, for any stream layout."""
    data = SOURCE[:4000] + os.urandom(300)
    for streams in (1, 3, 64):
        lengths, segs = _segments(data, streams)
        S, L = segs.shape
        stepwise = side_coder(SideConfig(14), lengths)
        for t in range(L):
            m = S if t < lengths[-1] else S - 1
            stepwise.encode_step(np.ones((m, 256), dtype=np.int64), np.ascontiguousarray(segs[:m, t]))
        whole = side_coder(SideConfig(14), lengths)
        for _ in range(0, L, 97):
            whole.encode_all(data, 97)
        assert whole.digest() == stepwise.digest()
        raw = whole.finish()
        assert raw == stepwise.finish()
        dec = side_coder(SideConfig(14), lengths, raw)
        assert dec.decode_all(L // 2) is None
        assert dec.decode_all() == data
        assert dec.digest() == whole.digest()


def test_every_component_switch_round_trips():
    """Each ablation switch leaves a coder whose decoder follows it exactly; on a small text the
    full set is within 1% of the best subset and well below the plainest one."""
    data = SOURCE[:6000]
    sizes = {}
    for off in (0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, OFF_ALL):
        enc = side_coder(SideConfig(16), [len(data)], off=off)
        enc.encode_all(data)
        raw = enc.finish()
        assert side_coder(SideConfig(16), [len(data)], raw, off=off).decode_all() == data
        sizes[off] = len(raw)
    assert sizes[0] <= min(sizes.values()) * 1.01 and sizes[OFF_ALL] > sizes[0] * 1.05
    with pytest.raises(ValueError):
        side_coder(SideConfig(12), [4], off=OFF_ALL + 1)


def test_garbage_decodes_to_its_length_in_bounded_memory():
    """Whatever the data section holds, the side models decode the declared length, reading past
    its end as zeros, and allocate only their fixed tables."""
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for seed in range(3):
        raw = np.random.default_rng(seed).integers(0, 256, 64 * seed, dtype=np.uint8).tobytes()
        out = side_coder(SideConfig(16), [30_000, 30_000], raw).decode_all()
        assert len(out) == 60_000
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024  # KiB


def test_memory_follows_the_input():
    """The tables start as zeros that take memory only where written: a fresh process that encodes
    and decodes 2 kB peaks far below the two coders' full tables (over 500 MiB each)."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from mdlzip.coding.adaptive import SideConfig, side_coder\n"
        "data = open(sys.argv[1], 'rb').read()[:2000]\n"
        "enc = side_coder(SideConfig.for_input(len(data)), [len(data)])\n"
        "enc.encode_all(data)\n"
        "blob = enc.finish()\n"
        "assert side_coder(SideConfig.for_input(len(data)), [len(data)], blob).decode_all() == data\n"
        # this process's own peak (a spawned child's ru_maxrss starts from its parent's)
        "print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))\n"
    )
    out = subprocess.run([sys.executable, "-c", script, __file__], capture_output=True, text=True, check=True)
    assert int(out.stdout) < 256 * 1024  # KiB


def test_thread_count_changes_nothing(model):
    import torch

    data = SOURCE[:2500]
    threads = torch.get_num_threads()
    outputs = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            outputs.append(data_coder.encode(data, model, 8, 16, side=SideConfig(14))[0])
    finally:
        torch.set_num_threads(threads)
    assert outputs[0] == outputs[1]
