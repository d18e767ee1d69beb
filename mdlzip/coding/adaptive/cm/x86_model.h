/* x86 model: contexts of machine code's instructions, for x86-64 executables and libraries.

   Predicts each byte of code from where it falls in its instruction (a prefix or opcode, the
   ModRM or SIB byte, the displacement or immediate, and which byte of it) with this instruction's
   opcode and ModRM, the opcodes of the last four instructions, the previous instruction's ModRM
   (the registers it named), the bytes of this instruction so far, of the previous two whole ones,
   and of this operand so far. Where a byte falls says what byte contexts cannot: that four bytes
   of an address follow a call's opcode, that a ModRM naming a register follows a `mov` (after
   paq8px's exe model, which parses instructions as this one does; on the kinds library it pays
   6.7% there). Side models alone, x86 filter applied: 100 kB of a shared library -8.1%, libz
   -7.4%, 500 kB of python3.11 -10.1%.

   A parser follows instruction lengths in 64-bit mode: legacy and REX prefixes, the one-byte,
   0F, 0F38 and 0F3A opcode maps, VEX and EVEX payloads, ModRM, SIB, displacements and
   immediates. Opcodes invalid in 64-bit mode, and ones compilers do not emit in user code (port
   I/O, x87, far returns, ...), the undefined members of opcode groups and `add [rax], al` (two
   zero bytes) count as errors. The stream is taken for code while a count of instructions,
   one up per instruction and halved at each error, is at least X86_VALID_MIN (one byte of data
   inside code does not switch the model off; data, which errs often, never reaches it), and
   while two of the last 32 bytes could not be in text (control bytes, broken UTF-8): text, whose
   letters parse as prefixes and short jumps, is never taken for code. Where it is code, the
   model's contexts take the last of the text model's slots, and the instruction's part selects
   weight sets of three mixers and the rows of two APMs (predictor.c). Bytes parsed wrongly cost
   only compression, never correctness: both sides parse the same bytes. */
#ifndef MDLZIP_CM_X86_MODEL_H
#define MDLZIP_CM_X86_MODEL_H

#include "common.h"

#define X86_CONTEXTS 16
/* mixer weight sets: part x its byte x opcode map x the opcode's high nibble (x86_contexts) */
#define X86_SELECTORS 4096
/* The count of instructions (above) from which the stream counts as code: at 12 with a reset at
   each error, Java classes, compiled Python and time-zone files (zero-rich binaries that parse
   for a while) coded 1.4-1.9% larger; at 64 with halving they code as without the model within
   0.03%, and code codes as well. */
#define X86_VALID_MIN 64
#define X86_BINARY_MIN 2 /* bytes of the last 32 that text would not hold */

/* Where the next byte falls. */
enum { X86_START, X86_OPCODE, X86_VEX, X86_MODRM, X86_SIB, X86_DISP, X86_IMM };

/* What follows a one-byte opcode: a ModRM byte (OP_M) and an immediate of a kind (OP_IB 1 byte,
   OP_IW 2, OP_IZ 2 or 4 by the operand size, OP_IV 2, 4 or 8, OP_MO a memory offset of 8 or 4
   bytes). Or it is an error (OP_X), a legacy prefix (OP_P), a REX prefix (OP_R), an escape to
   another map or a VEX or EVEX payload (OP_E), or F6/F7, whose immediate depends on ModRM (OP_G). */
enum { OP_IB = 1, OP_IW, OP_IZ, OP_IV, OP_MO, OP_M = 8, OP_X = 16, OP_P = 32, OP_R = 64, OP_E = 128, OP_G = 256 };

