"""Block archives: the table's layout and every check on it, blocks coded alike in any number of
processes, a damaged block named, and hostile counts and lengths refused before allocating."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time
import tracemalloc
import zlib
from dataclasses import replace

import pytest

import mdlzip
from mdlzip import container, prior as priors
from mdlzip.coding import blocks
from mdlzip.coding.varint import put_uint
from mdlzip.errors import MdlzipError
from mdlzip.methods import Encoded, neural
from mdlzip.parallel import Pool

from conftest import MDLZIP, assert_one_line_error, run_process, sample_text

TEXT = sample_text(12_000, seed=5)
SMALL = dict(method="neural", level=1, block_size=4000)  # 3 blocks of 4,000 bytes
# A transformer trained in a few seconds, kept whole beside the side models.
TRAINED = dict(SMALL, train_min=0, steps=20, d_model=16, n_head=1, n_layer=1, d_ff=16, window=16, empty=False, sparsifier="none", tamade=False)


# ---- the layout ----


@pytest.mark.parametrize(
    "n,size,lengths",
    [(0, 10, [0]), (5, 10, [5]), (10, 10, [10]), (11, 10, [6, 5]), (30, 10, [10, 10, 10]), (31, 10, [8, 8, 8, 7])],
)
def test_split_cuts_equal_blocks_of_at_most_the_size(n, size, lengths):
    assert blocks.split(n, size) == lengths


def test_split_refuses_more_blocks_than_the_format_holds():
    with pytest.raises(MdlzipError, match="more than the format's"):
        blocks.split(blocks.MAX_BLOCKS + 1, 1)


def table(entries) -> bytes:
    out = bytearray()
    for length, coded, crc in entries:
        put_uint(out, length)
        put_uint(out, coded)
        out += crc.to_bytes(4, "little")
    return bytes(out)


def test_pack_writes_the_table_then_the_blocks():
    parts = [b"abc", b"", b"defgh"]
    raw = blocks.pack([5, 1, 9], parts)
    assert raw == table([(5, 3, zlib.crc32(b"abc")), (1, 0, zlib.crc32(b"")), (9, 5, zlib.crc32(b"defgh"))]) + b"abcdefgh"
    read = blocks.read(raw, 3, 15, 4096)
    assert [(b.length, bytes(b.data)) for b in read] == [(5, b"abc"), (1, b""), (9, b"defgh")]
    assert blocks.table_bytes(raw, 3) == 18 and blocks.describe(raw, 3, 15)[2] == {"original_bytes": 9, "data_bytes": 5}


def test_one_block_is_the_data_section_alone():
    assert blocks.pack([7], [b"xyz"]) == b"xyz"
    assert [(b.length, bytes(b.data)) for b in blocks.read(b"xyz", 1, 7, 4096)] == [(7, b"xyz")]
    assert blocks.table_bytes(b"xyz", 1) == 0


GOOD = [(4, 2, zlib.crc32(b"ab")), (3, 1, zlib.crc32(b"c"))]


@pytest.mark.parametrize(
    "raw,count,length,message",
    [
        (table(GOOD) + b"abc", 0, 7, "block count 0 outside"),
        (table(GOOD) + b"abc", blocks.MAX_BLOCKS + 1, 7, "outside 1..1048576"),
        (table(GOOD) + b"abc", 8, 7, "8 blocks for 7 bytes"),
        (table(GOOD) + b"abc", 4, 70, "a table of 4 blocks cannot fit"),
        (table(GOOD) + b"abc", 2, 8, "add up to 7, not the original length 8"),
        (table([(0, 2, zlib.crc32(b"ab")), (7, 1, zlib.crc32(b"c"))]) + b"abc", 2, 7, "block 1 of 2 is empty"),
        (table([GOOD[0], (3, 9, 0)]) + b"abc", 2, 7, "block 2 of 2 is truncated: it needs 9 bytes, 1 remain"),
        (table([(40_000, 1, zlib.crc32(b"a")), (3, 2, zlib.crc32(b"bc"))]) + b"abc", 2, 40_003, "block 1 of 2 claims 40000 bytes"),
        (table(GOOD) + b"abX", 2, 7, "CRC32 mismatch in block 2 of 2"),
        (table(GOOD) + b"abcd", 2, 7, "1 bytes after the last block"),
        (table([(4, 1 << 35, 0), (3, 1, 0)])[:14], 2, 7, "corrupt block table: truncated"),
    ],
)
def test_every_table_check(raw, count, length, message):
    with pytest.raises(MdlzipError, match=message.replace("(", r"\(")):
        blocks.read(raw, count, length, 10)


def test_damaged_finds_the_first_block_failing_its_crc():
    raw = table(GOOD) + b"abc"
    assert blocks.damaged(raw, 2) is None
    assert blocks.damaged(raw[:-1] + b"X", 2) == 1 and blocks.damaged(b"X" + raw[1:], 2) is None  # a table that no longer reads
    assert blocks.damaged(raw, blocks.MAX_BLOCKS) is None


# ---- worker processes ----


@pytest.mark.parametrize("workers", [1, 2])
def test_pool_keeps_the_order_and_raises_a_jobs_error(workers):
    """A function the workers import cheaply: what they run is named by reference, not sent."""
    seen = []
    pool = Pool(workers)
    with pytest.raises(ValueError, match="nonnegative"):
        for result in pool.map(math.isqrt, [9, 1, 4, -3, 16], lambda i, r: seen.append((i, r))):
            assert result == seen[-1][1]
    assert seen == [(0, 3), (1, 1), (2, 2)] and pool.peak > 0


# ---- archives ----


@pytest.fixture(scope="module")
def archive() -> bytes:
    return mdlzip.compress(TEXT, **SMALL)


def test_blocks_round_trip_and_info(archive):
    facts = mdlzip.info(archive)
    assert facts["block_count"] == 3 and [b["original_bytes"] for b in facts["blocks"]] == [4000] * 3
    data_section = container.unpack(archive)[3].data
    assert facts["block_table_bytes"] + sum(b["data_bytes"] for b in facts["blocks"]) == len(data_section)
    assert mdlzip.decompress(archive) == TEXT


def test_a_trained_transformer_codes_every_block():
    """The transformer alone (the range coder of constriction) in two processes, decoded in this one;
    the fixture sample.v18-neural-blocks.mdlz holds blocks of the transformer mixed with the side models."""
    two = mdlzip.compress(TEXT, threads=2, adaptive=False, **TRAINED)
    facts = mdlzip.info(two)
    assert facts["block_count"] == 3 and facts["params_nonzero"] > 0 and facts["side_models"] is None
    assert mdlzip.decompress(two, threads=1) == TEXT


def test_every_block_learns_the_priors_text():
    prior = priors.from_bytes(priors.to_bytes("text only", None, sample_text(8_000, seed=5)))
    archive = mdlzip.compress(TEXT, prior=prior, **SMALL)
    assert mdlzip.info(archive)["prior_use"] is not None and mdlzip.info(archive)["block_count"] == 3
    assert len(archive) < len(mdlzip.compress(TEXT, **SMALL))
    assert mdlzip.decompress(archive, prior=prior) == TEXT


def test_a_small_input_stays_one_block():
    archive = mdlzip.compress(TEXT, method="neural", level=1)
    assert mdlzip.info(archive)["block_count"] == 1 and mdlzip.info(archive)["block_table_bytes"] == 0


# ---- damaged and hostile archives ----


def sections(archive: bytes) -> tuple[int, neural.Header, Encoded]:
    _, length, _, encoded = container.unpack(archive)
    return length, neural.Header.from_bytes(encoded.header), encoded


def repacked(archive: bytes, header: neural.Header | None = None, data: bytes | None = None, length: int | None = None) -> bytes:
    """The archive with another header, data section or original length, and a CRC32 that matches."""
    n, h, encoded = sections(archive)
    encoded = Encoded((header or h).to_bytes(), encoded.model, encoded.data if data is None else data)
    return container.pack(neural.METHOD_ID, n if length is None else length, container.checksum(TEXT), encoded)


def coded_blocks(archive: bytes) -> list[bytes]:
    _, header, encoded = sections(archive)
    return [bytes(b.data) for b in blocks.read(encoded.data, header.blocks, len(TEXT), 4096)]


def refused_before_allocating(hostile: bytes, message: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(MdlzipError, match=message):
            mdlzip.decompress(hostile)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def block_start(archive: bytes, index: int) -> int:
    """Where block ``index`` (from 0) begins in the archive."""
    _, header, encoded = sections(archive)
    facts = blocks.describe(encoded.data, header.blocks, len(TEXT))
    data_start = len(archive) - container.CRC_BYTES - len(encoded.data)
    return data_start + blocks.table_bytes(encoded.data, header.blocks) + sum(b["data_bytes"] for b in facts[:index])


def test_a_damaged_block_is_named(archive, run_cli, tmp_path):
    damaged = bytearray(archive)
    damaged[block_start(archive, 1) + 5] ^= 0x10
    with pytest.raises(MdlzipError, match="archive is damaged: CRC32 mismatch in block 2 of 3"):
        mdlzip.decompress(bytes(damaged))
    (tmp_path / "d.mdlz").write_bytes(bytes(damaged))
    assert_one_line_error(run_cli("decompress", "-c", str(tmp_path / "d.mdlz")), "CRC32 mismatch in block 2 of 3")
    assert_one_line_error(run_cli("info", str(tmp_path / "d.mdlz")), "block 2 of 3")


def test_a_block_damaged_behind_a_matching_archive_crc_is_named(archive):
    _, _, encoded = sections(archive)
    data = bytearray(encoded.data)
    data[block_start(archive, 2) - (len(archive) - container.CRC_BYTES - len(encoded.data))] ^= 1
    with pytest.raises(MdlzipError, match="CRC32 mismatch in block 3 of 3"):
        mdlzip.decompress(repacked(archive, data=bytes(data)))


def test_a_block_that_decodes_wrong_is_named(archive):
    """Coded bytes that pass their CRC32 but are not the block's (blocks swapped): the content
    checksum catches the wrong output."""
    parts = coded_blocks(archive)
    swapped = blocks.pack([4000] * 3, [parts[0], parts[2], parts[1]])
    with pytest.raises(MdlzipError, match="content checksum mismatch"):
        mdlzip.decompress(repacked(archive, data=swapped))


@pytest.mark.parametrize(
    "count,message",
    [
        (0, "block count 0 outside"),
        (1 << 40, "block count 1099511627776 outside 1..1048576"),
        (1 << 20, "1048576 blocks for 12000 bytes"),
        (11_999, "a table of 11999 blocks cannot fit"),
    ],
)
def test_absurd_block_counts_are_refused_before_allocating(archive, count, message):
    _, header, _ = sections(archive)
    refused_before_allocating(repacked(archive, header=replace(header, blocks=count)), message)


def test_huge_declared_blocks_are_refused_before_allocating(archive):
    """A block claiming more than its coded bytes can hold, alone or adding up to a huge input."""
    parts = coded_blocks(archive)
    huge = 1 << 36
    for lengths, coded, message in [
        ([huge, 4000, 4000], parts, "the data section is too short for the original length"),
        ([4000, 40_000, 8000], [parts[0], b"", parts[1] + parts[2]], "block 2 of 3 claims 40000 bytes"),
    ]:
        refused_before_allocating(repacked(archive, data=blocks.pack(lengths, coded), length=sum(lengths)), message)


def test_block_lengths_must_add_up(archive, run_cli, tmp_path):
    parts = coded_blocks(archive)
    (tmp_path / "s.mdlz").write_bytes(repacked(archive, data=blocks.pack([4000, 4000, 3999], parts)))
    assert_one_line_error(run_cli("decompress", "-c", str(tmp_path / "s.mdlz")), "the block lengths add up to 11999, not the original length 12000")


def test_a_truncated_block_is_refused(archive):
    _, _, encoded = sections(archive)
    with pytest.raises(MdlzipError, match="block 3 of 3 is truncated"):
        mdlzip.decompress(repacked(archive, data=encoded.data[:-10]))


# ---- the command ----


def test_the_command_decodes_blocks_in_processes(tmp_path, archive, run_cli):
    """-T 2 through the real command (workers spawned under python -m mdlzip); info lists the blocks."""
    (tmp_path / "a.txt.mdlz").write_bytes(archive)
    out = run_process("decompress", "-v", "-T", "2", "-c", "a.txt.mdlz", cwd=tmp_path)
    assert (out.code, out.out) == (0, TEXT) and "3 blocks decoded in 2 process(es), peak memory of one" in out.err
    listing = run_cli("info", str(tmp_path / "a.txt.mdlz")).out.decode()
    assert "block count" in listing and len([line for line in listing.splitlines() if line.split()[:2] == ["2", "4000"]]) == 1
    assert json.loads(run_cli("info", "--json", str(tmp_path / "a.txt.mdlz")).out)["blocks"][2]["original_bytes"] == 4000


def test_the_command_compresses_blocks_in_processes(run_cli, tmp_path, archive):
    """The archive's bytes do not depend on the processes that coded its blocks."""
    (tmp_path / "a.txt").write_bytes(TEXT)
    assert run_cli("compress", "-q", "-T", "2", "--method", "neural", "--level", "1", "--extra", "block_size=4000", str(tmp_path / "a.txt")).code == 0
    assert (tmp_path / "a.txt.mdlz").read_bytes() == archive


