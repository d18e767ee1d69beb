"""``python -m benchmarks.mdl_curve FILE``: each sparsifier's MDL curve, model bytes against data bytes.

For each sparsifier and each penalty scale (the multiple of alpha, the measured bits per
kept weight, that prices the weights while training: 0 trains unpriced, 1 is the default
objective, 4 prices every weight four times over), FILE is compressed with the neural method
at ``--level``, keeping the trained model even where the side models alone would be smaller
(as ``benchmarks.sparsifiers`` does), so that every point is measured. By default without
TAMADE's final threshold search, which on 1 MB prunes every model to nothing whatever it was
trained with: each point is then the mask the sparsifier and the quantization step (chosen
by codelength) leave; ``--tamade`` measures the default archive's path instead. A row holds
the kept weights, the model, data and total bytes, and the side models alone of the same
commit; every archive is decoded and compared. The encoder itself still keeps whichever
candidate is smallest. Rows are saved as each run ends
(``results/mdl-curve-FILE-levelL.json``, so an interrupted run resumes where it stopped),
and the Markdown table and the plot (total bytes against kept weights, one line per
sparsifier, the side models alone as the line to beat) are rewritten each time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import mdlzip
from mdlzip.train.sparsity import NAMES

from .run import REPO, head_commit, machine, machine_line, say

RESULTS = Path(__file__).resolve().parent / "results"
SCALES = (0.0, 1.0, 4.0)


def code_digest() -> str:
    """A digest of the compressor's sources: points measured by the same code are kept on a rerun."""
    h = hashlib.sha256()
    for path in sorted(p for p in (REPO / "mdlzip").rglob("*") if p.suffix in (".py", ".c", ".h")):
        h.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def side_alone(data: bytes, level: int) -> int:
    """The archive of the side models alone (no transformer trained) at this level."""
    return len(mdlzip.compress(data, method="neural", level=level, train_min=1 << 62))


def measure(data: bytes, sparsifier: str, scale: float, level: int, ramp: float, tamade: bool, steps: int | None = None) -> dict:
    """One point: ``data`` compressed with this sparsifier and penalty scale, decoded and compared."""
    extra = {"steps": steps} if steps else {}
    extra["tamade"] = tamade
    start = time.perf_counter()
    archive = mdlzip.compress(
        data, method="neural", level=level, sparsifier=sparsifier, penalty_scale=scale, ramp=ramp, train_min=0, empty=False, **extra
    )
    seconds = time.perf_counter() - start
    if mdlzip.decompress(archive) != data:
        raise SystemExit(f"mdl_curve: {sparsifier} at scale {scale}: round trip FAILED")
    facts = mdlzip.info(archive)
    return {
        "sparsifier": sparsifier,
        "scale": scale,
        "nonzero": facts["params_nonzero"],
        "total_weights": facts["params_total"],
        "model_bytes": facts["model_bytes"],
        "data_bytes": facts["data_bytes"],
        "archive_bytes": facts["archive_bytes"],
        "compress_s": round(seconds, 1),
    }


