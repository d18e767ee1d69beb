"""The command with the real neural method, on small inputs at level 1 (seconds, not minutes)."""

import json
from pathlib import Path

import pytest

import mdlzip
from mdlzip import container
from mdlzip.errors import MdlzipError

from conftest import run_process

FIXTURES = Path(__file__).parent / "fixtures"
TEXT = (Path(mdlzip.__file__).parent / "model" / "int_model.py").read_bytes()[:6000]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("neural")
    (d / "a.txt").write_bytes(TEXT)
    return d


def test_round_trip_and_info(workdir):
    assert run_process("compress", "-q", "--method", "neural", "--level", "1", "-o", "n.mdlz", "a.txt", cwd=workdir).code == 0
    facts = json.loads(run_process("info", "--json", "n.mdlz", cwd=workdir).out)
    assert facts["method"] == "neural" and facts["original_bytes"] == len(TEXT)
    assert facts["header_bytes"] + facts["model_bytes"] + facts["data_bytes"] == (workdir / "n.mdlz").stat().st_size
    assert 0 <= facts["params_nonzero"] <= facts["params_total"]  # MDL may prune a model that cannot pay
    assert run_process("test", "n.mdlz", cwd=workdir).code == 0
    out = run_process("decompress", "-c", "n.mdlz", cwd=workdir)
    assert (out.code, out.out) == (0, TEXT)


@pytest.mark.parametrize("enc_threads,dec_threads", [("1", "2"), ("2", "1")])
def test_archives_decode_at_any_thread_count(workdir, enc_threads, dec_threads):
    name = f"t{enc_threads}.mdlz"
    assert run_process("compress", "-q", "-T", enc_threads, "--method", "neural", "--level", "1", "-o", name, "a.txt", cwd=workdir).code == 0
    out = run_process("decompress", "-q", "-T", dec_threads, "-c", name, cwd=workdir)
    assert (out.code, out.out) == (0, TEXT)


def test_side_models_switch(workdir):
    """--no-adaptive codes with the transformer alone; by default the side models are used where they pay."""
    for flag, name in (("--no-adaptive", "plain.mdlz"), ("--adaptive", "mixed.mdlz")):
        assert run_process("compress", "-q", "--method", "neural", "--level", "1", flag, "-o", name, "a.txt", cwd=workdir).code == 0
        out = run_process("decompress", "-c", name, cwd=workdir)
        assert (out.code, out.out) == (0, TEXT)
    plain = json.loads(run_process("info", "--json", "plain.mdlz", cwd=workdir).out)
    mixed = json.loads(run_process("info", "--json", "mixed.mdlz", cwd=workdir).out)
    assert plain["side_models"] is None and plain["side_models_alone_candidate_bytes"] is None
    assert mixed["side_models"] is not None and mixed["archive_bytes"] < plain["archive_bytes"]


def test_fixtures_cover_both_data_codings():
    facts = [mdlzip.info(p.read_bytes()) for p in FIXTURES.glob(f"*.v{container.FORMAT_VERSION}-neural.mdlz")]
    assert {f["side_models"] is None for f in facts} == {True, False}


def test_auto_is_never_worse_than_the_classic_methods(workdir):
    auto = mdlzip.compress(TEXT, level=1)
    assert mdlzip.decompress(auto) == TEXT
    assert len(auto) <= min(len(mdlzip.compress(TEXT, method=m)) for m in ("stored", "zstd", "xz"))


@pytest.mark.parametrize("archive", sorted(p.name for p in FIXTURES.glob("*.mdlz")))
def test_archives_from_earlier_versions_still_decode(archive):
    """Format stability: NAME.vV-METHOD.mdlz was written by an earlier commit from NAME.txt
    and is never regenerated while format version V stands."""
    original = (FIXTURES / f"{archive.split('.')[0]}.txt").read_bytes()
    assert mdlzip.decompress((FIXTURES / archive).read_bytes()) == original


# Every earlier version's fixtures, in tests/fixtures/vN: mdlzip 0.N wrote version N.
OLD_VERSIONS = [f"v{v}" for v in range(1, container.FORMAT_VERSION)]
EARLIER = sorted(str(p.relative_to(FIXTURES)) for version in OLD_VERSIONS for p in (FIXTURES / version).glob("*.mdlz"))


