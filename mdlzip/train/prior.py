"""Training a prior (``mdlzip prior train``): a transformer and a priming text from a corpus.

The prior's transformer is trained dense (it is shipped once, never stored in
an archive, so pruning would only cost accuracy) and quantized like any
archive's model. The priming text is the corpus itself, cut down to evenly
spaced slices where it is longer than ``text_bytes``, in the corpus's order:
the side models adapt, so what they learn last weighs most.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Optional

import torch

from .. import prior as priors
from ..model.config import ModelConfig
from ..model.convert import to_integer
from .plan import steps_for
from .plan import TrainPlan
from .trainer import train

# The shape of every prior's transformer: the one the neural method trains for ~1 MB inputs.
PRIOR_MODEL = ModelConfig(d_model=64, n_layer=2, n_head=4, d_ff=256, window=128, n_prev=3)
TEXT_BYTES = 12 << 20
_SLICE = 1 << 16


def priming_text(corpus: bytes, limit: int) -> bytes:
    """At most ``limit`` bytes of the corpus: all of it, or evenly spaced slices of it."""
    if len(corpus) <= limit:
        return corpus
    count = max(1, limit // _SLICE)
    size = limit // count
    stride = (len(corpus) - size) // max(1, count - 1)
    return b"".join(corpus[i * stride : i * stride + size] for i in range(count))


def train_prior(
    corpus: bytes,
    description: str,
    level: int,
    device: torch.device,
    text_bytes: int = TEXT_BYTES,
    progress: Optional[Callable[[int, int, dict], None]] = None,
    transformer: bool = True,
    **plan_fields,
) -> bytes:
    """The prior file's bytes; without ``transformer`` a priming text alone (nothing to train).
    ``plan_fields`` override the training plan (tests use tiny ones)."""
    text = priming_text(corpus, text_bytes)
    if not transformer:
        return priors.to_bytes(description, None, text)
    cfg = replace(PRIOR_MODEL, **{k: plan_fields.pop(k) for k in list(plan_fields) if k in ModelConfig.__dataclass_fields__})
    plan = TrainPlan(
        steps=steps_for(len(corpus), level), sparsifier="none", tamade=False, rel_steps=(0.25,), rel_step=0.25
    )
    plan = replace(plan, **plan_fields)
    result = train(corpus, cfg, plan, device, progress)
    return priors.to_bytes(description, to_integer(result.model), text)