def markdown(results: dict) -> str:
    rows = sorted(results["rows"], key=lambda r: (r["sparsifier"], r["scale"]))
    side = results["side_alone_bytes"]
    lines = [
        f"# MDL curve: {results['file']} ({results['bytes']:,} bytes), level {results['level']}",
        "",
        f"Machine: {machine_line(results['machine'])}",
        "",
        "Each row: one compression with the transformer trained at that penalty scale (alpha's multiple; "
        f"continuation ramp {results['ramp']:g} of the regularized phase"
        + (f", {results['steps']:,} training steps instead of the level's" if results.get("steps") else "")
        + "), "
        + ("then TAMADE's threshold search by codelength as in the default archive, " if results["tamade"] else
           "without TAMADE's threshold search (the mask is what the sparsifier and the quantization step chosen by codelength leave), ")
        + "the trained model kept even where it does not pay, the archive decoded and compared. "
        "`vs side models` is the archive against the side models alone "
        f"({side:,} B, same commit and level): negative is a transformer that pays for its weights.",
        "",
        "| sparsifier | penalty scale | kept weights | model bytes | data bytes | archive bytes | vs side models | compress s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        gain = (r["archive_bytes"] / side - 1) * 100
        lines.append(
            f"| {r['sparsifier']} | {r['scale']:g} | {r['nonzero']:,} / {r['total_weights']:,} | {r['model_bytes']:,} | "
            f"{r['data_bytes']:,} | {r['archive_bytes']:,} | {gain:+.2f}% | {r['compress_s']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def write_plot(path: Path, results: dict) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        say("plot skipped: matplotlib is not installed (pip install matplotlib)")
        return False
    fig, (ax_total, ax_parts) = plt.subplots(1, 2, figsize=(13, 4.8))
    for name in sorted({r["sparsifier"] for r in results["rows"]}):
        rows = sorted((r for r in results["rows"] if r["sparsifier"] == name), key=lambda r: r["nonzero"])
        xs = [max(1, r["nonzero"]) for r in rows]
        (line,) = ax_total.plot(xs, [r["archive_bytes"] for r in rows], marker="o", label=name)
        ax_parts.plot(xs, [r["data_bytes"] for r in rows], marker="o", color=line.get_color(), label=f"{name}: data")
        ax_parts.plot(xs, [r["model_bytes"] for r in rows], marker="x", linestyle=":", color=line.get_color())
    ax_total.axhline(results["side_alone_bytes"], color="black", linestyle="--", label="side models alone")
    ax_parts.axhline(results["side_alone_bytes"], color="black", linestyle="--")
    for ax, title in ((ax_total, "archive bytes"), (ax_parts, "data bytes (o) and model bytes (x, dotted)")):
        ax.set_xscale("log")
        ax.set_xlabel("kept weights (log scale; 0 drawn at 1)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    ax_parts.set_yscale("log")
    ax_total.legend(fontsize=8)
    fig.suptitle(f"{results['file']}, level {results['level']}: {machine_line(results['machine']).split(';')[0]}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.mdl_curve", description=__doc__.split("\n\n")[0])
    ap.add_argument("file", type=Path)
    ap.add_argument("--level", type=int, default=1, help="mdlzip level of every run (default 1: 21 runs of two to three minutes on 1 MB)")
    ap.add_argument("--sparsifiers", default=",".join(NAMES), help="comma-separated (default: all)")
    ap.add_argument("--scales", default=",".join(f"{s:g}" for s in SCALES), help="penalty scales, comma-separated")
    ap.add_argument("--ramp", type=float, default=0.0, help="continuation: fraction of the regularized phase the price rises over")
    ap.add_argument("--tamade", action=argparse.BooleanOptionalAction, default=False,
                    help="end with TAMADE's threshold search, as the encoder does (default: off, so that each point is the mask the sparsifier and quantization leave)")
    ap.add_argument("--steps", type=int, help="training steps of every run instead of the level's (quick looks, tests)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    if not args.file.is_file():
        print(f"mdl_curve: {args.file}: no such file", file=sys.stderr)
        return 1
    data = args.file.read_bytes()
    stem = args.out / f"mdl-curve-{args.file.name}-level{args.level}{'-tamade' if args.tamade else ''}"
    results = json.loads(stem.with_suffix(".json").read_text()) if stem.with_suffix(".json").exists() else {"rows": []}
    results.update(file=args.file.name, bytes=len(data), level=args.level, ramp=args.ramp, steps=args.steps, tamade=args.tamade, machine=machine(head_commit()))
    code = code_digest()
    if results.get("code") != code or "side_alone_bytes" not in results:
        results.update(rows=[], code=code, side_alone_bytes=side_alone(data, args.level))
    done = {(r["sparsifier"], r["scale"]) for r in results["rows"]}
    scales = [float(s) for s in args.scales.split(",")]
    for name in args.sparsifiers.split(","):
        for scale in scales + ([0.0] if name == "none" and 0.0 not in scales else []):
            # "none" has no penalty to scale: every scale would train the same model.
            if (name, scale) in done or (name == "none" and scale != 0):
                continue
            row = measure(data, name, scale, args.level, args.ramp, args.tamade, args.steps)
            say(f"{name} x{scale:g}: {row['nonzero']:,} weights, {row['archive_bytes']:,} B (side models alone {results['side_alone_bytes']:,})")
            results["rows"].append(row)
            args.out.mkdir(parents=True, exist_ok=True)
            stem.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
            stem.with_suffix(".md").write_text(markdown(results), encoding="utf-8")
            write_plot(stem.with_suffix(".png"), results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
