"""Priors: the file format, priming the side models, archives that name a prior, and the commands."""

import json
import os
import zlib

import numpy as np
import pytest
import torch

from mdlzip import api, prior as priors
from mdlzip.coding import weight_codec
from mdlzip.coding.adaptive import SideConfig, side_coder
from mdlzip.coding.data_coder import segment_lengths
from mdlzip.errors import MdlzipError
from mdlzip.methods import Encoded, neural
from mdlzip.train.prior import priming_text, train_prior

from conftest import assert_one_line_error, run_process, sample_text

CORPUS = sample_text(60_000, seed=3)
TINY = dict(steps=20, d_model=16, n_head=4, n_layer=1, d_ff=32, window=32, batch=4, seq_len=64)
TRAINED = dict(TINY, train_min=0)  # compress: train even on inputs this small


@pytest.fixture(scope="module")
def prior_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("prior") / "tiny.mdlp"
    path.write_bytes(train_prior(CORPUS, "sample text, public domain", 1, torch.device("cpu"), 40_000, **TINY))
    return path


@pytest.fixture(scope="module")
def prior(prior_file):
    return priors.read(prior_file)


# ---- the prior file ----


def test_prior_file_round_trip(prior, prior_file):
    raw = prior_file.read_bytes()
    assert prior.digest == priors.digest(raw) and len(prior.digest) == 16
    assert prior.text == priming_text(CORPUS, 40_000) and len(prior.text) <= 40_000
    assert prior.weights.cfg.d_model == 16 and prior.description == "sample text, public domain"
    again = priors.from_bytes(priors.to_bytes(prior.description, prior.weights, prior.text))
    assert weight_codec.encode(again.weights) == weight_codec.encode(prior.weights) and again.text == prior.text
    facts = prior.describe()
    assert facts["prior"] == prior.digest.hex() and facts["prior_file_bytes"] == len(raw) and facts["text_bytes"] == len(prior.text)


def test_priming_text_takes_evenly_spaced_slices():
    corpus = bytes(range(256)) * 4096  # 1 MiB
    text = priming_text(corpus, 200_000)
    assert len(text) <= 200_000 and text[:1000] == corpus[:1000] and text[-1000:] == corpus[-1000:]
    assert priming_text(b"short", 100) == b"short"


def test_prior_without_transformer():
    p = priors.from_bytes(priors.to_bytes("text only", None, b"hello world " * 100))
    assert p.weights is None and p.text == b"hello world " * 100 and p.describe()["params_total"] == 0


def _with_crc(body: bytes) -> bytes:
    return body + zlib.crc32(body).to_bytes(4, "little")


@pytest.mark.parametrize(
    "mutate, words",
    [
        (lambda raw: b"XXXX" + raw[4:], "bad magic"),
        (lambda raw: _with_crc(raw[:4] + b"\x02" + raw[5:-4]), "version"),
        (lambda raw: raw[:-5] + bytes([raw[-5] ^ 1]) + raw[-4:], "CRC32"),
        (lambda raw: raw[:3], "bad magic"),
        (lambda raw: _with_crc(raw[:-9]), "corrupt prior"),
        (lambda raw: _with_crc(raw[:-4] + b"\x00"), "corrupt prior"),
    ],
)
def test_damaged_prior_files_are_refused(prior_file, mutate, words):
    with pytest.raises(MdlzipError, match=words):
        priors.from_bytes(mutate(prior_file.read_bytes()))


def test_prior_text_length_must_match_its_stream():
    raw = priors.to_bytes("x", None, b"abc" * 1000)
    body = bytearray(raw[:-4])
    at = body.index(bytes([0xB8, 0x17]))  # the text length 3000 as a varint
    body[at : at + 2] = bytes([0xB9, 0x17])
    with pytest.raises(MdlzipError, match="wrong length"):
        priors.from_bytes(_with_crc(bytes(body)))


def test_hostile_lengths_allocate_nothing():
    body = priors.MAGIC + bytes([1]) + b"\xff\xff\xff\xff\x0f"  # a description of 2^32 bytes
    with pytest.raises(MdlzipError, match="corrupt prior"):
        priors.from_bytes(_with_crc(body))


# ---- priming the side models ----


def _code(data: bytes, prime: bytes, streams: int = 4):
    lengths = segment_lengths(len(data), streams)
    segs = [data[i * lengths[0] : i * lengths[0] + n] for i, n in enumerate(lengths)]
    cfg, uniform = SideConfig(14), np.ones((len(lengths), 256), np.int64)
    enc = side_coder(cfg, lengths, prime=prime)
    for t in range(lengths[0]):
        m = sum(n > t for n in lengths)
        enc.encode_step(uniform[:m], np.frombuffer(bytes(s[t] for s in segs[:m]), np.uint8))
    raw = enc.finish()
    dec = side_coder(cfg, lengths, raw, prime)
    out = [bytearray() for _ in lengths]
    for t in range(lengths[0]):
        m = sum(n > t for n in lengths)
        for s, b in enumerate(dec.decode_step(uniform[:m])):
            out[s].append(b)
    assert enc.digest() == dec.digest()
    return raw, b"".join(out)


