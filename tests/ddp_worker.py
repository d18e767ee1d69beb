"""Run by tests/test_distributed.py under torchrun: ``mdlzip compress`` as ``-m mdlzip`` runs it,
each rank also saving the weights its training ended with.

``ddp_worker.py OUT ARGS...``: runs the command line with ARGS in OUT and writes this rank's
trained state dict to OUT/rank{RANK}.pt.
"""

import os
import sys

import torch

from mdlzip import cli
from mdlzip.train import trainer


def main(out: str, args: list[str]) -> None:
    train = trainer.train

    def train_and_save(*a, **k):
        result = train(*a, **k)
        torch.save(result.model.state_dict(), f"{out}/rank{os.environ['RANK']}.pt")
        return result

    # The neural method imports the trainer when it encodes, so it finds this one.
    trainer.train = train_and_save
    os.chdir(out)
    cli.main(args)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
