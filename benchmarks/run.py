"""``python -m benchmarks.run``: mdlzip beside the classic compressors, measured and verified.

For each dataset and compressor: compressed size, bits per byte, compress and
decompress wall and CPU time, peak memory, and a byte-for-byte round trip check.
For mdlzip also the uniform, two-part and (estimated) prequential codes. Writes
``NAME.json`` (everything, raw), ``NAME.md`` (the tables) and ``NAME.png`` (size
against compress time) into the results folder. Exit status: 0 when every run
round-tripped, 1 when any failed, 2 for a usage error or a missing dataset.
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from mdlzip.api import LEVELS, METHOD_CHOICES

from . import compressors
from .compressors import ENWIK_URL, Entry, Skipped

REPO = Path(__file__).resolve().parents[1]
# The benchmark files live beside the repository (a clone sits next to shared/), never inside it.
DATA_DIR = REPO.parent / "shared" / "data"
DEFAULT_DATASETS = ("enwik5", "enwik6", "enwik8", "enwik9")
DEFAULT_OUT = Path(__file__).resolve().parent / "results"
DEFAULT_LEVELS = (1, 6)
# Each prequential prefix gets the steps mdlzip's plan gives a file that long: below that, the
# estimate measures undertraining (at level 1, 100 steps leave a model near 4.5 bits per byte).
DEFAULT_BUDGET = 1.0
# --quick: the small file, the fastest level.
QUICK_DATASETS, QUICK_LEVELS = ("enwik5",), (1,)


class DatasetError(Exception):
    pass


def say(line: str) -> None:
    print(line, flush=True)


def warn(line: str) -> None:
    print(f"benchmarks: {line}", file=sys.stderr, flush=True)


# --- datasets ------------------------------------------------------------------------------


def where_to_get(name: str) -> str:
    """Where an enwik file comes from, or '' for other names."""
    match = re.fullmatch(r"enwik(\d)", name)
    if not match:
        return ""
    if name in ("enwik8", "enwik9"):
        return f"download {name}.zip from {ENWIK_URL} and unzip it"
    return f"it is the first 10^{match[1]} bytes of enwik8 from {ENWIK_URL}: head -c {10 ** int(match[1])} enwik8 > {name}"


def _not_found(path: Path) -> str:
    hint = where_to_get(path.name)
    return f"dataset not found: {path}" + (f" ({hint})" if hint else "")


def _files_in(folder: Path) -> list[Path]:
    """A folder stands for each regular, non-hidden file directly in it, by name."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise DatasetError(f"no files in folder {folder}")
    return files


def datasets_from(paths: list[str]) -> list[Path]:
    """The files named on the command line; any missing one stops the run before anything is measured."""
    files = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files += _files_in(path)
        elif path.is_file():
            files.append(path)
        else:
            raise DatasetError(_not_found(path))
    # Results are keyed by file name: two files of one name would share a table.
    names = [f.name for f in files]
    if len(set(names)) < len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise DatasetError(f"two datasets named {', '.join(twice)}; give each file once, under distinct names")
    return files


def default_datasets(names: tuple[str, ...]) -> list[Path]:
    """The enwik files present in DATA_DIR; each absent one is a note, all absent an error."""
    found = [DATA_DIR / name for name in names if (DATA_DIR / name).is_file()]
    for name in names:
        if not (DATA_DIR / name).is_file():
            say(f"note: {_not_found(DATA_DIR / name)}; not benchmarked")
    if not found:
        raise DatasetError(f"none of {', '.join(names)} found in {DATA_DIR}; give a file or folder to benchmark")
    return found


