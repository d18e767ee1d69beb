"""Small integer models for the neural tests: random weights, calibrated like a trained model."""

import torch

from mdlzip.model.config import BOS, ModelConfig
from mdlzip.model.convert import to_integer
from mdlzip.model.float_model import ByteTransformer
from mdlzip.model.int_model import IntWeights

TINY = ModelConfig(d_model=32, n_layer=2, n_head=2, d_ff=64, window=8, n_prev=3)


def random_float_model(cfg: ModelConfig = TINY, seed: int = 0, rel_step: float = 0.3) -> ByteTransformer:
    torch.manual_seed(seed)
    model = ByteTransformer(cfg)
    sample = torch.cat([torch.full((4, cfg.n_prev), BOS), torch.randint(0, 256, (4, 48))], 1)
    model.start_quantization(sample, rel_step)
    return model.eval()


def random_int_weights(cfg: ModelConfig = TINY, seed: int = 0) -> IntWeights:
    return to_integer(random_float_model(cfg, seed))


def sparse_int_weights(cfg: ModelConfig = TINY, keep: float = 0.05, seed: int = 0) -> IntWeights:
    """random_int_weights with each weight kept with probability ``keep``, the others zero."""
    w = random_int_weights(cfg, seed)
    g = torch.Generator().manual_seed(seed + 1000)
    for q in w.weights.values():
        q.values = q.values * (torch.rand(q.values.shape, generator=g) < keep).numpy()
    return w