def test_priming_helps_and_both_sides_agree():
    data = sample_text(6000, seed=3)
    plain, out = _code(data, b"")
    primed, out_primed = _code(data, CORPUS)
    assert out == data and out_primed == data
    assert len(primed) < 0.8 * len(plain)


def test_a_copy_of_a_primed_encoder_codes_like_a_fresh_one():
    lengths, uniform = [300, 300], np.ones((2, 256), np.int64)
    data = sample_text(600, seed=5)
    start = side_coder(SideConfig(14), lengths, prime=CORPUS[:20_000])
    outputs = []
    for coder in (start.copy(), start.copy(), side_coder(SideConfig(14), lengths, prime=CORPUS[:20_000])):
        for t in range(300):
            coder.encode_step(uniform, np.frombuffer(data[t : t + 1] + data[300 + t : 301 + t], np.uint8))
        outputs.append((coder.finish(), coder.digest()))
    assert outputs[0] == outputs[1] == outputs[2]
    used = start.copy()
    used.encode_step(uniform, np.zeros(2, np.uint8))
    with pytest.raises(ValueError, match="before its first step"):
        used.copy()
    with pytest.raises(ValueError, match="before its first step"):
        side_coder(SideConfig(14), lengths, outputs[0][0]).copy()


def test_prime_comes_before_the_first_step():
    coder = side_coder(SideConfig(12), [4])
    coder.encode_step(np.ones((1, 256), np.int64), np.zeros(1, np.uint8))
    with pytest.raises(ValueError, match="before the first step"):
        coder.prime(b"abc")


# ---- archives that name a prior ----

DATA = sample_text(3000, seed=3)


@pytest.fixture(scope="module")
def primed_archive(prior):
    return api.compress(DATA, method="neural", level=1, prior=prior, **TRAINED)


def test_archive_with_prior_round_trips_and_reports_it(prior, primed_archive):
    facts = api.info(primed_archive)
    assert facts["prior"] == prior.digest.hex() and facts["prior_use"]
    assert api.decompress(primed_archive, prior=prior) == DATA
    assert len(primed_archive) < len(api.compress(DATA, method="neural", level=1, **TRAINED))


def test_missing_or_wrong_prior_is_refused(prior, primed_archive, monkeypatch, tmp_path):
    monkeypatch.setenv(priors.ENV_PATH, str(tmp_path))
    with pytest.raises(MdlzipError, match=f"needs prior {prior.digest.hex()}"):
        api.decompress(primed_archive)
    other = priors.from_bytes(priors.to_bytes("another", None, b"other text " * 50))
    with pytest.raises(MdlzipError, match="has another hash"):
        api.decompress(primed_archive, prior=other)


def test_prior_found_on_the_search_path(prior_file, primed_archive, monkeypatch, tmp_path):
    (tmp_path / "p.mdlp").write_bytes(prior_file.read_bytes())
    monkeypatch.setenv(priors.ENV_PATH, str(tmp_path))
    assert api.decompress(primed_archive) == DATA


def test_delta_only_archive_round_trips(prior):
    # Without side models and below the size where a model is trained, the prior's
    # transformer (as it is, or fine-tuned) is the only candidate: the model section is a delta.
    blob = api.compress(DATA, method="neural", level=1, prior=prior, adaptive=False, **TRAINED)
    facts = api.info(blob)
    assert facts["prior_use"] == neural.PRIOR_USES[neural.DELTA] and 0 < facts["delta_bytes"] < facts["model_bytes"] <= facts["delta_bytes"] + 2
    sections = facts["model_bytes"] + facts["data_bytes"]  # each with its length varint
    assert sections - 6 <= facts["prior_transformer_candidate_bytes"] < sections
    assert facts["architecture"] == prior.weights.cfg.describe()
    assert api.decompress(blob, prior=prior) == DATA


def test_a_text_only_prior_without_side_models_still_gives_an_archive():
    text_only = priors.from_bytes(priors.to_bytes("text", None, CORPUS[:5000]))
    blob = api.compress(DATA, method="neural", level=1, prior=text_only, adaptive=False, **TRAINED)
    assert api.info(blob)["prior"] is None and api.decompress(blob) == DATA


def test_a_nonzero_delta_is_added_to_the_prior(prior):
    delta = priors.delta_of(prior.weights, prior.weights)
    delta.weights["head"].values[0, 0] = 3
    rebuilt = priors.apply_delta(prior.weights, delta)
    assert int(rebuilt.weights["head"].values[0, 0]) == int(prior.weights.weights["head"].values[0, 0]) + 3
    delta.weights["head"].mant += 1
    with pytest.raises(MdlzipError, match="step differs"):
        priors.apply_delta(prior.weights, delta)


