"""The neural method end to end, with tiny models so it runs in seconds."""

from dataclasses import replace
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mdlzip.coding import block_coder
from mdlzip.errors import MdlzipError
from mdlzip.methods import Encoded, Options, neural

TINY_PLAN = {"d_model": 32, "n_layer": 1, "n_head": 2, "d_ff": 32, "window": 16, "steps": 60, "seq_len": 64, "train_min": 0, "stop_early": False}
TEXT = Path(neural.__file__).read_bytes()[:6000]  # real source text


@pytest.fixture(scope="module")
def encoded() -> Encoded:
    return neural.encode(TEXT, Options(seed=1, extra=dict(TINY_PLAN)))


def test_round_trip(encoded):
    assert neural.decode(encoded, len(TEXT), Options()) == TEXT


def test_sections_and_description(encoded):
    facts = neural.describe(encoded, len(TEXT))
    assert facts["params_total"] in (32 * (4 * 257 + 4 * 32 + 2 * 32 + 256), neural.EMPTY.cfg.n_params())
    assert 0 <= facts["params_nonzero"] <= facts["params_total"]
    # Both candidates were measured exactly and the smaller one is the archive.
    candidates = (facts["trained_model_candidate_bytes"], facts["side_models_alone_candidate_bytes"])
    assert len(encoded.model) + len(encoded.data) == min(candidates)
    # With side models one stream: they code text best in order, as the trainer saw them.
    assert facts["train_steps"] == 60 and facts["streams"] == 1 == neural.streams_for(len(TEXT), side=True)
    assert facts["float_bpb"] > 0 and facts["data_bpb"] == 8 * len(encoded.data) / len(TEXT)
    # The side models are on by default and kept only where they beat the transformer alone.
    assert facts["side_models"] is not None and facts["data_bpb"] <= facts["integer_bpb"] + 0.02


def test_a_model_that_pays_is_kept():
    """MDL prunes a model that cannot pay for itself (on 6 kB of source, after 60 steps, it
    often cannot); on a pattern a few weights capture, those weights are kept and pay.
    Without side models, which would capture this pattern for free."""
    data = b"ab" * 3000
    enc = neural.encode(data, Options(seed=1, extra=dict(TINY_PLAN, adaptive=False)))
    assert neural.describe(enc, len(data))["params_nonzero"] > 0
    assert len(enc.model) + len(enc.data) < len(data)
    assert neural.decode(enc, len(data), Options()) == data


def test_the_trained_model_alone_can_be_asked_for(encoded):
    """empty=False (the sparsifier benchmark) keeps the trained model where the side models
    alone would be smaller: the same trained candidate the default archive measured."""
    forced = neural.encode(TEXT, Options(seed=1, extra=dict(TINY_PLAN, empty=False)))
    facts = neural.describe(forced, len(TEXT))
    assert facts["side_models_alone_candidate_bytes"] is None
    assert len(forced.model) + len(forced.data) == neural.describe(encoded, len(TEXT))["trained_model_candidate_bytes"]
    assert neural.decode(forced, len(TEXT), Options()) == TEXT


def test_the_side_models_alone_code_one_stream_without_a_transformer(monkeypatch):
    """The empty model's archive: one stream (every byte sees all before it), and decoding it
    builds no integer transformer at all."""
    data = TEXT[:5000]
    enc = neural.encode(data, Options(seed=1, extra=dict(TINY_PLAN, steps=2)))
    facts = neural.describe(enc, len(data))
    assert facts["params_total"] == neural.EMPTY.cfg.n_params() and facts["streams"] == 1
    assert len(enc.model) + len(enc.data) == facts["side_models_alone_candidate_bytes"]

    def no_engine(*args, **kwargs):
        raise AssertionError("the side models alone need no transformer")

    monkeypatch.setattr(block_coder, "IntModel", no_engine)
    assert neural.decode(enc, len(data), Options()) == data


