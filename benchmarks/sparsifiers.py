"""``python -m benchmarks.sparsifiers FILE SPARSIFIER``: one row of the sparsifier table.

Compresses FILE with the neural method at the default level as the default
archive does (the transformer trained for its mixture with the side models, coded
with them), but trains at any input size (the default trains no transformer below
8 MiB) and keeps the trained model even where the side models alone would be
smaller, so every sparsifier's model is measured; ``--alone`` codes with the
transformer alone instead (no side models: the pruned model's own two-part code).
Checks the round trip and appends the facts of ``mdlzip info`` plus the compress
time as one JSON line to ``benchmarks/results/sparsifiers.jsonl``. ``dense`` is
the baseline without sparsifier and without the threshold search. ``--table``
prints the Markdown table of every recorded row instead.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import mdlzip
from mdlzip.train.sparsity import NAMES

from .run import head_commit, machine

RESULTS = Path(__file__).resolve().parent / "results" / "sparsifiers.jsonl"
COLUMNS = "| file | side models | sparsifier | nonzero / total | model bytes (mask / values) | data bytes | total bytes | bits/byte | compress s | trained on | commit |"


def run(path: Path, sparsifier: str, device: str, threads: int | None, alone: bool) -> dict:
    data = path.read_bytes()
    settings = {"sparsifier": "none", "tamade": False} if sparsifier == "dense" else {"sparsifier": sparsifier}
    settings.update({"adaptive": False} if alone else {"empty": False})
    settings["train_min"] = 0
    start = time.perf_counter()
    archive = mdlzip.compress(data, method="neural", device=device, threads=threads, **settings)
    seconds = time.perf_counter() - start
    if mdlzip.decompress(archive, device="cpu") != data:
        raise SystemExit(f"sparsifiers: {path}: round trip FAILED")
    facts = mdlzip.info(archive)
    facts.pop("tensors", None)
    m = machine(head_commit())
    where = f"{m['cpu']}, {m['cores_available']} cores" + (f", {m['gpu']}" if device != "cpu" and m["gpu"] else ", CPU only")
    if threads:
        where += f", {threads} torch thread{'s' if threads > 1 else ''}"
    commit = (m["mdlzip_commit"] or "unknown")[:12] + (" (uncommitted changes)" if m["mdlzip_tree_dirty"] else "")
    facts.update(file=path.name, side_models=not alone, sparsifier=sparsifier, compress_s=round(seconds, 1), device=device, threads=threads, machine=where, commit=commit)
    return facts


def table(rows: list[dict]) -> str:
    lines = [COLUMNS, "|---" * (COLUMNS.count("|") - 1) + "|"]
    for r in sorted(rows, key=lambda r: (r["file"], not r["side_models"], r["machine"], r["archive_bytes"])):
        lines.append(
            f"| {r['file']} | {'mixed' if r['side_models'] else 'off'} | {r['sparsifier']} | {r['params_nonzero']:,} / {r['params_total']:,} | "
            f"{r['model_bytes']:,} ({r['mask_bytes']:,.0f} / {r['value_bytes']:,.0f}) | {r['data_bytes']:,} | "
            f"{r['archive_bytes']:,} | {r['bits_per_byte']:.3f} | {r['compress_s']:.0f} | {r['machine']} | {r['commit']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sparsifiers", description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path, nargs="?")
    parser.add_argument("sparsifier", nargs="?", choices=[*NAMES, "dense"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--alone", action="store_true", help="the transformer alone, without side models")
    parser.add_argument("--table", action="store_true", help="print the table of the recorded rows")
    args = parser.parse_args(argv)
    if args.table:
        print(table([json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]))
        return 0
    if args.file is None or args.sparsifier is None:
        parser.error("give FILE and SPARSIFIER, or --table")
    if not args.file.is_file():
        print(f"sparsifiers: {args.file}: no such file", file=sys.stderr)
        return 2
    row = run(args.file, args.sparsifier, args.device, args.threads, args.alone)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(table([row]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
