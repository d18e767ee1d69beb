"""``python -m benchmarks.large``: mdlzip on large inputs beside xz -9e and zstd -19 --long.

For each FILE[:LEVEL] (default: ``../shared/data/linux-16MiB:6`` and
``linux-64MiB:1``, which ``python -m benchmarks.data`` builds) it runs, each as a
fresh process on the file as users run it:

- ``mdlzip compress -v -T N --level LEVEL`` (``--threads``, default 2), then
  ``mdlzip decompress -T 1`` and ``-T N``, each output compared with the input
  byte for byte;
- ``xz -9e -T1`` and ``zstd -19 --long=27``, compressed and decompressed alike.

Per run: the archive's bytes and bits per byte, and per phase the wall and CPU
seconds (user + system, the workers included), the peak RSS of the largest process
and the peak of the sum over the process and its workers (sampled every 0.2 s, so a
lower bound), with mdlzip's block count, its notes' peak per block process, and the
speed-up of decoding with N processes over one. ``--extra KEY=VALUE`` passes a
setting to mdlzip compress (``block_size=N`` forces smaller blocks on a small file).

Writes ``benchmarks/results/NAME.json`` and ``NAME.md`` (``--name``, default
``large``) with the machine and the commit. Exit status 1 when anything failed or
did not round-trip, 2 for a missing file.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from .compressors import _LAUNCHER, _RSS_UNITS_PER_MIB, first_difference
from .run import DATA_DIR, head_commit, machine, machine_line

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_RUNS = (f"{DATA_DIR / 'linux-16MiB'}:6", f"{DATA_DIR / 'linux-64MiB'}:1")
SAMPLE_S = 0.2
MDLZIP = (sys.executable, "-m", "mdlzip")
CLASSICS = {
    "xz -9e": (("xz", "-9e", "-T1", "-c"), ("xz", "-d", "-c")),
    "zstd -19 --long": (("zstd", "-19", "--long=27", "-q", "-c"), ("zstd", "-d", "--long=27", "-q", "-c")),
}
_WORKER_PEAK = re.compile(r"peak memory of (?:a process coding blocks:|one) ([\d,]+) MiB")


def _tree_rss_mib(root: int) -> float:
    """The resident memory of a process and all its descendants now, from /proc."""
    parents, rss = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    tree, frontier = {root}, [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier and pid not in tree]
        tree.update(frontier)
    return sum(rss.get(pid, 0) for pid in tree) / 2**20


def measure(argv: list[str], stdout: Optional[Path]) -> dict:
    """Run argv (stdout to a file), through the launcher of benchmarks.compressors so that its usage is
    its own, sampling the memory of its process tree meanwhile."""
    with tempfile.TemporaryDirectory(prefix="mdlzip-large-") as tmp, tempfile.TemporaryFile() as err:
        report = Path(tmp) / "usage"
        with open(stdout, "wb") if stdout else open(os.devnull, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", _LAUNCHER, str(report), *argv], stdin=subprocess.DEVNULL, stdout=out, stderr=err)
            tree_peak = 0.0
            while proc.poll() is None:
                tree_peak = max(tree_peak, _tree_rss_mib(proc.pid))
                time.sleep(SAMPLE_S)
        wall, cpu, maxrss, code = report.read_text().split()
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    return {
        "wall_s": float(wall),
        "cpu_s": float(cpu),
        "peak_rss_mib": int(maxrss) / _RSS_UNITS_PER_MIB,
        "peak_tree_rss_mib": tree_peak,
        "exit_code": int(code),
        "stderr": stderr,
    }


def _verified(row: dict, phase: str, usage: dict, original: Path, restored: Optional[Path] = None) -> bool:
    """Records a phase's usage; whether it succeeded and, for a decompression, gave back the original."""
    row[phase] = {k: v for k, v in usage.items() if k != "stderr"}
    if usage["exit_code"] != 0:
        row["error"] = f"{phase} exited with status {usage['exit_code']}: {usage['stderr'].strip().splitlines()[-1:]}"
        return False
    if restored and first_difference(original, restored) is not None:
        row["error"] = f"{phase}: round trip FAILED"
        return False
    return True


def run_mdlzip(path: Path, level: int, method: str, threads: int, extra: list[str], tmp: Path) -> dict:
    archive, restored = tmp / "archive.mdlz", tmp / "restored"
    settings = [f"--level={level}", f"--method={method}", f"-T{threads}", *(f"--extra={e}" for e in extra)]
    row = {"compressor": f"mdlzip -{level}" + ("" if method == "auto" else f" --method {method}") + f" -T{threads}", "status": "failed"}
    packed = measure([*MDLZIP, "compress", "-v", "-c", *settings, str(path)], archive)
    if not _verified(row, "compress", packed, path):
        return row
    facts = json.loads(subprocess.run([*MDLZIP, "info", "--json", str(archive)], capture_output=True, check=True).stdout)
    row["info"] = {k: facts.get(k) for k in ("method", "block_count", "side_models", "params_nonzero", "train_steps", "training", "trained_model_candidate_bytes", "side_models_alone_candidate_bytes")}
    row["compress_block_process_peak_mib"] = _note_peak(packed["stderr"])
    for workers in sorted({1, threads}):
        unpacked = measure([*MDLZIP, "decompress", "-v", "-c", f"-T{workers}", str(archive)], restored)
        if not _verified(row, f"decompress_T{workers}", unpacked, path, restored):
            return row
        row[f"decompress_T{workers}"]["block_process_peak_mib"] = _note_peak(unpacked["stderr"])
    row["decode_speedup"] = row["decompress_T1"]["wall_s"] / row[f"decompress_T{threads}"]["wall_s"]
    row.update(status="ok", compressed_bytes=archive.stat().st_size)
    return row