def session_states(session: int) -> list[str]:
    """The state letter of every process in a session, from /proc."""
    states = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session:
            states.append(fields[0])
    return states


def test_ctrl_c_ends_the_block_processes_with_one_line(tmp_path):
    """Ctrl-C reaches the whole process group: the workers leave it to the command, which ends
    them and says one line; no worker prints a traceback, none outlives the command, no file is left."""
    (tmp_path / "a.txt").write_bytes(sample_text(1_000_000, seed=5))
    args = ["compress", "-v", "-T", "2", "--method", "neural", "--extra", "block_size=250000", "--extra", "train_min=1000000000", "a.txt"]
    proc = subprocess.Popen(
        [*MDLZIP, *args], cwd=tmp_path, stderr=subprocess.PIPE, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # not ignored, even under a background shell
    )
    assert b"4 blocks of 250,000 to 250,000 bytes, coded in 2 process(es)" in proc.stderr.readline()
    time.sleep(3)  # the workers are coding
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (1, b"mdlzip: a.txt: interrupted\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
    # At most multiprocessing's resource tracker, which ends on its own once the command's exit
    # closed its pipe (on a busy machine it may still be running a moment after).
    deadline = time.monotonic() + 10
    while not set(session_states(proc.pid)) <= {"Z"} and time.monotonic() < deadline:
        time.sleep(0.1)
    assert set(session_states(proc.pid)) <= {"Z"}