#define M_ OP_M
#define X_ OP_X
#define P_ OP_P
#define R_ OP_R
static const uint16_t X86_MAP0[256] = {
    M_, M_, M_, M_, OP_IB, OP_IZ, X_, X_, M_, M_, M_, M_, OP_IB, OP_IZ, X_, OP_E,
    M_, M_, M_, M_, OP_IB, OP_IZ, X_, X_, M_, M_, M_, M_, OP_IB, OP_IZ, X_, X_,
    M_, M_, M_, M_, OP_IB, OP_IZ, P_, X_, M_, M_, M_, M_, OP_IB, OP_IZ, P_, X_,
    M_, M_, M_, M_, OP_IB, OP_IZ, P_, X_, M_, M_, M_, M_, OP_IB, OP_IZ, P_, X_,
    R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    X_, X_, OP_E, M_, P_, P_, P_, P_, OP_IZ, M_ | OP_IZ, OP_IB, M_ | OP_IB, X_, X_, X_, X_,
    OP_IB, OP_IB, OP_IB, OP_IB, OP_IB, OP_IB, OP_IB, OP_IB, OP_IB, OP_IB, OP_IB, OP_IB, OP_IB, OP_IB, OP_IB, OP_IB,
    M_ | OP_IB, M_ | OP_IZ, X_, M_ | OP_IB, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_, M_,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, X_, 0, 0, 0, X_, X_,
    OP_MO, OP_MO, OP_MO, OP_MO, 0, 0, 0, 0, OP_IB, OP_IZ, 0, 0, 0, 0, 0, 0,
    OP_IB, OP_IB, OP_IB, OP_IB, OP_IB, OP_IB, OP_IB, OP_IB, OP_IV, OP_IV, OP_IV, OP_IV, OP_IV, OP_IV, OP_IV, OP_IV,
    M_ | OP_IB, M_ | OP_IB, OP_IW, 0, OP_E, OP_E, M_ | OP_IB, M_ | OP_IZ, X_, 0, X_, X_, 0, OP_IB, X_, X_,
    M_, M_, M_, M_, X_, X_, X_, X_, X_, X_, X_, X_, X_, X_, X_, X_,
    X_, X_, X_, X_, X_, X_, X_, X_, OP_IZ, OP_IZ, X_, OP_IB, X_, X_, X_, X_,
    P_, X_, P_, P_, 0, X_, M_ | OP_G, M_ | OP_G, 0, 0, 0, 0, 0, 0, M_, M_,
};
#undef M_
#undef X_
#undef P_
#undef R_

/* The 0F map: a ModRM byte but for the opcodes listed, an immediate byte after it for some, and
   a 32-bit offset after the conditional jumps 0F 80-8F. */
static inline int x86_map1(int b) {
    if (b >= 0x80 && b <= 0x8f) return OP_IZ;
    if ((b >= 0xc8 && b <= 0xcf) || (b >= 0x30 && b <= 0x37 && b != 0x36) || (b >= 0x05 && b <= 0x09) || b == 0x0b ||
        b == 0x0e || b == 0x77 || (b >= 0xa0 && b <= 0xa2) || (b >= 0xa8 && b <= 0xaa))
        return 0;
    if (b == 0x04 || b == 0x0a || b == 0x0c || b == 0x0f || (b >= 0x24 && b <= 0x27) || b == 0x36 || b == 0x39 ||
        (b >= 0x3b && b <= 0x3f) || b == 0xa6 || b == 0xa7)
        return OP_X;
    if ((b >= 0x70 && b <= 0x73) || b == 0xa4 || b == 0xac || b == 0xba || b == 0xc2 || (b >= 0xc4 && b <= 0xc6)) return OP_M | OP_IB;
    return OP_M;
}

typedef struct {
    uint8_t part, idx;      /* where the next byte falls, and how many bytes of that part came */
    uint8_t map, vex;       /* the opcode map (0 one byte, 1 0F, 2 0F38, 3 0F3A); VEX or EVEX payload bytes */
    uint8_t prefixes, rex;  /* prefixes seen; the REX byte */
    uint8_t osize, asize;   /* 66 and 67 seen */
    uint8_t modrm, sib, last_modrm;
    uint8_t disp, imm;      /* sizes of the displacement and the immediate to come */
    uint8_t utf8_need;      /* continuation bytes a UTF-8 sequence still needs */
    uint16_t op;            /* map << 8 | opcode; 0 until the opcode */
    uint16_t ops[4];        /* the last instructions' opcodes, newest first */
    uint32_t operand;       /* this displacement's or immediate's bytes so far, newest lowest */
    uint32_t valid;         /* instructions parsed, halved at each error (at most 1024) */
    uint32_t binary;        /* one bit per recent byte, newest lowest: a byte text would not hold */
    uint64_t insn, last_insn, last_insn2; /* hashes of this instruction's bytes so far, of the last two */
} X86Stream;

static inline void x86_stream_init(X86Stream *xs) { memset(xs, 0, sizeof *xs); }

static inline int x86_active(const X86Stream *xs) {
    return xs->valid >= X86_VALID_MIN && __builtin_popcount(xs->binary) >= X86_BINARY_MIN;
}

