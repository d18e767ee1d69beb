"""coding/x86_filter.py and its use by the neural method: exactly invertible on any bytes, chosen
for machine code and only there, named in the header."""

import random

import numpy as np
import pytest

import mdlzip
from mdlzip.coding import x86_filter
from mdlzip.errors import MdlzipError
from mdlzip.methods import neural


def machine_code(n: int, seed: int = 0) -> bytes:
    """Instructions of a few shapes with calls and jumps to a few dozen functions, as compilers
    emit them: the displacement of each call is its target minus the next instruction's position."""
    rng = random.Random(seed)
    targets = [rng.randrange(0, 1 << 20) for _ in range(40)]
    shapes = [bytes([0x48, 0x89, 0xC7]), bytes([0x31, 0xC0]), bytes([0x48, 0x8B, 0x45, 0xF8]), bytes([0x5D, 0xC3]), bytes([0x85, 0xC0, 0x74, 0x05])]
    out = bytearray()
    while len(out) < n:
        out += rng.choice(shapes)
        if rng.random() < 0.4:
            op = rng.choice((0xE8, 0xE8, 0xE9))
            displacement = (rng.choice(targets) - (len(out) + 5)) & 0xFFFFFFFF
            out += bytes([op]) + displacement.to_bytes(4, "little")
    return bytes(out[:n])


def test_a_call_becomes_its_target_most_significant_byte_first():
    code = bytes([0x90, 0xE8, 0x10, 0x00, 0x00, 0x00, 0xE9, 0xFB, 0xFF, 0xFF, 0xFF])
    #               call +0x10 at 1: target 1 + 0x10 = 0x11    jmp -5 at 6: (0xFFFFFB + 6) mod 2^24 = 1
    assert x86_filter.forward(code) == bytes([0x90, 0xE8, 0x00, 0x00, 0x11, 0x00, 0xE9, 0x00, 0x00, 0x01, 0xFF])


def test_calls_to_one_function_get_the_same_bytes():
    code = machine_code(20_000)
    filtered = np.frombuffer(x86_filter.forward(code), dtype=np.uint8)
    # in the filtered code the operands take about as many values as there are targets
    ops = [bytes(filtered[p + 1 : p + 5]) for p in range(len(filtered) - 5) if filtered[p] == 0xE8 and filtered[p + 4] in (0, 0xFF)]
    raw = [code[p + 1 : p + 5] for p in range(len(code) - 5) if code[p] == 0xE8 and code[p + 4] in (0, 0xFF)]
    assert len(set(ops)) <= 80 < len(set(raw))


def test_an_address_relative_to_the_instruction_pointer_becomes_the_address():
    #      at 2: mov rax, [rip + 0x20]: address 2 + 0x20 = 0x22     lea rdi, [rip - 3] at 9: 6
    code = bytes([0x90, 0x90, 0x48, 0x8B, 0x05, 0x20, 0x00, 0x00, 0x00, 0x4C, 0x8D, 0x3D, 0xFD, 0xFF, 0xFF, 0xFF])
    assert x86_filter.forward(code) == bytes([0x90, 0x90, 0x48, 0x8B, 0x05, 0x00, 0x00, 0x22, 0x00, 0x4C, 0x8D, 0x3D, 0x00, 0x00, 0x06, 0xFF])


def scan(data: bytes) -> bytes:
    """The filter as FORMAT.md states it, one position at a time."""
    b, p = bytearray(data), 0
    while p < len(b):
        if b[p] in x86_filter.BRANCHES and p + 4 < len(b):
            first, step = p + 1, 5
        elif b[p] in x86_filter.REX_W and p + 6 < len(b) and b[p + 1] in x86_filter.OPCODES and b[p + 2] & 0xC7 == 5:
            first, step = p + 3, 7
        else:
            p += 1
            continue
        if b[first + 3] in (0x00, 0xFF):
            a = (int.from_bytes(b[first : first + 3], "little") + p) % (1 << 24)
            b[first : first + 3] = a.to_bytes(3, "big")
        p += step
    return bytes(b)


