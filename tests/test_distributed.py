"""Training under torchrun: two CPU processes (gloo) train one model, rank 0 writes an archive
that a single process decodes."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import mdlzip
from mdlzip.methods import neural
from mdlzip.train.distributed import Group
from mdlzip.train.plan import plan_for
from mdlzip.train.trainer import train

from conftest import assert_one_line_error

DATA = bytes(range(256)) + b"the quick brown fox jumps over the lazy dog. " * 60
# Five windows a step: the ranks' shares are unequal (2 and 3), so the weighting of their losses
# counts. A dense model (no pruning), kept even where the side models alone would be smaller: the
# decoder runs the very model the two processes trained.
SETTINGS = {
    "train_min": 0, "d_model": 16, "n_layer": 1, "n_head": 1, "d_ff": 16, "window": 8, "n_prev": 2,
    "steps": 20, "batch": 5, "seq_len": 32, "sparsifier": "none", "tamade": False, "empty": False, "stop_early": False,
}
# --standalone: a free port on this machine, so concurrent runs do not meet.
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


def test_shares_split_every_batch_and_their_parts_sum_to_its_mean():
    for world in (1, 2, 3):
        for batch in (world, 5, 8):
            groups = [Group(torch.device("cpu"), rank, world) for rank in range(world)]
            shares = [g.share(batch) for g in groups]
            assert [i for s in shares for i in range(batch)[s]] == list(range(batch))
            assert sum(float(g.part(torch.tensor(1.0), batch)) for g in groups) == pytest.approx(1.0)


def test_torchrun_compress_writes_an_archive_one_process_decodes_with_the_ranks_weights(tmp_path):
    (tmp_path / "in.txt").write_bytes(DATA)
    extra = [arg for k, v in SETTINGS.items() for arg in ("--extra", f"{k}={v}")]
    worker = Path(__file__).with_name("ddp_worker.py")
    cmd = [*TORCHRUN, str(worker), str(tmp_path), "compress", "-v", "--method", "neural", *extra, "-o", "out.mdlz", "in.txt"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "2 processes (gloo) share each batch" in proc.stderr
    assert "the 2 processes ended training with identical weights" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("threads")) == ["in.txt", "out.mdlz", "rank0.pt", "rank1.pt"]  # rank 1 wrote no archive
    # Training ended the group for good: no gloo thread runs into interpreter teardown, where
    # it could abort the process.
    for rank in (0, 1):
        left = (tmp_path / f"threads{rank}.txt").read_text().split()
        assert not [name for name in left if "gloo" in name], (rank, left)
    archive = (tmp_path / "out.mdlz").read_bytes()
    facts = mdlzip.info(archive)
    assert facts["method"] == "neural" and facts["train_steps"] == 20 and facts["params_nonzero"] > 0
    assert mdlzip.decompress(archive) == DATA
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    for name in ranks[0]:
        assert torch.equal(ranks[0][name], ranks[1][name]), name
    # The same batches, split: one process trains the same model, up to the order of the sums.
    cfg, plan = plan_for(len(DATA), 6, extra=dict(SETTINGS))
    side = np.empty((len(DATA), 8), dtype=np.uint16)
    mdlzip.coding.data_coder.encode_uniform(DATA, 1, neural.SideConfig.for_input(len(DATA)), probs=side)
    alone = train(DATA, cfg, plan, torch.device("cpu"), side_probs=side).model.state_dict()
    for name, value in alone.items():
        close = torch.allclose(value, ranks[0][name], atol=1e-4) if value.is_floating_point() else torch.equal(value, ranks[0][name])
        assert close, name


def test_torchrun_ranks_stop_training_together_where_the_transformer_cannot_pay(tmp_path):
    """Rank 0's two-part estimate at the end of pruning decides for every rank: both stop at the
    same step, and the archive is the side models alone."""
    (tmp_path / "in.txt").write_bytes(DATA)
    settings = dict(SETTINGS, sparsifier="l1", tamade=True, empty=True, stop_early=True)
    extra = [arg for k, v in settings.items() for arg in ("--extra", f"{k}={v}")]
    cmd = [*TORCHRUN, str(Path(__file__).with_name("ddp_worker.py")), str(tmp_path), "compress", "-v", "--method", "neural", *extra, "-o", "out.mdlz", "in.txt"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "training stopped after 15 of 20 steps" in proc.stderr
    facts = mdlzip.info((tmp_path / "out.mdlz").read_bytes())
    assert facts["train_steps"] == 15 and facts["params_nonzero"] == 0 and facts["training"].startswith("stopped after 15 steps")
    assert mdlzip.decompress((tmp_path / "out.mdlz").read_bytes()) == DATA


def test_under_torchrun_compress_takes_one_named_file(run_cli, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    for args in (("-c",), ("a", "b")):
        assert_one_line_error(run_cli("compress", *args), "under torchrun, compress takes one named FILE")