def sha256(path: Path) -> str:
    """The file's digest; reading it whole also puts it in the page cache before the first timed run."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# --- the machine ---------------------------------------------------------------------------


def head_commit() -> Optional[str]:
    """The commit of the mdlzip checkout measured (None outside a git checkout)."""
    return _git("rev-parse", "HEAD")


def _git(*args: str) -> Optional[str]:
    try:
        proc = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> Optional[float]:
    try:
        return round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def machine(commit: Optional[str]) -> dict:
    """What the timings depend on, and what was measured."""
    import numpy
    import torch

    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "ram_gib": _ram_gib(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        # mdlzip runs with --device auto: it trains and codes on the GPU where there is one.
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "numpy": numpy.__version__,
        "mdlzip_commit": commit,
        # Results written by earlier benchmark runs are not changes to the code measured.
        "mdlzip_tree_dirty": bool(_git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks/results")) if commit else None,
        # Other work on the machine slows every timing; this says how busy it was.
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


# --- running -------------------------------------------------------------------------------


def select(args, commit: Optional[str]) -> list[Entry | Skipped]:
    """The compressors to run, in the order of --compressors, custom ones last."""
    chosen = []
    for key in args.compressors:
        if key == "mdlzip":
            chosen += [
                compressors.mdlzip(level, args.method, args.threads, commit, prior)
                for level in args.levels
                for prior in (None, *args.prior)
            ]
        else:
            chosen.append(compressors.classic(next(c for c in compressors.CLASSICS if c.key == key)))
    chosen += [compressors.custom(*spec) for spec in args.custom]
    return chosen


def _seconds(x: float) -> str:
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}" if x >= 10 else f"{x:.2f}" if x >= 1 else f"{x:.3f}"


def _report(dataset: str, row: dict) -> None:
    if row["status"] == "ok":
        bpb = f"{row['bits_per_byte']:.3f}" if row["bits_per_byte"] is not None else "-"
        say(
            f"  {row['compressor']:<36} {row['compressed_bytes']:>13,} B  {bpb:>6} bits/byte  "
            f"compress {_seconds(row['compress']['wall_s'])} s  decompress {_seconds(row['decompress']['wall_s'])} s  round trip ok"
        )
    else:
        warn(f"{dataset}: {row['compressor']}: {row['error']}")


def _codes(name: str, size: int, path: Path, entry: Entry, row: dict, args) -> dict:
    """The Blier & Ollivier codes beside one verified mdlzip archive."""
    from . import codes  # imports torch: seconds that a usage error or a missing dataset should not wait for

    estimate, skipped = None, None
    if not args.prequential:
        skipped = "not computed (--no-prequential)"
    elif size < codes.MIN_BYTES:
        skipped = f"not computed (file under {codes.MIN_BYTES} bytes)"
    else:
        say(f"  prequential estimate for {entry.label} (not timed):")
        estimate = codes.prequential_estimate(
            path.read_bytes(), entry.mdlzip_level, args.prequential_budget, args.threads, progress=lambda s: say(f"    {s}")
        )
        say(f"    {estimate['bytes']:,.0f} B  {estimate['bits_per_byte']:.3f} bits/byte in {estimate['seconds']:.0f} s")
    return {"dataset": name, **codes.compare(size, row, estimate), "prequential_skipped": skipped}


def bench_dataset(path: Path, entries: list[Entry | Skipped], args, results: dict) -> None:
    name, size = path.name, path.stat().st_size
    results["datasets"].append({"name": name, "path": str(path.resolve()), "bytes": size, "sha256": sha256(path)})
    say(f"{name}: {size:,} bytes")
    verified_mdlzip = []
    for entry in entries:
        if isinstance(entry, Skipped):
            results["rows"].append({"dataset": name, "compressor": entry.label, "status": "skipped", "reason": entry.reason})
            continue
        row = {"dataset": name, **compressors.run(entry, path, size)}
        _report(name, row)
        results["rows"].append(row)
        if row["status"] == "ok" and entry.mdlzip_level is not None:
            verified_mdlzip.append((entry, row))
    # After the timed runs, so that the estimate's training never shares the machine with them.
    for entry, row in verified_mdlzip:
        results["codes"].append(_codes(name, size, path, entry, row, args))


# --- output --------------------------------------------------------------------------------


def machine_line(m: dict) -> str:
    gpu = f", GPU {m['gpu']}" if m["gpu"] else ", no GPU"
    commit = f", mdlzip commit {m['mdlzip_commit'][:12]}{' (uncommitted changes)' if m['mdlzip_tree_dirty'] else ''}" if m["mdlzip_commit"] else ""
    load = f"; load average at start {m['load_average_at_start'][0]:.2f}" if m["load_average_at_start"] else ""
    return (
        f"{m['cpu']}, {m['cores_available']} of {m['cores']} cores, {m['ram_gib']} GiB RAM{gpu}; {m['os']}; "
        f"Python {m['python']}, torch {m['torch']} ({m['torch_threads']} threads), numpy {m['numpy']}{commit}; {m['date']}{load}"
    )


def _usage(row: dict, key: str) -> str:
    usage = row.get(key)
    return f"{_seconds(usage['wall_s'])} / {_seconds(usage['cpu_s'])}" if usage else "—"


def _peak(row: dict) -> str:
    def one(usage: Optional[dict]) -> str:
        if usage is None:
            return "—"
        mib = usage["peak_rss_mib"]
        if usage["peak_rss_is_upper_bound"]:
            return f"≤{math.ceil(mib * 10) / 10:.1f}"
        return f"{mib:.0f}" if mib >= 10 else f"{mib:.1f}"

    return f"{one(row.get('compress'))} / {one(row.get('decompress'))}"


def _dataset_table(dataset: dict, rows: list[dict]) -> list[str]:
    ok = sorted((r for r in rows if r["status"] == "ok"), key=lambda r: r["compressed_bytes"])
    failed = [r for r in rows if r["status"] == "failed"]
    lines = [
        f"## {dataset['name']} ({dataset['bytes']:,} bytes)",
        "",
        "| compressor | bytes | bits/byte | compress s (wall / CPU) | decompress s (wall / CPU) | peak RSS MiB (c / d) | round trip |",
        "|---|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in ok:
        bpb = f"{r['bits_per_byte']:.3f}" if r["bits_per_byte"] is not None else "—"
        lines.append(f"| {r['compressor']} | {r['compressed_bytes']:,} | {bpb} | {_usage(r, 'compress')} | {_usage(r, 'decompress')} | {_peak(r)} | ✓ |")
    for r in failed:
        lines.append(f"| {r['compressor']} | — | — | {_usage(r, 'compress')} | {_usage(r, 'decompress')} | {_peak(r)} | ✗ |")
    notes = [f"- **Failed**: {r['compressor']}: {r['error']}" for r in failed]
    notes += [f"- Skipped: {r['compressor']}: {r['reason']}" for r in rows if r["status"] == "skipped"]
    return lines + [""] + notes + ([""] if notes else [])


def _codes_table(code: dict) -> list[str]:
    uniform, two, preq = code["uniform"], code["two_part"], code["prequential_estimate"]
    split = f"{two['method']}: header {two['header_bytes']:,} + model {two['model_bytes']:,} + data {two['data_bytes']:,} B, verified"
    if two["method"] != "neural":
        split += "; no model stored, --method neural shows the neural two-part code"
    lines = [
        f"### Codes of Blier & Ollivier, {code['compressor']}",
        "",
        "| code | bytes | bits/byte | what it is |",
        "|---|---:|---:|---|",
        f"| uniform | {uniform['bytes']:,} | {uniform['bits_per_byte']:.3f} | 8 bits per byte, no model |",
        f"| two-part | {two['bytes']:,} | {two['bits_per_byte']:.3f} | the mdlzip archive ({split}) |",
    ]
    if preq:
        what = (
            f"**estimate**: {len(preq['blocks'])} blocks doubling in length, the first (1/{2 ** preq['doublings']}) uniform; "
            f"ideal codelength under a dense model trained on all bytes before each block "
            f"({preq['budget']:g} × level-{preq['level']} steps)"
        )
        lines.append(f"| prequential (estimate) | {preq['bytes']:,.0f} | {preq['bits_per_byte']:.3f} | {what} |")
    else:
        lines.append(f"| prequential (estimate) | — | — | {code['prequential_skipped']} |")
    return lines + [""]


def markdown(results: dict) -> str:
    lines = [f"# mdlzip benchmark: {results['name']}", "", f"Machine: {machine_line(results['machine'])}", ""]
    for name, facts in results.get("priors", {}).items():
        lines += [f"Prior `{name}`: {facts['prior_file_bytes']:,} bytes, hash `{facts['prior']}`, not counted in the archive sizes (like a dictionary).", ""]
    for dataset in results["datasets"]:
        lines += _dataset_table(dataset, [r for r in results["rows"] if r["dataset"] == dataset["name"]])
        for code in results["codes"]:
            if code["dataset"] == dataset["name"]:
                lines += _codes_table(code)
    return "\n".join(lines)


def _crowding(points: list[tuple[float, float]]) -> list[int]:
    """For each point, how many earlier points lie within 2% of the axes' spans of it (x on a log scale)."""
    if not points:
        return []
    xs = [math.log10(x) for x, _ in points]
    ys = [y for _, y in points]
    span_x, span_y = max(xs) - min(xs) or 1.0, max(ys) - min(ys) or 1.0
    return [
        sum(abs(xs[i] - xs[j]) < 0.02 * span_x and abs(ys[i] - ys[j]) < 0.02 * span_y for j in range(i))
        for i in range(len(points))
    ]