static inline void x86_end(X86Stream *xs, int valid) {
    for (int i = 3; i > 0; i--) xs->ops[i] = xs->ops[i - 1];
    xs->ops[0] = xs->op;
    xs->last_modrm = xs->modrm;
    xs->last_insn2 = xs->last_insn;
    xs->last_insn = xs->insn;
    xs->valid = valid ? (xs->valid < 1024 ? xs->valid + 1 : xs->valid) : xs->valid / 2;
    xs->part = X86_START;
    xs->idx = xs->map = xs->vex = xs->prefixes = xs->rex = xs->osize = xs->asize = 0;
    xs->modrm = xs->sib = xs->disp = xs->imm = 0;
    xs->op = 0;
    xs->operand = 0;
    xs->insn = 0;
}

static inline int x86_imm_size(const X86Stream *xs, int kind) {
    switch (kind) {
    case OP_IB: return 1;
    case OP_IW: return 2;
    case OP_IZ: return xs->osize ? 2 : 4;
    case OP_IV: return xs->rex & 8 ? 8 : xs->osize ? 2 : 4;
    case OP_MO: return xs->asize ? 4 : 8;
    default: return 0;
    }
}

/* The displacement (if any), the immediate (if any), then the next instruction. */
static inline void x86_operands(X86Stream *xs) {
    xs->idx = 0;
    xs->operand = 0;
    if (xs->disp) xs->part = X86_DISP;
    else if (xs->imm) xs->part = X86_IMM;
    else x86_end(xs, 1);
}

/* Opcode b of map xs->map. */
static inline void x86_opcode(X86Stream *xs, int b) {
    int f = xs->map == 0 ? X86_MAP0[b] : xs->map == 1 ? (xs->vex && b == 0x77 ? 0 : x86_map1(b)) : xs->map == 2 ? OP_M : OP_M | OP_IB;
    xs->op = (uint16_t)(xs->map << 8 | b);
    if (f & OP_X) {
        x86_end(xs, 0);
        return;
    }
    xs->imm = (uint8_t)x86_imm_size(xs, f & 7);
    xs->idx = 0;
    if (f & OP_M) xs->part = X86_MODRM;
    else x86_operands(xs);
}

/* Whether b could not be in text: a control byte other than tab and line ends, or a byte UTF-8
   does not allow where it stands. */
static inline void x86_binary(X86Stream *xs, int b) {
    int bin;
    if (b >= 0x80 && b < 0xc0) {
        bin = !xs->utf8_need;
        if (xs->utf8_need) xs->utf8_need--;
    } else {
        bin = xs->utf8_need || (b < 0x20 && b != '\t' && b != '\n' && b != '\r') || b == 0x7f || b == 0xc0 || b == 0xc1 || b >= 0xf5;
        xs->utf8_need = b >= 0xf5 ? 0 : b >= 0xf0 ? 3 : b >= 0xe0 ? 2 : b >= 0xc2 ? 1 : 0;
    }
    xs->binary = xs->binary << 1 | (uint32_t)bin;
}

