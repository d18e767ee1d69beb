"""Run by tests/test_distributed.py under torchrun: ``mdlzip compress`` as ``-m mdlzip`` runs it,
each rank also saving the weights its training ended with.

``ddp_worker.py OUT ARGS...``: runs the command line with ARGS in OUT and writes this rank's
trained state dict to OUT/rank{RANK}.pt, and the names of the threads still running when the
command has ended to OUT/threads{RANK}.txt (Linux names them in /proc).
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
    try:
        cli.main(args)
    finally:
        tasks = "/proc/self/task"
        names = sorted(open(f"{tasks}/{t}/comm").read().strip() for t in os.listdir(tasks)) if os.path.isdir(tasks) else []
        with open(f"threads{os.environ['RANK']}.txt", "w") as f:
            f.write("\n".join(names))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
