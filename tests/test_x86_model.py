"""The x86 model (cm/x86_model.h): it pays on machine code, stays idle on text and data, and both
sides follow its parser exactly, whatever the bytes; a misparse costs bytes, never a wrong decode."""

import hashlib

import pytest

from test_adaptive import _assert_text_after_codes_as_text, _coded as coded, _lcg, _round_trip

OFF_X86 = 512  # cm/predictor.h
# sha256 of the side models' data section for code(2000), test_x86_bitstream_is_pinned.
PINNED_X86 = "58de43caadc0123a1c54b859c491af95592e7b877257b48b70541bba40f302ad"


def code(instructions: int, seed: int = 1) -> bytes:
    """x86-64 machine code as a compiler lays it out: functions of a prologue, a body of common
    instructions (register moves, stack loads and stores, calls, tests and branches, RIP-relative
    loads, SIB addressing, VEX, immediates of every size) and an epilogue; a fixed generator."""
    r = iter(_lcg(8 * instructions + 64, seed))

    def le(v: int, n: int) -> bytes:
        return (v % (1 << (8 * n))).to_bytes(n, "little")

    def body() -> bytes:
        k, a, b = next(r) % 16, next(r), next(r)
        reg, disp = a % 8, -8 * (1 + b % 12)
        return [
            b"\x48\x8b\x45" + le(disp, 1),  # mov rax, [rbp + disp8]
            b"\x48\x89\x45" + le(disp, 1),  # mov [rbp + disp8], rax
            b"\xe8" + le(-(4096 + 64 * (a % 40)), 4),  # call rel32
            b"\x85\xc0\x74" + le(b % 60, 1),  # test eax, eax; je rel8
            b"\x0f\x84" + le(200 + b % 900, 4),  # je rel32
            b"\x48\x8d\x05" + le(8192 + 16 * (a % 50), 4),  # lea rax, [rip + rel32]
            b"\x31\xc0",  # xor eax, eax
            b"\x48\x89" + bytes([0xc0 | reg << 3 | b % 8]),  # mov r64, r64
            b"\x48\x8b\x04\x24",  # mov rax, [rsp] (SIB)
            b"\xc7\x45" + le(disp, 1) + le(b % 100, 4),  # mov dword [rbp + disp8], imm32
            b"\x66\x0f\x1f\x44\x00\x00",  # nop word [rax + rax]
            b"\x0f\xb6\xc0",  # movzx eax, al
            b"\xc5\xf8\x77",  # vzeroupper (VEX)
            b"\x48\xc7\xc0" + le(a % 4096, 4),  # mov rax, imm32
            b"\x48\xb8" + le(0x400000 + 8 * a, 8),  # movabs rax, imm64
            b"\x41\x8b\x84\x24" + le(16 * (b % 30), 4),  # mov eax, [r12 + disp32]
        ][k]

    out, n = [], 0
    while n < instructions:
        out.append(b"\x55\x48\x89\xe5\x48\x83\xec" + bytes([16 * (1 + next(r) % 4)]))  # push rbp; mov rbp, rsp; sub rsp, imm8
        for _ in range(4 + next(r) % 12):
            out.append(body())
            n += 1
        out.append(b"\xc9\xc3")  # leave; ret
        n += 5
    return b"".join(out)




def test_code_codes_smaller_with_its_model():
    data = code(3000)
    with_model, without = len(coded(data)), len(coded(data, OFF_X86))
    assert with_model < 0.95 * without, (with_model, without)


@pytest.mark.parametrize(
    "data",
    [
        b"The letters of a text parse as prefixes and short jumps, yet no text is code.\n" * 60,
        "Текст по-русски и 中文文本 and accents: é à ü, all valid UTF-8.\n".encode() * 60,
        bytes(6000),  # zeros parse as add [rax], al: counted as errors
        bytes(v & 255 for v in _lcg(6000, 3)),  # random bytes meet invalid opcodes too often
        b"\x00\x01\x00\x02\xff\xff\x00\x10" * 700,  # a table of small binary numbers
    ],
)
def test_what_is_not_code_changes_nothing(data):
    """Where the parser never counts enough instructions, the coded bytes are exactly those without the model."""
    assert coded(data) == coded(data, OFF_X86)


def test_text_after_code_codes_as_text():
    """Text after code switches the model off within 32 bytes."""
    _assert_text_after_codes_as_text(code(2000), OFF_X86)


@pytest.mark.parametrize(
    "data",
    [
        code(300) + b"\x66" * 40 + code(300),  # a run of prefixes
        code(300) + b"\xc4\xe2",  # a VEX payload cut short at the end
        code(300) + b"\x62\xf1\x7c\x48",  # EVEX, then nothing
        code(300) + b"\x0f\x38",  # a three-byte opcode's escape, at the end
        code(300) + b"\x48\xb8\x01\x02",  # an immediate cut short
        code(300) + b"\xc4\x00\x00\xc4\x1f\x00" * 20 + code(100),  # VEX naming no map
        bytes(range(256)) * 8,
        (b"\xf6\x00\x01\xf7\x00\x01\x02\x03\x04" + b"\xf7\xd0") * 100,  # test with and without an immediate
    ],
)
def test_odd_instructions_round_trip(data):
    coded(data)


def test_encoder_and_decoder_states_match_on_code():
    """Three streams: the first parses from the start, the others start mid-instruction."""
    _round_trip(code(600), 3, "random")


def test_x86_bitstream_is_pinned():
    assert hashlib.sha256(coded(code(2000))).hexdigest() == PINNED_X86