def test_header_prior_fields_are_checked(primed_archive):
    from mdlzip import container

    _, _, _, encoded = container.unpack(primed_archive)
    header = neural.Header.from_bytes(encoded.header)
    assert header.prior_use in (neural.PRIMED, neural.DELTA) and len(header.prior) == 16
    assert neural.Header.from_bytes(header.to_bytes()) == header
    for bad in (encoded.header + b"\x00", encoded.header[:-3]):
        with pytest.raises(MdlzipError, match="corrupt neural header"):
            neural.describe(Encoded(bad, encoded.model, encoded.data), len(DATA))


# ---- the commands ----


def test_prior_commands(prior_file, tmp_path):
    (tmp_path / "a.txt").write_bytes(DATA)
    facts = json.loads(run_process("prior", "info", "--json", str(prior_file)).out)
    assert facts["prior"] == priors.digest(prior_file.read_bytes()).hex()
    assert run_process("compress", "-q", "--method", "neural", "--level", "1", "--prior", str(prior_file), "a.txt", cwd=tmp_path).code == 0
    assert_one_line_error(run_process("decompress", "-c", "a.txt.mdlz", cwd=tmp_path), "needs prior", priors.ENV_PATH)
    assert_one_line_error(run_process("test", "a.txt.mdlz", cwd=tmp_path), "needs prior")
    out = run_process("decompress", "-c", "--prior", str(prior_file), "a.txt.mdlz", cwd=tmp_path)
    assert (out.code, out.out) == (0, DATA)
    assert run_process("test", "--prior", str(prior_file), "a.txt.mdlz", cwd=tmp_path).code == 0


def test_prior_command_errors(tmp_path):
    (tmp_path / "bad.mdlp").write_bytes(b"not a prior")
    assert_one_line_error(run_process("prior", "info", "bad.mdlp", cwd=tmp_path), "bad magic")
    assert_one_line_error(run_process("compress", "--prior", "missing.mdlp", "-c", "x", cwd=tmp_path), "--prior missing.mdlp", "cannot read prior")
    assert_one_line_error(run_process("prior", "train", "nowhere", "-o", "p.mdlp", cwd=tmp_path), "no such file or folder")
    (tmp_path / "corpus").mkdir()
    os.mkfifo(tmp_path / "corpus" / "pipe")
    assert_one_line_error(run_process("prior", "train", "corpus", "-o", "q.mdlp", cwd=tmp_path), "corpus/pipe: not a regular file")
    assert not (tmp_path / "q.mdlp").exists()
    (tmp_path / "p.mdlp").write_bytes(b"")
    assert_one_line_error(run_process("prior", "train", "bad.mdlp", "-o", "p.mdlp", cwd=tmp_path), "already exists")


def test_prior_train_command(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_bytes(CORPUS[:30_000])
    (corpus / "b.txt").write_bytes(CORPUS[30_000:])
    result = run_process("prior", "train", "corpus", "-q", "--level", "1", "--text-bytes", "20000", "--description", "two files", "-o", "p.mdlp", cwd=tmp_path)
    assert result.code == 0, result.err
    p = priors.read(tmp_path / "p.mdlp")
    assert p.weights is not None and len(p.text) <= 20_000 and p.description.startswith("two files\n")
    assert "a.txt (30000 bytes)" in p.description and "b.txt (30000 bytes)" in p.description
    result = run_process("prior", "train", "corpus/a.txt", "-q", "--no-transformer", "-o", "t.mdlp", cwd=tmp_path)
    assert result.code == 0 and priors.read(tmp_path / "t.mdlp").text == CORPUS[:30_000]


def test_shipped_prior_is_the_documented_one():
    shipped = priors.resolve("default")
    readme = (priors.SHIPPED_DIR / "README.md").read_text()
    assert f"`{shipped.digest.hex()}`" in readme and f"{shipped.file_bytes:,}" in readme and f"{len(shipped.text):,}" in readme
    assert shipped.weights is None


def test_fine_tuning_stays_on_the_prior_grids_and_its_delta_round_trips(prior):
    from mdlzip.model.convert import from_integer, to_integer
    from mdlzip.train.finetune import finetune
    from mdlzip.train.plan import TrainPlan

    assert weight_codec.encode(to_integer(from_integer(prior.weights))) == weight_codec.encode(prior.weights)
    tuned = finetune(sample_text(8000, seed=9), prior.weights, TrainPlan(steps=30, batch=4, seq_len=64, lr=2e-2), torch.device("cpu"))
    for name, q in prior.weights.weights.items():
        assert (tuned.weights[name].mant, tuned.weights[name].exp) == (q.mant, q.exp)
    delta = weight_codec.decode(weight_codec.encode(priors.delta_of(prior.weights, tuned)), prior.weights.cfg)
    rebuilt = priors.apply_delta(prior.weights, delta)
    assert all(np.array_equal(rebuilt.weights[n].values, tuned.weights[n].values) for n in tuned.weights)
