"""The model's shape: one dataclass shared by the float (training) and integer (coding) models.

The weight layout is defined here once, so training, conversion, the weight
codec and the integer engine agree on names, shapes and order.
"""

from __future__ import annotations

import struct
from dataclasses import astuple, dataclass, fields

from ..errors import MdlzipError

VOCAB = 256  # bytes
BOS = 256  # input token standing for "no byte" before a segment's start
N_TOKENS = VOCAB + 1
MAX_PARAMS = 1 << 24
RESID_MAX = (1 << 15) - 1  # the residual stream is int16 in the integer model
ACT_MAX = 127  # every other activation site is int8 (ReLU outputs 0..127)
ACT_EXP_MIN, ACT_EXP_MAX = -8, 20  # activation scales 2**-exp; the range keeps integer arithmetic in bounds


def alibi_slopes(n_head: int) -> list[int]:
    """Per-head slope exponents: head h's bias is -2**-s * distance, s = 8(h+1)/H."""
    return [8 * (h + 1) // n_head for h in range(n_head)]


@dataclass(frozen=True)
class ModelConfig:
    d_model: int = 64
    n_layer: int = 2
    n_head: int = 4
    d_ff: int = 256
    window: int = 128  # each position attends to itself and the window-1 positions before it
    n_prev: int = 3  # extra embeddings of the bytes 1..n_prev before the current one

    def __post_init__(self):
        check = [
            (1 <= self.n_layer <= 16, "n_layer"),
            (self.n_head in (1, 2, 4, 8), "n_head"),  # ALiBi slopes 2**(-8h/H) must be whole logit units
            (8 <= self.d_model <= 1024 and self.d_model % self.n_head == 0, "d_model"),
            (self.d_head in (4, 16, 64, 256), "d_head"),  # sqrt(d_head) must be a power of two
            (1 <= self.d_ff <= 4096, "d_ff"),
            (2 <= self.window <= 1024, "window"),
            (0 <= self.n_prev <= 8, "n_prev"),
        ]
        # Bound what a hostile header can make the decoder allocate.
        check.append((all(ok for ok, _ in check) and self.n_params() <= MAX_PARAMS, "size"))
        for ok, name in check:
            if not ok:
                raise MdlzipError(f"invalid model config: bad {name}")

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_head

    def weight_shapes(self) -> dict[str, tuple[int, int]]:
        """Every weight matrix, in archive order; linear layers are (out, in)."""
        d, shapes = self.d_model, {}
        for k in range(self.n_prev + 1):
            shapes[f"emb{k}"] = (N_TOKENS, d)
        for i in range(self.n_layer):
            for name in ("wq", "wk", "wv", "wo"):
                shapes[f"l{i}.{name}"] = (d, d)
            shapes[f"l{i}.w1"] = (self.d_ff, d)
            shapes[f"l{i}.w2"] = (d, self.d_ff)
        shapes["head"] = (VOCAB, d)
        return shapes

    def act_sites(self) -> list[str]:
        """Activation quantization points, each with its own power-of-two scale."""
        sites = ["resid"]
        for i in range(self.n_layer):
            sites += [f"l{i}.attn_in", f"l{i}.q", f"l{i}.k", f"l{i}.v", f"l{i}.mlp_in", f"l{i}.hidden"]
        return sites + ["head_in"]

    def n_params(self) -> int:
        return sum(a * b for a, b in self.weight_shapes().values())

    _FORMAT = "<6H"

    def to_bytes(self) -> bytes:
        return struct.pack(self._FORMAT, *astuple(self))

    @classmethod
    def from_bytes(cls, raw: bytes) -> "ModelConfig":
        if len(raw) != struct.calcsize(cls._FORMAT):
            raise MdlzipError("invalid model config: wrong size")
        return cls(*struct.unpack(cls._FORMAT, raw))

    def describe(self) -> str:
        return ", ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))
