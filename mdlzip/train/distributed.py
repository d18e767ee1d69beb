"""One model trained by several processes under torchrun: the ranks share every batch.

``torchrun --nproc_per_node N -m mdlzip compress FILE`` starts N processes that
each run the compression of FILE (torchrun sets RANK, WORLD_SIZE, LOCAL_RANK and
the rendezvous address). They train one model: every rank draws the same global
batch of windows from the same seeded generator and trains on its own share of
it, and before every optimizer step the ranks sum their gradients (all-reduce),
so every rank takes the same step and holds the same weights throughout. The run
is the single-process run with its batch split, up to the order of the
floating-point sums. Rank 0 alone runs the side models (their bit probabilities
are broadcast to the others), measures, converts the weights to integers, codes
and writes the archive: an ordinary archive that one process decodes anywhere.
The other ranks end when training ends. Gloo on CPU, NCCL on GPUs (one rank per
GPU, LOCAL_RANK naming it).

Without torchrun ``join`` gives a group of one whose calls do nothing, so the
trainer has one code path. The decoder never imports this module; the command
line does, for ``follower`` alone, so torch is imported only where a group is joined.
"""

from __future__ import annotations

import atexit
import hashlib
import os
from datetime import timedelta
from typing import Optional

from ..errors import MdlzipError

# Rank 0 runs the side models over the whole input while the other ranks wait for their
# probabilities: at the side models' ~70 kB/s on one core a 1 GB input takes about four hours.
TIMEOUT = timedelta(days=1)
# Broadcast in pieces: on GPUs each piece is staged in device memory.
_PIECE = 1 << 26


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def follower() -> bool:
    """Whether this process is a rank other than 0 of a torchrun group: it trains, rank 0 writes."""
    return world_size() > 1 and int(os.environ.get("RANK", "0")) != 0


class Group:
    """The processes training one model; a group of one (no torchrun) makes every call a no-op."""

    def __init__(self, device, rank: int = 0, world: int = 1, backend: Optional[str] = None):
        self.device, self.rank, self.world, self.backend = device, rank, world, backend

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def share(self, batch: int) -> slice:
        """This rank's windows of a global batch: contiguous shares, as even as possible."""
        return slice(self.rank * batch // self.world, (self.rank + 1) * batch // self.world)

    def part(self, loss, batch: int):
        """This rank's part of the global batch's mean loss: summed over the ranks, it is that mean."""
        mine = self.share(batch)
        return loss * ((mine.stop - mine.start) / batch)

    def sum_gradients(self, params, part):
        """Sum the gradients of ``params`` and ``part`` over the ranks (one all-reduce); the global
        batch's loss. Every rank then holds the same gradients, so takes the same step."""
        if self.world == 1:
            return part
        import torch
        import torch.distributed as dist

        grads = [p.grad for p in params if p.grad is not None]
        flat = torch.cat([g.reshape(-1) for g in grads] + [part.detach().reshape(1)])
        dist.all_reduce(flat)
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()
        return flat[-1]

    def broadcast_model(self, model) -> None:
        """Rank 0's parameters and buffers (masks, quantization steps, activation scales) everywhere:
        at the start and after the decisions taken once (mask, quantization), whatever rounding
        differences between devices might have made of them."""
        if self.world == 1:
            return
        import torch.distributed as dist

        for t in (*model.parameters(), *model.buffers()):
            dist.broadcast(t.data, 0)

    def broadcast_array(self, array: Optional[np.ndarray], shape: tuple, dtype) -> np.ndarray:
        """Rank 0's ``array`` on every rank (the others pass None)."""
        if self.world == 1:
            return array
        import numpy as np
        import torch
        import torch.distributed as dist

        out = array if self.leader else np.empty(shape, dtype=dtype)
        flat = torch.from_numpy(out.reshape(-1).view(np.uint8))
        for i in range(0, len(flat), _PIECE):
            piece = flat[i : i + _PIECE].to(self.device)
            dist.broadcast(piece, 0)
            flat[i : i + _PIECE] = piece.cpu()
        return out

    def check_same(self, model) -> None:
        """Refuse to go on where the ranks' weights differ: the archive holds rank 0's."""
        if self.world == 1:
            return
        import torch
        import torch.distributed as dist

        digest = hashlib.blake2b(digest_size=8)
        for t in (*model.parameters(), *model.buffers()):
            digest.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
        mine = torch.frombuffer(bytearray(digest.digest()), dtype=torch.uint8).to(self.device)
        every = [torch.empty_like(mine) for _ in range(self.world)]
        dist.all_gather(every, mine)
        if any(not torch.equal(d, every[0]) for d in every):
            raise MdlzipError("distributed training: the ranks ended with different weights")

    def leave(self) -> None:
        """End the group on every rank at once, when training ends: rank 0 then codes alone, and
        no rank tears its connections down at exit while another still holds them."""
        global _joined
        if self.world == 1:
            return
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
        _joined = None


_joined: Optional[Group] = None


def _end() -> None:
    """At exit, a group that training did not end (an error on the way)."""
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def join(device) -> Group:
    """The group this process trains in: torchrun's (joined once per process), else a group of one.

    On CUDA each rank takes the GPU of its LOCAL_RANK."""
    global _joined
    if world_size() == 1:
        return Group(device)
    if _joined is None:
        import torch
        import torch.distributed as dist

        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(device)
        backend = "nccl" if device.type == "cuda" else "gloo"
        # The optimizer's first use imports torch._dynamo, whose distributed modules keep
        # references to the default group when one exists: destroy_process_group then left
        # gloo's threads running into interpreter teardown, where a rank could abort
        # ("terminate called without an active exception"). Imported first, they hold none.
        import torch._dynamo  # noqa: F401

        dist.init_process_group(backend, timeout=TIMEOUT)
        atexit.register(_end)
        _joined = Group(device, dist.get_rank(), dist.get_world_size(), backend)
    return _joined