@pytest.mark.parametrize("seed", range(40))
def test_the_inverse_undoes_it_on_any_bytes(seed):
    """Dense opcodes, operands that overlap, operands cut by the end, every last byte; and the
    vectorized filter is the scan."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 3000))
    alphabet = np.array([0xE8, 0xE9, 0x00, 0xFF, 0x48, 0x4C, 0x8B, 0x8D, 0x05, 0x15, 0x01, 0x80], dtype=np.uint8)
    data = (alphabet[rng.integers(0, len(alphabet), n)] if seed % 2 else rng.integers(0, 256, n, dtype=np.uint8)).tobytes()
    assert x86_filter.forward(data) == scan(data)
    assert x86_filter.inverse(x86_filter.forward(data)) == data


@pytest.mark.parametrize("seed", range(10))
def test_the_search_in_chunks_is_the_search_at_once(seed, monkeypatch):
    """Chunks of 16 bytes: operands and the scan's state cross every boundary."""
    rng = np.random.default_rng(seed)
    alphabet = np.array([0xE8, 0xE9, 0x00, 0xFF, 0x48, 0x4C, 0x8B, 0x05], dtype=np.uint8)
    data = alphabet[rng.integers(0, len(alphabet), 2000)].tobytes() + machine_code(3000, seed)
    monkeypatch.setattr(x86_filter, "CHUNK", 16)
    assert x86_filter.forward(data) == scan(data)
    assert x86_filter.inverse(x86_filter.forward(data)) == data


def test_short_and_empty_inputs_pass_unchanged():
    for data in (b"", b"\xe8", b"\xe8\x00\x00\x00", bytes([0xE8] * 4)):
        assert x86_filter.forward(data) == data == x86_filter.inverse(data)


def test_operands_are_dense_in_code_and_rare_elsewhere():
    assert x86_filter.candidates(machine_code(50_000)) > 50_000 // 100
    assert x86_filter.candidates(np.random.default_rng(1).integers(0, 256, 50_000, dtype=np.uint8).tobytes()) < 50_000 // 1000
    assert x86_filter.candidates("漢字の文章はE8とE9で始まる文字を多く含む。".encode() * 500) == 0


def test_the_neural_method_filters_machine_code_and_says_so():
    code = machine_code(60_000)
    archive = mdlzip.compress(code, method="neural")
    assert mdlzip.decompress(archive) == code
    assert mdlzip.info(archive)["data_filter"] == neural.FILTER_NAMES[neural.X86]
    plain = mdlzip.compress(code, method="neural", filter=False)
    assert mdlzip.info(plain)["data_filter"] is None
    assert len(archive) < 0.9 * len(plain)


def test_the_trial_of_an_input_it_codes_whole_is_the_side_models_pass(monkeypatch):
    """An input within the trial's bytes is coded by the side models twice, with and without the
    filter, not a third time for the empty model: its archive holds the trial's winning bytes, the
    very data section the empty model's pass codes."""
    code = machine_code(30_000)
    winner = neural.choose_filter(code)
    assert winner.data_filter == neural.X86
    assert winner.coded == neural.data_coder.encode_uniform(x86_filter.forward(code), 1, neural.SideConfig.for_input(len(code)))
    passes = []
    encode_uniform = neural.data_coder.encode_uniform
    monkeypatch.setattr(neural.data_coder, "encode_uniform", lambda data, *a, **k: passes.append(len(data)) or encode_uniform(data, *a, **k))
    archive = mdlzip.compress(code, method="neural")
    assert passes == [len(code), len(code)]
    assert winner.coded in archive and mdlzip.decompress(archive) == code


def test_text_is_not_filtered():
    text = b"Plain words, with no machine code in them at all. " * 400
    archive = mdlzip.compress(text, method="neural")
    assert mdlzip.info(archive)["data_filter"] is None and mdlzip.decompress(archive) == text


def test_an_unknown_filter_in_a_header_is_refused():
    header = neural.Header(neural.EMPTY.cfg, 1, neural.SideConfig(16), 1, 0, 0, 0, 0, 0, 0, 0)
    assert neural.Header.from_bytes(header.to_bytes()).filter == neural.NO_FILTER
    with pytest.raises(MdlzipError, match="unknown data filter 2"):
        neural.Header.from_bytes(neural.Header(neural.EMPTY.cfg, 1, neural.SideConfig(16), 1, 0, 0, 0, 0, 0, 0, 0, filter=2).to_bytes())