static inline void x86_update(X86Stream *xs, int b) {
    x86_binary(xs, b);
    xs->insn = hash2(xs->insn + 1, (uint64_t)b);
    switch (xs->part) {
    case X86_START: {
        int f = X86_MAP0[b];
        if (f & (OP_P | OP_R)) {
            if (++xs->prefixes > 4) x86_end(xs, 0);
            else if (f & OP_R) xs->rex = (uint8_t)b;
            else if (b == 0x66) xs->osize = 1;
            else if (b == 0x67) xs->asize = 1;
        } else if (b == 0x0f) {
            xs->map = 1;
            xs->part = X86_OPCODE;
        } else if (f & OP_E) { /* C4, C5: VEX of two or one payload bytes; 62: EVEX of three */
            xs->vex = b == 0xc4 ? 2 : b == 0xc5 ? 1 : 3;
            xs->map = b == 0xc5 ? 1 : 0;
            xs->idx = 0;
            xs->part = X86_VEX;
        } else {
            x86_opcode(xs, b);
        }
        break;
    }
    case X86_OPCODE:
        if (!xs->vex && xs->map == 1 && (b == 0x38 || b == 0x3a)) xs->map = b == 0x38 ? 2 : 3;
        else x86_opcode(xs, b);
        break;
    case X86_VEX: /* the first payload byte names the map (but in C5's, which is always 0F) */
        if (xs->idx++ == 0 && !xs->map) xs->map = (uint8_t)(b & (xs->vex == 3 ? 3 : 0x1f));
        if (xs->idx == xs->vex) {
            if (xs->map < 1 || xs->map > 3) x86_end(xs, 0);
            else xs->part = X86_OPCODE;
        }
        break;
    case X86_MODRM: {
        int mod = b >> 6, reg = b >> 3 & 7, rm = b & 7, op = xs->op;
        /* add [rax], al (zero bytes, not code), and the groups' undefined members */
        if ((op == 0 && b == 0) || (op == 0xfe && reg > 1) || (op == 0xff && reg == 7) || (op == 0x8f && reg) ||
            ((op == 0xc6 || op == 0xc7) && reg && b != 0xf8)) {
            x86_end(xs, 0);
            break;
        }
        xs->modrm = (uint8_t)b;
        if (op < 256 && (X86_MAP0[op] & OP_G)) /* test r/m, imm (F6: 1 byte, F7: IZ); the group's others have none */
            xs->imm = reg < 2 ? (uint8_t)(op == 0xf6 ? 1 : x86_imm_size(xs, OP_IZ)) : 0;
        if (mod != 3 && rm == 4) {
            xs->part = X86_SIB;
            break;
        }
        xs->disp = mod == 1 ? 1 : mod == 2 || (mod == 0 && rm == 5) ? 4 : 0;
        x86_operands(xs);
        break;
    }
    case X86_SIB: {
        xs->sib = (uint8_t)b;
        int mod = xs->modrm >> 6;
        xs->disp = mod == 1 ? 1 : mod == 2 || (mod == 0 && (b & 7) == 5) ? 4 : 0;
        x86_operands(xs);
        break;
    }
    case X86_DISP:
        xs->operand = xs->operand << 8 | (uint32_t)b;
        if (++xs->idx == xs->disp) {
            xs->disp = 0;
            x86_operands(xs);
        }
        break;
    case X86_IMM:
        xs->operand = xs->operand << 8 | (uint32_t)b;
        if (++xs->idx == xs->imm) x86_end(xs, 1);
        break;
    }
}

/* The contexts of the next byte into h[0 .. X86_CONTEXTS); returns its mixer set (< X86_SELECTORS):
   (part x its byte so far x map) in the top six bits, the opcode's high nibble in the low four. */
static inline int x86_contexts(const X86Stream *xs, uint64_t c8, uint64_t *h) {
    int idx = xs->idx > 7 ? 7 : xs->idx;
    uint64_t where = (uint64_t)(xs->part << 4 | idx << 1 | (xs->rex >> 3 & 1)) << 8 | xs->map;
    uint64_t op = xs->op, modrm = xs->modrm, at = where << 16 | op;
    uint64_t prev = (uint64_t)xs->ops[0] << 16 | xs->ops[1], prev4 = prev << 32 | (uint64_t)xs->ops[2] << 16 | xs->ops[3];
    h[0] = hash3(0x8601, where, op);
    h[1] = hash3(0x8602, where, op << 8 | modrm);
    h[2] = hash3(0x8603, at, (uint64_t)xs->operand << 8 | modrm);
    h[3] = hash3(0x8604, at, (uint64_t)xs->ops[0]);
    h[4] = hash3(0x8605, at, prev);
    h[5] = hash3(0x8606, at, prev4);
    h[6] = hash3(0x8607, where, xs->last_insn);
    h[7] = hash3(0x8608, where, xs->insn);
    h[8] = hash3(0x8609, xs->insn, xs->last_insn);
    h[9] = hash3(0x860a, where, c8 & 0xffff);
    h[10] = hash3(0x860b, at, (modrm & 0xc7) << 8 | xs->sib);
    h[11] = hash3(0x860c, at, (uint64_t)xs->last_modrm << 16 | xs->ops[0]);
    h[12] = hash3(0x860d, at, hash3(prev4, (uint64_t)xs->last_modrm, modrm));
    h[13] = hash3(0x860e, xs->insn, hash2(xs->last_insn, xs->last_insn2));
    h[14] = hash3(0x860f, at, c8 & 0xff);
    h[15] = hash3(0x8610, at, (uint64_t)xs->operand << 32 | modrm << 24 | (uint64_t)xs->sib << 16 | xs->ops[0]);
    return ((xs->part * 8 + idx) * 4 + (xs->map & 3)) << 4 | (int)(op >> 4 & 15);
}

#endif
