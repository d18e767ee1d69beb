"""``python -m benchmarks.train_scale FILE``: does training cost per step stay flat as the input grows?

Trains the neural method's transformer for ``--steps`` steps on the first
``--sizes`` bytes of FILE (default 1 MB and 4 MiB) at ``--level``, every size in
a fresh process, and reports per size the seconds per step of the training loop
(the median over 10-step intervals, so the once-per-run phases do not count),
the seconds of the whole run (the loop plus the once-per-run phases: the choice
of the mask and quantization, the float model's codelength measurements), the
peak RSS of that process and its minor page faults. The plan is the level's own
except for its step count, so all its phases (prelude, sparsification, mask
choice, quantization-aware training) happen within the steps given.

The side models' bit probabilities the trainer mixes with are by default random
(same shape and type as the real ones, fixed seed): their values do not change
the cost of a step, and the side models' pass over the input (a C loop, and
tables of 2^24 slots) is not what this measures. ``--side real`` runs that pass.

``--processes 1,2`` also trains each size under torchrun with that many CPU
processes sharing every batch (``mdlzip.train.distributed``); the peak RSS is then
process 0's, and each process runs ``--threads`` threads.

Writes ``benchmarks/results/NAME.json`` and ``NAME.md`` (``--name``, default
``train-scale``) with the machine and the commit.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Optional

from .run import head_commit, machine, machine_line

RESULTS = Path(__file__).resolve().parent / "results"


def measure(path: Path, size: int, steps: int, level: int, threads: int, side: str) -> Optional[dict]:
    """One size, in this process (or, under torchrun, in this group): what ``main`` runs in a child
    per size; None on the ranks other than 0."""
    import numpy as np
    import torch

    from mdlzip.coding.adaptive import SideConfig, side_bit_probs
    from mdlzip.methods.neural import streams_for
    from mdlzip.train import distributed
    from mdlzip.train.plan import plan_for
    from mdlzip.train.trainer import train

    torch.set_num_threads(threads)
    with open(path, "rb") as f:
        data = f.read(size)
    if side == "real":
        probs = side_bit_probs(data, SideConfig.for_input(len(data)))
    else:
        probs = np.random.default_rng(0).integers(1, 65536, size=(len(data), 8), dtype=np.uint16)
    cfg, plan = plan_for(len(data), level)
    plan = replace(plan, steps=steps)
    group = distributed.join(torch.device("cpu"))
    marks = []
    start, start_cpu = time.perf_counter(), time.process_time()
    train(data, cfg, plan, torch.device("cpu"), lambda step, total, info: marks.append((step, time.perf_counter(), time.process_time())), streams_for(len(data)), probs, group)
    seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    if not group.leader:
        return None
    per_step = [(t1 - t0) / (s1 - s0) for (s0, t0, _), (s1, t1, _) in zip(marks, marks[1:]) if s1 > s0]
    cpu_per_step = [(c1 - c0) / (s1 - s0) for (s0, _, c0), (s1, _, c1) in zip(marks, marks[1:]) if s1 > s0]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "bytes": len(data),
        "processes": group.world,
        "steps": steps,
        "plan_steps": plan_for(len(data), level)[1].steps,
        "model": cfg.describe(),
        "loop_s_per_step": statistics.median(per_step),
        # CPU seconds of this process: what a busy machine changes least.
        "loop_cpu_s_per_step": statistics.median(cpu_per_step),
        "run_s": seconds,
        "run_cpu_s": cpu,
        "run_s_per_step": seconds / steps,
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "minor_page_faults": usage.ru_minflt,
        "system_s": usage.ru_stime,
    }


def markdown(results: dict) -> str:
    s = results["settings"]
    lines = [
        f"# Training cost by input size: {results['name']}",
        "",
        f"Machine: {machine_line(results['machine'])}",
        "",
        f"`{s['file']}`, level {s['level']}, {s['steps']} steps, {s['threads']} torch thread(s), side-model probabilities: {s['side']}.",
        "Loop s/step: median over 10-step intervals, wall and CPU (process 0's); run s: the whole `train()` call, once-per-run phases included.",
        "",
        "| bytes | processes | loop s/step | loop CPU s/step | run s | run CPU s | run s/step | peak RSS MiB | minor page faults | system s | model |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results["rows"]:
        lines.append(
            f"| {r['bytes']:,} | {r['processes']} | {r['loop_s_per_step']:.3f} | {r['loop_cpu_s_per_step']:.3f} | {r['run_s']:.1f} | {r['run_cpu_s']:.1f} | "
            f"{r['run_s_per_step']:.3f} | {r['peak_rss_mib']:,.0f} | "
            f"{r['minor_page_faults']:,} | {r['system_s']:.1f} | {r['model']} |"
        )
    return "\n".join(lines) + "\n"


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.train_scale", description=__doc__.split("\n\n")[0])
    p.add_argument("file", type=Path)
    p.add_argument("--sizes", default="1000000,4194304", help="comma-separated prefix lengths in bytes")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--level", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--side", choices=("random", "real"), default="random")
    p.add_argument("--processes", default="1", help="comma-separated process counts (torchrun, CPU)")
    p.add_argument("--name", default="train-scale")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: measure this size in this process
    return p.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    if not args.file.is_file():
        print(f"train_scale: no such file: {args.file}", file=sys.stderr)
        return 2
    if args.one is not None:
        row = measure(args.file, args.one, args.steps, args.level, args.threads, args.side)
        if row is not None:
            print(json.dumps(row))
        return 0
    commit = head_commit()
    results = {
        "name": args.name,
        "machine": machine(commit),
        "settings": {"file": args.file.name, "steps": args.steps, "level": args.level, "threads": args.threads, "side": args.side},
        "rows": [],
    }
    for size in (int(x) for x in args.sizes.split(",")):
        for processes in (int(x) for x in args.processes.split(",")):
            # A fresh process per size: peak RSS and page faults are then that size's alone.
            launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)] if processes > 1 else [sys.executable]
            cmd = [*launch, "-m", "benchmarks.train_scale", str(args.file), "--one", str(size)]
            cmd += ["--steps", str(args.steps), "--level", str(args.level), "--threads", str(args.threads), "--side", args.side]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode:
                print(f"train_scale: {size} bytes, {processes} processes failed: {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
                return 1
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            results["rows"].append(row)
            print(f"{row['bytes']:,} bytes, {processes} processes: {row['loop_s_per_step']:.3f} s/step, run {row['run_s']:.1f} s, peak RSS {row['peak_rss_mib']:,.0f} MiB", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (args.out / f"{args.name}.md").write_text(markdown(results), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
