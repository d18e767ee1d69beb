"""``python -m benchmarks.engine``: the integer engine alone, in bytes and multiply-adds per second.

Three models in the shape mdlzip's plan gives 1 MB at the default level (d64x2):
``dense`` with every weight nonzero; ``default archive`` with as many nonzero
weights per tensor as the default enwik6 archive keeps (1,208 of 180,480, read
from results/level6-enwik6.json), at random places; ``10%`` with a tenth of
each tensor. Their values come from a random float model calibrated on the input
as training leaves one (weight steps, activation scales), so activations have
the ranges of a trained model. Each model runs the default stream count for 1 MB
over the input, the decoder's way (one step per call) and the encoder's (chunks
of steps), at each thread count; the clock starts once the attention window is
full. Multiply-adds are those the engine runs (``IntModel.multiply_adds``).

``--decode`` also times ``mdlzip decompress`` end to end on an archive built like
the default enwik6 one (the ``default archive`` model, side models on, the
input's first 1 MB), beside the same archive with the empty model (the side
models alone).

Writes NAME.json (everything) and NAME.md (the table) into the results folder.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from mdlzip import container
from mdlzip.coding import data_coder, weight_codec
from mdlzip.coding.adaptive import SideConfig
from mdlzip.methods import Encoded, neural
from mdlzip.model.config import BOS
from mdlzip.model.convert import to_integer
from mdlzip.model.float_model import ByteTransformer
from mdlzip.model.int_model import IntModel, IntWeights
from mdlzip.train.plan import model_for

from .run import DATA_DIR, DEFAULT_OUT, head_commit, machine, machine_line, say

INPUT_BYTES = 1_000_000
DEFAULT_ARCHIVE = DEFAULT_OUT / "level6-enwik6.json"
REL_STEP = 0.4  # the trainer's weight step while it prunes


def nonzeros_of_default_archive() -> dict[str, int]:
    """Nonzero weights per tensor of the default enwik6 archive, as its benchmark recorded them."""
    rows = json.loads(DEFAULT_ARCHIVE.read_text())["rows"]
    info = next(r["info"] for r in rows if r.get("info", {}).get("method") == "neural")
    return {name: t["nonzero"] for name, t in info["tensors"].items()}


def make_model(data: bytes, nonzero: dict[str, int] | float | None, seed: int = 0) -> IntWeights:
    """A calibrated random model with every weight nonzero (None), that many per tensor (dict) or
    that share of each."""
    cfg = model_for(INPUT_BYTES, 6)
    torch.manual_seed(seed)
    model = ByteTransformer(cfg)
    for name, layer in model.named_weights().items():
        size = layer.mask.numel()
        keep = size if nonzero is None else nonzero[name] if isinstance(nonzero, dict) else round(nonzero * size)
        layer.mask.view(-1)[torch.randperm(size)[keep:]] = 0
    text = torch.tensor(list(data[: 8 * 512]), dtype=torch.int64).view(8, 512)
    model.start_quantization(torch.cat([torch.full((8, cfg.n_prev), BOS), text], 1), REL_STEP)
    w = to_integer(model)
    for name, layer in model.named_weights().items():  # a kept weight that rounded to 0 counts as 1 step
        values = w.weights[name].values
        values[(layer.mask.detach().numpy() != 0) & (values == 0)] = 1
    return w


def time_engine(w: IntWeights, data: bytes, threads: int, chunk: int, steps: int) -> dict:
    """Bytes per second of ``steps`` steps of every stream, fed ``chunk`` steps per call."""
    S = neural.streams_for(INPUT_BYTES)
    engine = IntModel(w, threads)
    window = w.cfg.window
    need = S * (window + steps)
    tokens = np.frombuffer((data * math.ceil(need / len(data)))[:need], dtype=np.uint8).reshape(S, window + steps).astype(np.int32)
    state = engine.new_state(S)
    calls = [(t, min(t + chunk, window)) for t in range(0, window, chunk)], [(t, min(t + chunk, window + steps)) for t in range(window, window + steps, chunk)]
    out = {n: np.empty((S, n, 256), dtype=np.int64) for n in {b - a for part in calls for a, b in part}}  # as the coder's buffers
    for a, b in calls[0]:
        engine.run(tokens[:, a:b], state, out[b - a])
    start = time.perf_counter()
    for a, b in calls[1]:
        engine.run(tokens[:, a:b], state, out[b - a])
    seconds = time.perf_counter() - start
    per_s = S * steps / seconds
    return {"threads": threads, "chunk": chunk, "streams": S, "steps": steps, "seconds": round(seconds, 4),
            "bytes_per_s": round(per_s), "multiply_adds_per_s": round(per_s * engine.multiply_adds)}


def write_archive(path: Path, data: bytes, w: IntWeights) -> None:
    """A neural archive of ``data`` coded with ``w`` and the side models, as the default one is."""
    streams, side = neural.streams_for(len(data)), SideConfig.for_input(len(data))
    coded, _ = data_coder.encode(data, IntModel(w), streams, min(w.cfg.window, 16384 // streams), None, side)
    header = neural.Header(w.cfg, streams, side, 0, 0, 0, 0, 0, 0, 0)
    encoded = Encoded(header.to_bytes(), weight_codec.encode(w), coded)
    path.write_bytes(container.pack(neural.METHOD_ID, len(data), container.checksum(data), encoded))


def time_decode(path: Path, data: bytes) -> dict:
    """``mdlzip decompress`` as a user runs it: a fresh process, its output compared with the input."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "mdlzip", "decompress", "-c", str(path)], capture_output=True, check=True).stdout
    seconds = time.perf_counter() - start
    if out != data:
        raise SystemExit(f"engine benchmark: {path.name}: round trip FAILED")
    return {"archive_bytes": path.stat().st_size, "seconds": round(seconds, 2), "bytes_per_s": round(len(data) / seconds)}