def write_plot(path: Path, results: dict) -> bool:
    """Compressed size against compress wall time, one labelled point per compressor, one panel per dataset."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        say("plot skipped: matplotlib is not installed (pip install matplotlib)")
        return False
    datasets = results["datasets"]
    fig, axes = plt.subplots(1, len(datasets), figsize=(6.5 * len(datasets), 4.8), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        rows = [r for r in results["rows"] if r["dataset"] == dataset["name"] and r["status"] == "ok"]
        points = [(r["compress"]["wall_s"], r["compressed_bytes"]) for r in rows]
        for row, (x, y), below in zip(rows, points, _crowding(points)):
            ax.scatter([x], [y], color="tab:red" if row["implementation"] == "mdlzip" else "tab:blue")
            # Labels of points that (nearly) coincide are stacked downwards instead of overprinting.
            ax.annotate(row["compressor"], (x, y), textcoords="offset points", xytext=(5, 4 - 10 * below), fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel("compress wall time, s (log scale)")
        ax.set_ylabel("compressed bytes")
        ax.set_title(f"{dataset['name']} ({dataset['bytes']:,} bytes)")
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(machine_line(results["machine"]).split(";")[0], fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def write_results(results: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    stem = out / results["name"]
    written = [stem.with_suffix(".json"), stem.with_suffix(".md")]
    written[0].write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    written[1].write_text(markdown(results), encoding="utf-8")
    if write_plot(stem.with_suffix(".png"), results):
        written.append(stem.with_suffix(".png"))
    say("wrote " + ", ".join(str(p) for p in written))


# --- command line --------------------------------------------------------------------------


def _levels(text: str) -> tuple[int, ...]:
    try:
        levels = tuple(dict.fromkeys(int(x) for x in text.split(",")))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of levels: {text!r}") from None
    if not levels or any(level not in LEVELS for level in levels):
        raise argparse.ArgumentTypeError(f"levels are 1..9, not {text!r}")
    return levels


def _keys(text: str) -> tuple[str, ...]:
    keys = tuple(dict.fromkeys(k.strip() for k in text.split(",") if k.strip()))
    unknown = [k for k in keys if k not in compressors.KEYS]
    if unknown or not keys:
        raise argparse.ArgumentTypeError(f"unknown compressor {', '.join(unknown) or text!r} (choose from {','.join(compressors.KEYS)})")
    return keys


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Benchmark mdlzip against gzip, bzip2, xz, zstd and brotli; every size is round-trip verified.",
    )
    parser.add_argument("paths", nargs="*", help=f"files or folders (each file in a folder); default: {', '.join(DEFAULT_DATASETS)} from {DATA_DIR} where present")
    parser.add_argument("--quick", action="store_true", help="enwik5 only (or the given paths), mdlzip level 1: a few minutes")
    parser.add_argument("--levels", type=_levels, help="mdlzip levels, comma-separated (default 1,6; --quick: 1)")
    parser.add_argument("--method", choices=METHOD_CHOICES, default="auto", help="mdlzip's --method (default auto)")
    parser.add_argument(
        "--prior", action="append", default=[], metavar="PRIOR",
        help="also run each mdlzip level with --prior PRIOR (a .mdlp file or 'default'; repeatable); "
        "the prior's size is reported apart, as a dictionary's would be",
    )
    parser.add_argument("--threads", type=int, help="mdlzip's -T, also used for the prequential estimate (default: mdlzip's, all cores)")
    parser.add_argument("--compressors", type=_keys, default=compressors.KEYS, help=f"comma-separated subset of {','.join(compressors.KEYS)} (default all)")
    parser.add_argument(
        "--custom", nargs=3, action="append", default=[], metavar=("NAME", "COMPRESS", "DECOMPRESS"),
        help="also run another compressor: two shell-style commands that read stdin and write stdout (repeatable)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder (default benchmarks/results)")
    parser.add_argument("--name", help="results file name without suffix (default: quick with --quick, else benchmark)")
    parser.add_argument("--no-prequential", dest="prequential", action="store_false", help="skip the prequential estimate")
    parser.add_argument(
        "--prequential-budget", type=float, default=DEFAULT_BUDGET,
        help=f"training steps per prequential prefix, as a fraction of what mdlzip's plan gives a file that long (default {DEFAULT_BUDGET})",
    )
    args = parser.parse_args(argv)
    if args.prequential_budget <= 0:
        parser.error("--prequential-budget must be positive")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be positive")
    args.levels = args.levels or (QUICK_LEVELS if args.quick else DEFAULT_LEVELS)
    args.name = args.name or ("quick" if args.quick else "benchmark")
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    try:
        datasets = datasets_from(args.paths) if args.paths else default_datasets(QUICK_DATASETS if args.quick else DEFAULT_DATASETS)
    except DatasetError as exc:
        warn(str(exc))
        return 2
    commit = head_commit()
    entries = select(args, commit)
    for entry in entries:
        if isinstance(entry, Skipped):
            say(f"skipped: {entry.label}: {entry.reason}")
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "name")}
    results = {"name": args.name, "machine": machine(commit), "settings": settings, "datasets": [], "rows": [], "codes": []}
    if args.prior:
        from mdlzip.api import load_prior

        results["priors"] = {name: load_prior(name).describe() for name in args.prior}
    for path in datasets:
        bench_dataset(path, entries, args, results)
    write_results(results, args.out)
    failed = [r for r in results["rows"] if r["status"] == "failed"]
    if failed:
        warn(f"{len(failed)} run(s) FAILED (see the lines above); their sizes are not reported")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