def _note_peak(stderr: str) -> Optional[float]:
    """The peak RSS of a block process that mdlzip -v noted (none for one block)."""
    found = _WORKER_PEAK.findall(stderr)
    return max(float(x.replace(",", "")) for x in found) if found else None


def run_classic(label: str, path: Path, tmp: Path) -> dict:
    compress, decompress = CLASSICS[label]
    row = {"compressor": label, "status": "failed"}
    if shutil.which(compress[0]) is None:
        row.update(status="skipped", error=f"{compress[0]} is not installed")
        return row
    archive, restored = tmp / "archive.classic", tmp / "restored"
    if _verified(row, "compress", measure([*compress, str(path)], archive), path) and _verified(
        row, "decompress_T1", measure([*decompress, str(archive)], restored), path, restored
    ):
        row.update(status="ok", compressed_bytes=archive.stat().st_size)
    return row


def _phase(row: dict, key: str) -> str:
    p = row.get(key)
    if not p:
        return "– | – | – | –"
    return f"{p['wall_s']:,.1f} | {p['cpu_s']:,.1f} | {p['peak_rss_mib']:,.0f} | {p['peak_tree_rss_mib']:,.0f}"


def markdown(results: dict) -> str:
    lines = [f"# Large inputs: {results['name']}", "", f"Machine: {machine_line(results['machine'])}", ""]
    if results.get("extra"):
        lines += ["mdlzip compress settings: " + ", ".join(f"`--extra {e}`" for e in results["extra"]), ""]
    lines += [
        "Seconds: wall and CPU (user + system, worker processes included). Peak RSS MiB: of the largest",
        "process, and of the process with its workers together (sampled, a lower bound). d T1 / d TN:",
        f"decompression in one process and in {results['threads']}. Every archive decoded and compared with the input.",
        "",
    ]
    for f in results["files"]:
        lines += [
            f"## {f['file']}: {f['bytes']:,} bytes, mdlzip level {f['level']}",
            "",
            "| compressor | bytes | bits/byte | c wall s | c CPU s | c RSS | c RSS all | d T1 wall s | d T1 CPU s | d T1 RSS | d T1 RSS all "
            "| d TN wall s | d TN CPU s | d TN RSS | d TN RSS all | d speed-up | blocks |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in f["rows"]:
            if r["status"] != "ok":
                lines.append(f"| {r['compressor']} | {r['status']}: {r.get('error', '')} |" + " |" * 15)
                continue
            threads = f"decompress_T{results['threads']}" if r["compressor"].startswith("mdlzip") else None
            speedup = f"{r['decode_speedup']:.2f}" if "decode_speedup" in r else "–"
            blocks = (r.get("info") or {}).get("block_count") or "–"
            lines.append(
                f"| {r['compressor']} | {r['compressed_bytes']:,} | {8 * r['compressed_bytes'] / f['bytes']:.3f} | {_phase(r, 'compress')} "
                f"| {_phase(r, 'decompress_T1')} | {_phase(r, threads)} | {speedup} | {blocks} |"
            )
        for r in f["rows"]:
            info = r.get("info") or {}
            if r["status"] == "ok" and "trained_model_candidate_bytes" in info:
                trained = info["trained_model_candidate_bytes"]
                model = f"trained model candidate {trained:,} B ({info['params_nonzero']:,} nonzero weights)" if trained else "no trained model candidate"
                training = f"; training {info['training']}" if info.get("training") else ""
                lines += ["", f"{r['compressor']}: {model}, side models alone {info['side_models_alone_candidate_bytes'] or 0:,} B{training}"]
        lines.append("")
    return "\n".join(lines)


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.large", description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="*", default=list(DEFAULT_RUNS), metavar="FILE[:LEVEL]", help="default: linux-16MiB at 6, linux-64MiB at 1")
    p.add_argument("--method", default="auto", help="mdlzip's --method")
    p.add_argument("--threads", type=int, default=2, help="mdlzip's -T for compression and the parallel decompression")
    p.add_argument("--extra", action="append", default=[], metavar="KEY=VALUE", help="a setting for mdlzip compress (e.g. block_size=N)")
    p.add_argument("--name", default="large")
    p.add_argument("--out", type=Path, default=RESULTS)
    return p.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    runs = []
    for spec in args.runs:
        name, _, level = spec.rpartition(":") if re.search(r":\d$", spec) else (spec, "", "6")
        path = Path(name)
        if not path.is_file():
            print(f"large: no such file: {path} (python -m benchmarks.data {DATA_DIR} builds the Linux slices)", file=sys.stderr)
            return 2
        runs.append((path, int(level)))
    results = {"name": args.name, "machine": machine(head_commit()), "method": args.method, "threads": args.threads, "extra": args.extra, "files": []}
    failed = False
    for path, level in runs:
        with tempfile.TemporaryDirectory(prefix="mdlzip-large-") as tmp:
            rows = [run_mdlzip(path, level, args.method, args.threads, args.extra, Path(tmp)), *(run_classic(label, path, Path(tmp)) for label in CLASSICS)]
        for r in rows:
            failed |= r["status"] == "failed"
            print(f"{path.name}: {r['compressor']}: {r['status']} {r.get('compressed_bytes', r.get('error', ''))}", file=sys.stderr)
        results["files"].append({"file": path.name, "bytes": path.stat().st_size, "level": level, "rows": rows})
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (args.out / f"{args.name}.md").write_text(markdown(results), encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