def markdown(results: dict) -> str:
    lines = [
        "# The integer engine alone",
        "",
        f"Machine: {machine_line(results['machine'])}; the step compiled for {results['isa']}.",
        "",
        f"Input: {results['input']}; {results['streams']} streams (the default for 1 MB without side models; with them the input is one stream), d64x2 (the plan's shape at 1 MB). "
        "Decoder: one step per call; encoder: the encoder's chunks. The clock starts once the attention window is full.",
        "",
        "| model | nonzero weights | multiply-adds per byte | path | threads | bytes/s | multiply-adds/s |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for m in results["models"]:
        for r in m["runs"]:
            path = "decoder" if r["chunk"] == 1 else f"encoder ({r['chunk']} steps)"
            lines.append(
                f"| {m['model']} | {m['nonzero']:,} of {m['weights']:,} | {m['multiply_adds_per_byte']:,} | {path} | {r['threads']} | "
                f"{r['bytes_per_s'] / 1e3:,.1f} k | {r['multiply_adds_per_s'] / 1e9:.2f} G |"
            )
    if results.get("decode"):
        lines += ["", "`mdlzip decompress` end to end (a fresh process, start-up included), the input's first 1 MB:", "",
                  "| archive | archive bytes | seconds | bytes/s |", "|---|---:|---:|---:|"]
        for d in results["decode"]:
            lines.append(f"| {d['archive']} | {d['archive_bytes']:,} | {d['seconds']:.1f} | {d['bytes_per_s'] / 1e3:.1f} k |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engine", description=__doc__.split("\n\n")[0])
    parser.add_argument("file", nargs="?", type=Path, default=DATA_DIR / "enwik6", help="input (default: enwik6 beside the repository)")
    parser.add_argument("--threads", default="1,2", help="thread counts, comma-separated (default 1,2)")
    parser.add_argument("--steps", type=int, default=256, help="timed steps per run (default 256)")
    parser.add_argument("--decode", action="store_true", help="also time mdlzip decompress end to end on a default-like archive")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--name", default="engine")
    args = parser.parse_args(argv)
    if not args.file.is_file():
        print(f"engine benchmark: {args.file}: no such file", file=sys.stderr)
        return 2
    data = args.file.read_bytes()[:INPUT_BYTES]
    threads = [int(t) for t in args.threads.split(",")]
    S = neural.streams_for(INPUT_BYTES)
    encoder_chunk = 16384 // S  # as the neural method feeds it (method/neural.py)
    results = {"name": args.name, "machine": machine(head_commit()), "input": f"{args.file.name}, {len(data):,} bytes", "streams": S, "models": []}
    archive_counts = nonzeros_of_default_archive()
    for label, nonzero in (("dense", None), ("default archive", archive_counts), ("10%", 0.1)):
        w = make_model(data, nonzero)
        engine = IntModel(w, 1)
        results["isa"] = engine.isa
        row = {"model": label, "nonzero": sum(int(np.count_nonzero(q.values)) for q in w.weights.values()),
               "weights": w.cfg.n_params(), "multiply_adds_per_byte": engine.multiply_adds, "int64": engine.wide, "runs": []}
        for t in threads:
            for chunk in (1, encoder_chunk):
                row["runs"].append(time_engine(w, data, t, chunk, args.steps))
                r = row["runs"][-1]
                say(f"{label:>16} threads {t} chunk {chunk:>2}: {r['bytes_per_s'] / 1e3:8.1f} kB/s  {r['multiply_adds_per_s'] / 1e9:6.2f} G multiply-adds/s")
        results["models"].append(row)
    if args.decode:
        tmp = args.out / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        results["decode"] = []
        for label, w in (("default-like model + side models", make_model(data, archive_counts)), ("empty model (side models alone)", neural.EMPTY)):
            path = tmp / f"engine-{'empty' if w is neural.EMPTY else 'default'}.mdlz"
            write_archive(path, data, w)
            results["decode"].append({"archive": label, **time_decode(path, data)})
            say(f"decompress, {label}: {results['decode'][-1]['seconds']} s")
            path.unlink()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / f"{args.name}.md").write_text(markdown(results))
    say(f"wrote {args.out / args.name}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