def test_small_inputs_train_no_model_and_say_so():
    data = TEXT[:5000]
    notes = []
    options = Options(seed=1, progress=lambda phase, done, total, info: notes.append(info.get("note")))
    enc = neural.encode(data, options)
    facts = neural.describe(enc, len(data))
    assert facts["train_steps"] == 0 and facts["training"].startswith("skipped")
    assert facts["params_nonzero"] == 0 and facts["streams"] == 1 and facts["trained_model_candidate_bytes"] == 0
    assert any(n and n.startswith("no transformer trained") for n in notes)
    assert any(n and "side models alone" in n and "(kept)" in n for n in notes)
    assert neural.decode(enc, len(data), Options()) == data


def test_same_seed_same_model_and_data(encoded):
    again = neural.encode(TEXT, Options(seed=1, extra=dict(TINY_PLAN)))
    assert (again.model, again.data) == (encoded.model, encoded.data)  # the header also holds the training time


def test_stream_layouts_round_trip():
    for streams in (1, 5, 64):
        enc = neural.encode(TEXT[:3000], Options(extra=dict(TINY_PLAN, steps=5, streams=streams)))
        assert neural.decode(enc, 3000, Options()) == TEXT[:3000]


def test_decoding_does_not_depend_on_threads(encoded):
    before = torch.get_num_threads()
    try:
        outs = {neural.decode(encoded, len(TEXT), Options(threads=t)) for t in (1, 2)}
    finally:
        torch.set_num_threads(before)
    assert outs == {TEXT}


def test_bad_header_is_rejected(encoded):
    for header in (b"", encoded.header[:-1], encoded.header + b"\0", b"\xff" * len(encoded.header)):
        with pytest.raises(MdlzipError):
            neural.decode(Encoded(header, encoded.model, encoded.data), len(TEXT), Options())


def test_the_mixing_weights_round_trip_in_the_header_and_out_of_range_ones_are_refused(encoded):
    header = neural.Header.from_bytes(encoded.header)
    for mix in ((-(1 << 22), 1 << 22), (0, 1), (40384, 67697)):
        assert neural.Header.from_bytes(replace(header, mix=mix).to_bytes()).mix == mix
    for mix in ((1 << 22) + 1, 0), (0, -(1 << 22) - 1):
        with pytest.raises(MdlzipError, match="neural header"):
            neural.Header.from_bytes(replace(header, mix=mix).to_bytes())
    assert neural.fixed_mix((0.6162, 1e9)) == (40383, 1 << 22)


def test_the_header_leaves_out_what_an_archive_of_the_side_models_alone_holds_at_defaults(encoded):
    """Flags say whether the model config with the mixing weights, and the training facts, are
    stored; where they are not, they read back as the empty model's, the mixer's start and 0. An
    archive of the side models alone says so by a flag and stores no size of that candidate: it
    is the archive's own model + data bytes."""
    header = neural.Header.from_bytes(encoded.header)
    alone = replace(header, cfg=neural.EMPTY.cfg, mix=neural.MIX_START, train_steps=0, train_ms=0, float_mbpb=0, final_mbpb=0,
                    integer_mbpb=0, trained_bytes=0, empty_bytes=0, filter=neural.NO_FILTER)
    raw = alone.to_bytes()
    # flags, streams, side_bits, blocks, filter
    assert alone.alone and raw[0] == neural.ALONE and len(raw) == 5 and neural.Header.from_bytes(raw) == alone
    trained = replace(alone, train_steps=60, trained_bytes=25_000)
    assert trained.to_bytes()[0] == neural.HAS_TRAINING | neural.ALONE and neural.Header.from_bytes(trained.to_bytes()) == trained
    # With a transformer kept, the side models' candidate size is stored (three bytes here).
    mixed = replace(alone, mix=(1000, 65536), empty_bytes=24_286)
    assert mixed.to_bytes()[0] == neural.HAS_MODEL and neural.Header.from_bytes(mixed.to_bytes()) == mixed
    assert len(mixed.to_bytes()) == len(replace(mixed, empty_bytes=0).to_bytes()) + 2
    with pytest.raises(MdlzipError, match="unknown header flags"):
        neural.Header.from_bytes(bytes([8]) + raw[1:])
    # A flag that stores only the defaults would be a second spelling of the same header.
    with pytest.raises(MdlzipError, match="neural header: the model flag is set for the empty model"):
        neural.Header.from_bytes(bytes([neural.HAS_MODEL | neural.ALONE]) + neural.EMPTY.cfg.to_bytes() + raw[1:4] + bytes(2) + raw[4:])
    with pytest.raises(MdlzipError, match="neural header: the training flag is set with no training facts"):
        neural.Header.from_bytes(bytes([neural.HAS_TRAINING | neural.ALONE]) + raw[1:5] + bytes(6) + raw[5:])
    # The side-models-alone flag must be set exactly where the header is that of the side models alone.
    with pytest.raises(MdlzipError, match="neural header: the side-models-alone flag does not match the header"):
        neural.Header.from_bytes(bytes([0]) + raw[1:] + bytes(1))
    with pytest.raises(MdlzipError, match="neural header: the side-models-alone flag does not match the header"):
        neural.Header.from_bytes(bytes([neural.ALONE]) + raw[1:2] + bytes(1) + raw[3:])


