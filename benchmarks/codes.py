"""The codes of Blier & Ollivier ("The Description Length of Deep Learning Models", 2018) on one file.

- uniform: 8 bits per byte, no model at all;
- two-part: mdlzip's archive, the model's weights plus the data coded with them
  (real bytes, round trip verified);
- prequential (an estimate): the file is cut at blocks that double in length;
  the first block is coded uniformly, and each later block by a model trained
  only on the bytes before it, so no model is ever stored. The estimate is the
  ideal codelength (cross-entropy) of each block under that model, no coder and
  no container overhead, and every prefix's model is trained with mdlzip's own
  trainer and plan: the architecture ``plan_for`` picks for the whole file, the
  step count it gives a file of the prefix's length at that level (times a
  budget), dense (no sparsity penalty, no threshold search), and quantization-
  aware at the end as mdlzip's models are.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable, Optional

import torch

from mdlzip.methods.neural import MIN_INPUT, pick_device
from mdlzip.train.plan import plan_for, steps_for
from mdlzip.train.trainer import evaluate_bpb, train

# The first block is n / 2**DOUBLINGS bytes; then the blocks end at n/32, n/16, ..., n.
DOUBLINGS = 6
# Below mdlzip's own threshold for storing a model, no model pays for itself and a prefix is too short to train on.
MIN_BYTES = MIN_INPUT


def block_ends(n: int) -> list[int]:
    """Ends of the prequential blocks: n >> 6, n >> 5, ..., n (repeats dropped for tiny files)."""
    return sorted({n >> k for k in range(DOUBLINGS + 1)} - {0})


def _block_bits(model, data: bytes, start: int, end: int) -> float:
    """Bits of data[start:end] under the model, with the preceding bytes it can see as context.

    evaluate_bpb codes from a fresh start, so the context's own bits, identical in
    both calls because the model is causal, are subtracted.
    """
    cfg = model.cfg
    context = data[max(0, start - (cfg.n_layer * (cfg.window - 1) + cfg.n_prev)) : start]
    both = evaluate_bpb(model, context + data[start:end], streams=1) * (len(context) + end - start)
    alone = evaluate_bpb(model, context, streams=1) * len(context) if context else 0.0
    return both - alone


def prequential_estimate(
    data: bytes,
    level: int,
    budget: float,
    threads: Optional[int] = None,
    progress: Optional[Callable[[str], None]] = None,
) -> dict:
    """The prequential codelength estimate of ``data``, with each block's share."""
    n, started = len(data), time.monotonic()
    cfg, plan = plan_for(n, level)  # mdlzip's default seed, as in the archive beside it
    # No sparsity phase (prelude up to the quantization point) and no threshold search: a dense model.
    plan = replace(plan, sparsifier="none", tamade=False, prelude=plan.prune_at)
    device = pick_device("auto")
    if threads:
        torch.set_num_threads(threads)
    ends = block_ends(n)
    blocks = [{"start": 0, "end": ends[0], "train_steps": 0, "bits": 8.0 * ends[0]}] if ends else []
    for start, end in zip(ends, ends[1:]):
        steps = max(1, round(budget * steps_for(start, level)))
        if progress:
            progress(f"prequential: training on bytes 0..{start} ({steps} steps), coding {start}..{end}")
        model = train(data[:start], cfg, replace(plan, steps=steps), device).model
        with torch.no_grad():
            bits = _block_bits(model, data, start, end)
        blocks.append({"start": start, "end": end, "train_steps": steps, "bits": bits})
    for block in blocks:
        block["bits_per_byte"] = block["bits"] / (block["end"] - block["start"])
    total = sum(block["bits"] for block in blocks)
    return {
        "bytes": total / 8,
        "bits_per_byte": total / n if n else None,
        "level": level,
        "budget": budget,
        "doublings": DOUBLINGS,
        "architecture": cfg.describe(),
        "device": str(device),
        "seconds": time.monotonic() - started,
        "blocks": blocks,
    }


def compare(size: int, row: dict, prequential: Optional[dict]) -> dict:
    """The three codes for one file and one verified mdlzip archive, in bytes and bits per byte."""
    info = row["info"]

    def code(nbytes: float) -> dict:
        return {"bytes": nbytes, "bits_per_byte": 8 * nbytes / size if size else None}

    return {
        "compressor": row["compressor"],
        "uniform": code(size),
        "two_part": {
            **code(row["compressed_bytes"]),
            **{key: info.get(key) for key in ("method", "header_bytes", "model_bytes", "data_bytes", "params_nonzero", "params_total")},
        },
        "prequential_estimate": prequential,
    }
