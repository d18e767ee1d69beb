"""``python -m benchmarks.concurrent``: two compressions started together against one alone.

Users run several compressors at once (``xargs -P``, ``make -j``). Each mdlzip
process uses every core, so two of them oversubscribe the machine; this measures
what that costs. It compresses FILE once alone, then twice at the same moment,
each a fresh process, and reports each wall time and the ratio of the slower of
the pair to the one alone (2 on a machine whose cores the single run kept busy,
1 where it left half of them idle).

``--how cli`` runs the ``mdlzip`` command as a user does; ``--how api`` runs
``mdlzip.compress`` from a Python program, which keeps torch's own thread
settings (the library sets no environment for its caller): the two show what the
command's defaults change. Appends one JSON line per run to
results/concurrent.jsonl (``--results``) and prints its Markdown table row.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from .run import DATA_DIR, DEFAULT_OUT, head_commit, machine, machine_line, say

RESULTS = DEFAULT_OUT / "concurrent.jsonl"
COLUMNS = "| file | level | how | alone s | together s (each) | slower / alone | machine | commit |"


def command(how: str, path: Path, level: int) -> list[str]:
    if how == "cli":
        return [sys.executable, "-m", "mdlzip", "compress", "-q", "-c", f"--level={level}", str(path)]
    program = f"import sys, mdlzip; sys.stdout.buffer.write(mdlzip.compress(open({str(path)!r}, 'rb').read(), level={level}))"
    return [sys.executable, "-c", program]


def run_together(argv: list[str], n: int) -> list[float]:
    """Wall seconds of n copies of argv started at the same moment."""
    start = time.perf_counter()
    procs = [subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(n)]
    seconds = [0.0] * n
    pending = set(range(n))
    while pending:
        for i in list(pending):
            if procs[i].poll() is not None:
                seconds[i] = time.perf_counter() - start
                pending.discard(i)
        time.sleep(0.05)
    for p in procs:
        if p.returncode:
            raise SystemExit(f"concurrent: {' '.join(argv)} failed: {p.stderr.read().decode(errors='replace').strip()}")
    return seconds


def table(rows: list[dict]) -> str:
    lines = [COLUMNS, "|---" * (COLUMNS.count("|") - 1) + "|"]
    for r in rows:
        together = " / ".join(f"{s:.1f}" for s in r["together_s"])
        lines.append(
            f"| {r['file']} | {r['level']} | {r['how']} | {r['alone_s']:.1f} | {together} | {r['ratio']:.2f} | {r['machine']} | {r['commit']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.concurrent", description=__doc__.split("\n\n")[0])
    parser.add_argument("file", nargs="?", type=Path, default=DATA_DIR / "enwik5", help="input (default: enwik5 beside the repository)")
    parser.add_argument("--level", type=int, default=6, help="mdlzip level (default 6)")
    parser.add_argument("--how", choices=("cli", "api"), default="cli", help="the mdlzip command (default) or the Python API")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the JSON lines file to append to (default results/concurrent.jsonl)")
    parser.add_argument("--table", action="store_true", help="only print the table of the recorded runs")
    args = parser.parse_args(argv)
    if args.table:
        print(table([json.loads(line) for line in args.results.read_text().splitlines() if line.strip()]))
        return 0
    if not args.file.is_file():
        print(f"concurrent: {args.file}: no such file", file=sys.stderr)
        return 2
    argv_ = command(args.how, args.file, args.level)
    m = machine(head_commit())
    alone = run_together(argv_, 1)[0]
    say(f"alone: {alone:.1f} s")
    together = run_together(argv_, 2)
    say(f"together: {', '.join(f'{s:.1f}' for s in together)} s")
    row = {
        "file": args.file.name, "level": args.level, "how": args.how, "alone_s": round(alone, 3),
        "together_s": [round(s, 3) for s in together], "ratio": round(max(together) / alone, 3),
        "machine": machine_line(m).split(";")[0] + f"; load average at start {m['load_average_at_start'][0]:.2f}",
        "commit": (m["mdlzip_commit"] or "unknown")[:12] + (" (uncommitted changes)" if m["mdlzip_tree_dirty"] else ""),
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    with args.results.open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(table([row]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