@pytest.mark.parametrize("archive", EARLIER)
def test_earlier_versions_archives_are_refused_with_the_release_that_reads_them(workdir, archive):
    """mdlzip 0.1's to 0.(V-1)'s archives: one line naming that release, exit 1, no output, never a wrong decode."""
    out = run_process("decompress", "-c", str(FIXTURES / archive), cwd=workdir)
    release = "0." + archive.split("/")[0][1:]
    assert out.code == 1 and out.out == b""
    assert f"written by mdlzip {release};" in out.err and len(out.err.strip().splitlines()) == 1


def test_earlier_fixtures_are_there():
    """Version 1 had four kinds of fixture, 2 six, every later one seven."""
    counts = {v: len([a for a in EARLIER if a.startswith(v + "/")]) for v in OLD_VERSIONS}
    assert counts == {"v1": 4, "v2": 6, **{v: 7 for v in OLD_VERSIONS[2:]}}


def test_fixtures_cover_every_method_and_a_nonempty_model():
    facts = [mdlzip.info(p.read_bytes()) for p in FIXTURES.glob("*.mdlz")]
    assert {f["method"] for f in facts} == {"stored", "zstd", "neural", "xz"}
    assert any(f["method"] == "neural" and f["params_nonzero"] > 0 for f in facts)
    assert any(f["method"] == "neural" and f["params_nonzero"] > 0 and f["side_models"] and f["block_count"] == 3 for f in facts)


def test_verbose_compress_reports_the_decisions(workdir):
    out = run_process("compress", "-v", "-f", "--method", "neural", "-o", "v.mdlz", "a.txt", cwd=workdir)
    assert out.code == 0
    assert "no transformer trained" in out.err and "side models alone" in out.err and "(kept)" in out.err


def test_verbose_notes_come_before_the_wait_they_announce(workdir):
    """Settings from --extra (tests, benchmarks): a model trained on this small input, whose plan
    is noted before training starts, long before the summary line."""
    extra = ["--extra", "train_min=0", "--extra", "steps=20", "--extra", "d_model=16", "--extra", "n_head=1"]
    out = run_process("compress", "-v", "-f", "--method", "neural", *extra, "-o", "x.mdlz", "a.txt", cwd=workdir)
    lines = out.err.splitlines()
    assert out.code == 0 and lines[0].startswith("mdlzip: a.txt: training 20 steps of 8 windows of 256 bytes: d_model=16")
    assert lines[-1].startswith(f"a.txt: {len(TEXT)} -> ")


def test_the_empty_model_costs_no_model_bytes():
    """The side models alone: an empty model section, which only the empty model's config may have."""
    from mdlzip.methods import neural

    text = (FIXTURES / "sample.txt").read_bytes()[:3000]
    archive = mdlzip.compress(text, method="neural")
    facts = mdlzip.info(archive)
    assert facts["model_bytes"] == 1 and facts["params_nonzero"] == 0 and mdlzip.decompress(archive) == text
    assert neural.model_of(b"", neural.EMPTY.cfg) is neural.EMPTY
    with pytest.raises(MdlzipError, match="^corrupt archive: an empty model section for a model that is not the empty one$"):
        neural.model_of(b"", neural.ModelConfig(d_model=16, n_layer=1, n_head=4, d_ff=8, window=4, n_prev=1))


def test_coded_bytes_the_classic_methods_cannot_shrink_still_get_the_side_models():
    """Random bytes with a 0 after every 0xff, as JPEG stuffs its entropy-coded data: zstd and xz
    find nothing (stored is the best classic archive), the side models on the first 64 KiB save
    0.2%, so the neural method is tried and kept; random bytes alone stay stored."""
    import random

    noise = random.Random(5).randbytes(70_000)
    stuffed = noise.replace(b"\xff", b"\xff\x00")
    archive = mdlzip.compress(stuffed, level=1)
    assert mdlzip.info(archive)["method"] == "neural" and mdlzip.decompress(archive) == stuffed
    assert len(archive) < min(len(mdlzip.compress(stuffed, method=m)) for m in ("stored", "zstd", "xz")) - 100
    assert mdlzip.info(mdlzip.compress(noise, level=1))["method"] == "stored"


def test_a_small_text_gets_the_side_models():
    """From 64 bytes on the auto method tries them: a kilobyte of prose codes smaller than zstd's."""
    text = (FIXTURES / "sample.txt").read_bytes()[:1000]
    archive = mdlzip.compress(text)
    assert mdlzip.info(archive)["method"] == "neural"
    assert len(archive) < len(mdlzip.compress(text, method="zstd")) and mdlzip.decompress(archive) == text
