"""Method 2, neural: train a byte transformer on the input, store it, range-code the data with it.

Header section: the model config, the number of lock-step streams, and the
training facts shown by ``info`` (steps, milliseconds). Model section: the
integer weights (``coding.weight_codec``). Data section: the range-coded bytes
(``coding.data_coder``). The decoder path imports no trainer.
"""

from __future__ import annotations

import math

import torch

from ..coding import data_coder, weight_codec
from ..coding.varint import Reader, put_uint
from ..errors import MdlzipError
from ..model.config import ModelConfig
from ..model.int_model import IntModel
from . import Encoded, Options

METHOD_ID = 2
NAME = "neural"
MIN_INPUT = 4096  # below this a stored model cannot pay for itself
MAX_STREAMS = 1 << 16
_CFG_BYTES = len(ModelConfig().to_bytes())


def pick_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise MdlzipError("--device cuda: no CUDA device is available")
        # The float64 integer matmuls are exact anyway; TF32 must not touch training either,
        # so that a run is reproducible.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    elif name != "cpu":
        raise MdlzipError(f"unknown device {name!r}")
    return torch.device(name)


def streams_for(n: int) -> int:
    """Lock-step streams: more streams decode faster; each costs a context-free start."""
    return max(1, min(512, math.ceil(n / 2048)))


def _header(cfg: ModelConfig, streams: int, steps: int, train_ms: int) -> bytes:
    out = bytearray(cfg.to_bytes())
    for v in (streams, steps, train_ms):
        put_uint(out, v)
    return bytes(out)


def _parse_header(raw: bytes) -> tuple[ModelConfig, int, int, int]:
    r = Reader(raw, "neural header")
    cfg = ModelConfig.from_bytes(r.bytes(_CFG_BYTES))
    streams = r.uint(MAX_STREAMS)
    steps = r.uint(1 << 40)
    train_ms = r.uint(1 << 40)
    if streams < 1 or r.rest():
        r.fail("bad stream count or trailing bytes")
    return cfg, streams, steps, train_ms


def _progress(options: Options, phase: str, total: int):
    done = 0

    def step(n: int):
        nonlocal done
        done += n
        if options.progress:
            options.progress(phase, done, total, {})

    return step


def encode(data: bytes, options: Options) -> Encoded:
    # The trainer is only needed to encode: importing it here keeps it off the decoder's path.
    from ..model.convert import to_integer
    from ..train.plan import plan_for
    from ..train.trainer import train

    device = pick_device(options.device)
    if options.threads:
        torch.set_num_threads(options.threads)
    cfg, plan = plan_for(len(data), options.level, options.seed, options.extra)

    def train_progress(step: int, steps: int, info: dict):
        if options.progress:
            options.progress("train", step, steps, info)

    result = train(data, cfg, plan, device, train_progress)
    model_bytes = weight_codec.encode(to_integer(result.model))
    # Code with exactly what the decoder will rebuild from the archive.
    engine = IntModel(weight_codec.decode(model_bytes, cfg), device)
    streams = int(options.extra.get("streams", streams_for(len(data))))
    with torch.inference_mode():
        chunk = min(cfg.window, max(8, 16384 // streams))
        data_bytes = data_coder.encode(data, engine, streams, chunk, _progress(options, "encode", len(data)))
    return Encoded(_header(cfg, streams, result.steps, int(result.seconds * 1000)), model_bytes, data_bytes)


def decode(encoded: Encoded, original_length: int, options: Options) -> bytes:
    cfg, streams, _, _ = _parse_header(encoded.header)
    device = pick_device(options.device)
    if options.threads:
        torch.set_num_threads(options.threads)
    engine = IntModel(weight_codec.decode(encoded.model, cfg), device)
    return data_coder.decode(encoded.data, engine, original_length, streams, progress=_progress(options, "decode", original_length))


def describe(encoded: Encoded) -> dict:
    cfg, streams, steps, train_ms = _parse_header(encoded.header)
    w = weight_codec.decode(encoded.model, cfg)
    return {
        "params_total": cfg.n_params(),
        "params_nonzero": int(sum(int((q.values != 0).sum()) for q in w.weights.values())),
        "architecture": cfg.describe(),
        "streams": streams,
        "train_steps": steps,
        "train_seconds": train_ms / 1000,
    }