def test_decoder_path_imports_no_trainer(encoded, tmp_path):
    """Decoding needs no optimizer and no float model: the import graph says so."""
    for name, part in (("h", encoded.header), ("m", encoded.model), ("d", encoded.data)):
        (tmp_path / name).write_bytes(part)
    code = f"""
import sys
from pathlib import Path
from mdlzip.methods import Encoded, Options, neural
p = Path({str(tmp_path)!r})
enc = Encoded((p / "h").read_bytes(), (p / "m").read_bytes(), (p / "d").read_bytes())
assert len(neural.decode(enc, {len(TEXT)}, Options())) == {len(TEXT)}
loaded = [m for m in sys.modules if m.startswith(("mdlzip.train", "mdlzip.model.float_model", "mdlzip.model.convert"))]
assert not loaded, loaded
"""
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_phase_reports_its_progress_to_the_end():
    """The side models' pass, training and each candidate's coding report done of total, so a bar
    shows an ETA, and each reaches its total."""
    reports = {}
    options = Options(seed=1, extra=dict(TINY_PLAN, steps=25), progress=lambda phase, done, total, info: reports.setdefault(phase, []).append((done, total)))
    neural.encode(TEXT, options)
    assert {"side models", "train", "encode: trained transformer"} <= reports.keys()
    for phase, seen in reports.items():
        if phase != "note":
            assert all(b[0] >= a[0] for a, b in zip(seen, seen[1:])), phase
            assert seen[-1][0] == seen[-1][1] > 0, phase


def test_training_stops_where_the_transformer_cannot_pay():
    """On 6 kB of source the side models leave a small transformer nothing it could pay for: at
    the end of pruning the two-part estimate says so, so the quantization-aware phase and the
    trained candidate's coding pass are not run, and -v and ``info`` say why."""
    notes = []
    options = Options(seed=1, extra=dict(TINY_PLAN, stop_early=True), progress=lambda phase, done, total, info: notes.append(info.get("note", "")))
    enc = neural.encode(TEXT, options)
    facts = neural.describe(enc, len(TEXT))
    assert facts["train_steps"] == 45 == int(0.75 * TINY_PLAN["steps"]) and facts["trained_model_candidate_bytes"] == 0
    assert facts["training"].startswith("stopped after 45 steps: the model pruning kept did not beat the side models alone")
    assert len(enc.model) + len(enc.data) == facts["side_models_alone_candidate_bytes"] and facts["params_nonzero"] == 0
    assert any(note.startswith("training stopped after 45 of 60 steps") for note in notes)
    assert neural.decode(enc, len(TEXT), Options()) == TEXT
