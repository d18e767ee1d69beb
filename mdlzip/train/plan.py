"""Model size and training budget from the input size and ``--level``.

The two-part code pays for every weight, so the model grows with the input;
the level buys training steps (and, at the top, width). Budgets are counted in
steps, so the archive does not depend on how fast the machine is. Level 6 is
sized to train on 1 MB in about ten minutes on a 2-core CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import MdlzipError
from ..model.config import ModelConfig
from . import sparsity

@dataclass(frozen=True)
class TrainPlan:
    steps: int = 1000
    batch: int = 8
    seq_len: int = 256
    lr: float = 2e-3
    warmup: float = 0.03  # fraction of steps
    weight_decay: float = 0.01
    sparsifier: str = sparsity.DEFAULT
    prelude: float = 0.15  # fraction of steps trained without the model-size term
    ramp: float = 0.0  # continuation: fraction of the regularized phase over which the weights' price rises from 0 to alpha
    penalty_scale: float = 1.0  # alpha's multiple: 1 prices a weight at its measured bits (the MDL curve varies it)
    prune_at: float = 0.75  # then: final mask by codelength, quantization, masked quantization-aware training
    rel_step: float = 0.4  # weight quantization step relative to the rms of each tensor's nonzeros, while pricing the mask
    rel_steps: tuple = (0.25, 0.35, 0.5, 0.7, 1.0, 1.4)  # candidate steps once the mask is fixed
    tamade: bool = True  # False keeps every weight the sparsifier left (the dense baseline with "none")
    mixture: bool = True  # with the side models' bit probabilities given: train the transformer for the mixture with them
    stop_early: bool = True  # with the mixture: stop where the model kept cannot beat the side models alone (trainer.py)
    seed: int = 0


# Training tokens per step (batch * seq_len) and the step budget at level 6 for 1 MB.
_BATCH, _SEQ = 8, 256
_LEVEL_SCALE = {1: 0.1, 2: 0.2, 3: 0.3, 4: 0.5, 5: 0.75, 6: 1.0, 7: 1.5, 8: 2.0, 9: 3.0}


def model_for(n: int, level: int) -> ModelConfig:
    if n < 64 * 1024:
        return ModelConfig(d_model=32, n_layer=1, n_head=2, d_ff=64, window=64, n_prev=3)
    if n < 384 * 1024:
        return ModelConfig(d_model=64, n_layer=1, n_head=4, d_ff=128, window=128, n_prev=3)
    return ModelConfig(d_model=64, n_layer=2, n_head=4, d_ff=256, window=128, n_prev=3)


def steps_for(n: int, level: int) -> int:
    """Roughly 16 epochs at 1 MB, more passes over smaller inputs, fewer over larger."""
    epochs = 16 * (1_000_000 / max(n, 1)) ** 0.5
    return max(200, int(_LEVEL_SCALE[level] * epochs * n / (_BATCH * _SEQ)))


def plan_for(n: int, level: int, seed: int = 0, extra: dict | None = None) -> tuple[ModelConfig, TrainPlan]:
    """The model config and training plan; ``extra`` may override any field of either (tests, benchmarks)."""
    if level not in _LEVEL_SCALE:
        raise MdlzipError(f"level must be 1..9, not {level}")
    extra = dict(extra or {})
    cfg = model_for(n, level)
    plan = TrainPlan(steps=steps_for(n, level), batch=_BATCH, seq_len=_SEQ, seed=seed)
    cfg_fields = {k: extra.pop(k) for k in list(extra) if k in ModelConfig.__dataclass_fields__}
    plan_fields = {k: extra.pop(k) for k in list(extra) if k in TrainPlan.__dataclass_fields__}
    return replace(cfg, **cfg_fields), replace(plan, **plan_fields)
