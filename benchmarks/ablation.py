"""``python -m benchmarks.ablation FILE...``: what each family of side models buys.

Codes each file with the side models alone (the empty model's archive: one
stream, table size as the archive would choose), first with every component,
then with one family switched off at a time (``cm/predictor.h``: the switches
exist for this benchmark only; archives always use every component), and checks
each round trip. The table gives the bytes and how much larger each ablated coder
is; a family whose removal costs nothing on every file does not pay for its time.
Writes ``benchmarks/results/NAME.json`` and ``NAME.md`` with the machine and commit.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

from mdlzip.coding.adaptive import SideConfig, side_coder

from .run import head_commit, machine, machine_line

FAMILIES = (
    (0, "all components"),
    (1, "orders 6 and 8"),
    (2, "text models (words, columns, shape, nesting, tags)"),
    (4, "indirect contexts"),
    (8, "sparse contexts"),
    (16, "record model"),
    (32, "match model"),
    (64, "mixer weight-set selection"),
    (128, "SSE stages"),
    (256, "image model"),
    (512, "x86 model"),
    (1024, "DMC graph"),
)
RESULTS = Path(__file__).resolve().parent / "results"


def code(data: bytes, off: int) -> tuple[int, float, float]:
    """Archive data bytes, encode and decode seconds (CPU) with the families in ``off`` switched off."""
    cfg = SideConfig.for_input(len(data))
    t0 = resource.getrusage(resource.RUSAGE_SELF).ru_utime
    enc = side_coder(cfg, [len(data)], off=off)
    enc.encode_all(data)
    raw = enc.finish()
    t1 = resource.getrusage(resource.RUSAGE_SELF).ru_utime
    if side_coder(cfg, [len(data)], raw, off=off).decode_all() != data:
        raise SystemExit(f"ablation: round trip FAILED with switches {off}")
    t2 = resource.getrusage(resource.RUSAGE_SELF).ru_utime
    return len(raw), t1 - t0, t2 - t1


def markdown(results: dict) -> str:
    files = results["files"]
    out = ["# Side models: ablation", "", f"Machine: {results['machine_line']}", ""]
    out.append("Side models alone, one stream; each row switches one family off. Bytes are the data section; "
               "+% is how much larger than with every component; decode s is CPU seconds.")
    out.append("")
    out.append("| switched off | " + " | ".join(f"{f['name']} ({f['size']:,} B)" for f in files) + " |")
    out.append("|---|" + "---:|" * len(files))
    for off, label in FAMILIES:
        cells = []
        for f in files:
            row, base = f["rows"][str(off)], f["rows"]["0"]
            extra = "" if off == 0 else f" ({100 * (row['bytes'] / base['bytes'] - 1):+.2f}%)"
            cells.append(f"{row['bytes']:,}{extra}, {row['decode_s']:.1f} s")
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.ablation", description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="+", type=Path)
    ap.add_argument("--name", default="ablation")
    args = ap.parse_args(argv)
    missing = [p for p in args.paths if not p.is_file()]
    if missing:
        print(f"ablation: not a file: {missing[0]}", file=sys.stderr)
        return 2
    commit = head_commit()
    m = machine(commit)
    results = {"machine": m, "machine_line": machine_line(m), "files": []}
    for path in args.paths:
        data = path.read_bytes()
        rows = {}
        for off, label in FAMILIES:
            size, enc_s, dec_s = code(data, off)
            rows[str(off)] = {"family_off": label, "bytes": size, "encode_s": round(enc_s, 2), "decode_s": round(dec_s, 2)}
            print(f"{path.name}: {label:<50} {size:>10,} B  encode {enc_s:6.1f} s  decode {dec_s:6.1f} s", flush=True)
        results["files"].append({"name": path.name, "size": len(data), "rows": rows})
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(results, indent=1) + "\n")
    (RESULTS / f"{args.name}.md").write_text(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
