"""The compressors under test, and one measured, verified run of a compressor on a file.

Every compression and every decompression is a fresh process that reads a file
(named on its command line as users run it, or on stdin) and writes stdout to a
file, or, for an archiver that writes no stdout (zpaq), names its input and output
files itself. A small launcher starts it and reads its resource usage with ``os.wait4``,
so its CPU time and peak memory are its own, never the runner's (which holds
torch and, for the prequential estimate, models).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import importlib.util
import json
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

ENWIK_URL = "http://mattmahoney.net/dc/textdata.html"
# ru_maxrss is in KiB on Linux and in bytes on macOS.
_RSS_UNITS_PER_MIB = 1024 * 1024 if sys.platform == "darwin" else 1024
_COMPARE_CHUNK = 1 << 20
# The paths in the commands of an archiver that names its own files (zpaq writes archives, never
# stdout): the input, the archive and the restored output. They are also how the results show
# every command.
FILE, ARCHIVE, OUTPUT = "FILE", "ARCHIVE", "OUTPUT"


@dataclass(frozen=True)
class Classic:
    """A classic compressor: its command line (FILE to stdout) and, where the binary is missing, its Python binding."""

    key: str  # its name for --compressors
    label: str  # its name in the tables: the command line users know
    compress_args: tuple[str, ...]
    decompress_args: tuple[str, ...]
    install: str  # what to install when neither the binary nor the binding is there
    module: Optional[str] = None  # None: no Python binding stands in
    compress_code: str = ""  # an expression of the input bytes ``d``, with ``module`` imported
    decompress_code: str = ""
    names_files: bool = False  # the commands hold FILE, ARCHIVE and OUTPUT instead of writing stdout


_ZSTD22_PARAMS = "zstandard.ZstdCompressionParameters.from_level(22, window_log=27, enable_ldm=True)"

CLASSICS = (
    Classic("gzip", "gzip -9", ("gzip", "-9", "-c"), ("gzip", "-d", "-c"), "apt-get install gzip",
            "gzip", "gzip.compress(d, 9)", "gzip.decompress(d)"),
    Classic("bzip2", "bzip2 -9", ("bzip2", "-9", "-c"), ("bzip2", "-d", "-c"), "apt-get install bzip2",
            "bz2", "bz2.compress(d, 9)", "bz2.decompress(d)"),
    Classic("xz", "xz -9e", ("xz", "-9e", "-c"), ("xz", "-d", "-c"), "apt-get install xz-utils",
            "lzma", "lzma.compress(d, preset=9 | lzma.PRESET_EXTREME)", "lzma.decompress(d)"),
    Classic("zstd19", "zstd -19", ("zstd", "-19", "-q", "-c"), ("zstd", "-d", "-q", "-c"),
            "apt-get install zstd / pip install zstandard",
            "zstandard", "zstandard.ZstdCompressor(level=19).compress(d)", "zstandard.ZstdDecompressor().decompress(d)"),
    Classic("zstd22", "zstd --ultra -22 --long=27", ("zstd", "--ultra", "-22", "--long=27", "-q", "-c"),
            ("zstd", "-d", "--long=27", "-q", "-c"), "apt-get install zstd / pip install zstandard",
            "zstandard", f"zstandard.ZstdCompressor(compression_params={_ZSTD22_PARAMS}).compress(d)",
            "zstandard.ZstdDecompressor(max_window_size=1 << 27).decompress(d)"),
    Classic("brotli", "brotli -q 11", ("brotli", "-q", "11", "-c"), ("brotli", "-d", "-c"),
            "apt-get install brotli / pip install brotli", "brotli", "brotli.compress(d, quality=11)", "brotli.decompress(d)"),
    # zpaq stores FILE under the name given and extracts that name as OUTPUT (-to renames it).
    Classic("zpaq", "zpaq -m5", ("zpaq", "a", ARCHIVE, FILE, "-m5"), ("zpaq", "x", ARCHIVE, FILE, "-to", OUTPUT),
            "apt-get install zpaq", names_files=True),
)
KEYS = ("mdlzip", *(c.key for c in CLASSICS))


@dataclass(frozen=True)
class Entry:
    """A compressor ready to run: two commands that write stdout."""

    label: str
    compress: tuple[str, ...]
    decompress: tuple[str, ...]
    # Whether the commands take their input file as the last argument; otherwise they read stdin.
    # A tool given a file knows its size and sizes its buffers to it (zstd --long from stdin takes
    # 650 MB for any input), so the binaries are run as users run them, on files.
    file_argument: bool
    implementation: str  # "binary", "python <module>", "mdlzip" or "custom"
    version: str
    describe: Optional[tuple[str, ...]] = None  # a command that prints facts about an archive as JSON
    mdlzip_level: Optional[int] = None
    names_files: bool = False  # the commands hold FILE, ARCHIVE and OUTPUT and write no stdout


@dataclass(frozen=True)
class Skipped:
    label: str
    reason: str


def _first_line(argv: list[str]) -> str:
    """The first nonempty line a command prints (both streams), or '' where it fails."""
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    lines = (proc.stdout + proc.stderr).decode(errors="replace").splitlines()
    return next((line.strip() for line in lines if line.strip()), "")


def _package_version(name: str) -> Optional[str]:
    """The installed distribution's version; None for the standard library or a source tree run in place."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _module_version(module: str) -> str:
    return f"{module} {_package_version(module) or f'(Python {platform.python_version()})'}"


def _python_command(module: str, expression: str) -> tuple[str, ...]:
    code = f"import sys, {module}; d = sys.stdin.buffer.read(); sys.stdout.buffer.write({expression})"
    return (sys.executable, "-c", code)


def classic(c: Classic) -> Entry | Skipped:
    """The system binary where it is on PATH (what users run), else the Python binding, else skipped."""
    binary = shutil.which(c.compress_args[0])
    if binary:
        version = _first_line([binary, "--version"])
        return Entry(c.label, c.compress_args, c.decompress_args, True, "binary", version, names_files=c.names_files)
    if c.module and importlib.util.find_spec(c.module):
        return Entry(
            f"{c.label} (python {c.module})",
            _python_command(c.module, c.compress_code),
            _python_command(c.module, c.decompress_code),
            False,
            f"python {c.module}",
            _module_version(c.module),
        )
    return Skipped(c.label, f"{c.compress_args[0]} not installed ({c.install})")


def mdlzip(level: int, method: str, threads: Optional[int], git_commit: Optional[str], prior: Optional[str] = None) -> Entry | Skipped:
    """mdlzip's command line as users run it, in the interpreter running the benchmark."""
    thread_option = (f"-T{threads}",) if threads else ()
    prior_option = (f"--prior={prior}",) if prior else ()
    label = f"mdlzip -{level}" + ("" if method == "auto" else f" --method {method}") + "".join(f" {o}" for o in (*thread_option, *prior_option))
    if importlib.util.find_spec("mdlzip") is None:
        return Skipped(label, "mdlzip not installed (pip install -e . in the repository)")
    command = (sys.executable, "-m", "mdlzip")
    version = (_package_version("mdlzip") or "source tree") + (f" ({git_commit[:12]})" if git_commit else "")
    return Entry(
        label,
        (*command, "compress", "-q", "-c", f"--level={level}", f"--method={method}", *thread_option, *prior_option),
        (*command, "decompress", "-q", "-c", *thread_option, *prior_option),
        True,
        "mdlzip",
        f"mdlzip {version}",
        describe=(*command, "info", "--json"),
        mdlzip_level=level,
    )


def custom(name: str, compress: str, decompress: str) -> Entry | Skipped:
    """Any compressor given as two shell-style command lines (stdin to stdout): tools not listed here, tests."""
    compress_argv, decompress_argv = tuple(shlex.split(compress)), tuple(shlex.split(decompress))
    for argv in (compress_argv, decompress_argv):
        if not argv or shutil.which(argv[0]) is None:
            program = argv[0] if argv else "(empty command)"
            return Skipped(name, f"{program} not installed (not found on PATH)")
    return Entry(name, compress_argv, decompress_argv, False, "custom", "custom")


# Linux charges a process, until it execs, with the memory of the process it was forked from, and
# ru_maxrss keeps that. So a command is forked from this small launcher, never from the runner
# (which holds torch), and the launcher reports the command's own wait4 usage.
_LAUNCHER = """
import os, sys, time
report, argv = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        os.write(2, f"{argv[0]}: {exc.strerror}\\n".encode())
    os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(report, "w") as f:
    f.write(f"{wall} {usage.ru_utime + usage.ru_stime} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""
# A peak within this of the launcher's own share is indistinguishable from it.
_FLOOR_SLACK_MIB = 0.5


@dataclass(frozen=True)
class Usage:
    """What one child process cost."""

    wall_s: float  # from fork to exit, without the launcher's start
    cpu_s: float  # user + system
    peak_rss_mib: float
    # True where the command used less than the launcher's share, which ru_maxrss cannot see below.
    peak_rss_is_upper_bound: bool
    exit_code: int
    stderr_tail: str


def _launch(argv: tuple[str, ...], stdin, stdout, stderr) -> tuple[float, float, float, int]:
    """(wall s, CPU s, peak RSS MiB, exit code) of argv run through the launcher."""
    with tempfile.TemporaryDirectory(prefix="mdlzip-bench-usage-") as tmp:
        report = Path(tmp) / "usage"
        launcher = (sys.executable, "-I", "-S", "-c", _LAUNCHER, str(report))
        subprocess.run([*launcher, *argv], stdin=stdin, stdout=stdout, stderr=stderr, check=False)
        wall, cpu, maxrss, code = report.read_text().split()  # no report: the launcher failed, an OSError
    return float(wall), float(cpu), int(maxrss) / _RSS_UNITS_PER_MIB, int(code)


@functools.cache
def launcher_floor_mib() -> float:
    """The launcher's share in every peak, measured on a command that uses almost nothing."""
    return _launch(("true",), subprocess.DEVNULL, subprocess.DEVNULL, subprocess.DEVNULL)[2]


def measure(argv: tuple[str, ...], stdin: Optional[Path], stdout: Optional[Path]) -> Usage:
    """Run argv with stdin from a file (None: nothing) and stdout to a file (None: dropped), measuring it alone."""
    with contextlib.ExitStack() as files, tempfile.TemporaryFile() as err:
        src = files.enter_context(open(stdin, "rb")) if stdin else subprocess.DEVNULL
        dst = files.enter_context(open(stdout, "wb")) if stdout else subprocess.DEVNULL
        wall, cpu, peak, code = _launch(argv, src, dst, err)
        err.seek(0)
        lines = err.read().decode(errors="replace").strip().splitlines()
    floor = launcher_floor_mib()
    return Usage(wall, cpu, peak, peak <= floor + _FLOOR_SLACK_MIB, code, lines[-1] if lines else "")


def first_difference(a: Path, b: Path) -> Optional[int]:
    """The offset of the first byte where two files differ (the shorter one's length if one is a prefix), or None."""
    offset = 0
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            ca, cb = fa.read(_COMPARE_CHUNK), fb.read(_COMPARE_CHUNK)
            if ca != cb:
                return offset + next((i for i, (x, y) in enumerate(zip(ca, cb)) if x != y), min(len(ca), len(cb)))
            if not ca:
                return None
            offset += len(ca)


def _invocation(entry: Entry, command: tuple[str, ...], source, target, paths: dict) -> tuple[tuple[str, ...], Optional[Path | str], Optional[Path | str]]:
    """(argv, stdin, stdout) of one phase, from source to target; paths replace FILE, ARCHIVE and
    OUTPUT in the commands of an entry that names its files (no stdin, stdout dropped)."""
    if entry.names_files:
        return tuple(str(paths.get(arg, arg)) for arg in command), None, None
    if entry.file_argument:
        return (*command, str(source)), None, target
    return command, source, target


def _shown(entry: Entry, command: tuple[str, ...], source: str, target: str) -> str:
    """The command line as a user would type it."""
    argv, stdin, stdout = _invocation(entry, command, source, target, {})
    return shlex.join(argv) + (f" < {stdin}" if stdin else "") + (f" > {stdout}" if stdout else "")


def _failed(row: dict, reason: str) -> dict:
    row.update(status="failed", error=reason, round_trip=False)
    return row


def run(entry: Entry, dataset: Path, size: int) -> dict:
    """Compress, decompress and compare; the row for the results.

    A size is recorded only once the decompressed output has been compared with
    the input byte for byte.
    """
    row = {
        "compressor": entry.label,
        "implementation": entry.implementation,
        "version": entry.version,
        "compress_command": _shown(entry, entry.compress, FILE, ARCHIVE),
        "decompress_command": _shown(entry, entry.decompress, ARCHIVE, OUTPUT),
        "status": None,
        "compressed_bytes": None,
        "bits_per_byte": None,
        "round_trip": None,
    }
    with tempfile.TemporaryDirectory(prefix="mdlzip-bench-") as tmp:
        # A name with an extension: zpaq appends .zpaq to one without.
        archive, restored = Path(tmp) / "archive.out", Path(tmp) / "restored"
        paths = {FILE: dataset, ARCHIVE: archive, OUTPUT: restored}
        try:
            packed = measure(*_invocation(entry, entry.compress, dataset, archive, paths))
            row["compress"] = asdict(packed)
            if packed.exit_code != 0:
                return _failed(row, f"compress exited with status {packed.exit_code}: {packed.stderr_tail}")
            if not archive.is_file():
                return _failed(row, "compress wrote no archive")
            unpacked = measure(*_invocation(entry, entry.decompress, archive, restored, paths))
            row["decompress"] = asdict(unpacked)
        except OSError as exc:
            return _failed(row, f"could not run: {exc}")
        if unpacked.exit_code != 0:
            return _failed(row, f"round trip FAILED: decompress exited with status {unpacked.exit_code}: {unpacked.stderr_tail}")
        if not restored.is_file():
            return _failed(row, "round trip FAILED: decompress wrote no output")
        where = first_difference(dataset, restored)
        if where is not None:
            got = restored.stat().st_size
            return _failed(row, f"round trip FAILED: decoded {got} bytes differ from the {size}-byte input at byte {where}")
        if entry.describe:
            described = subprocess.run([*entry.describe, str(archive)], capture_output=True)
            if described.returncode != 0:
                return _failed(row, f"describing the archive failed: {described.stderr.decode(errors='replace').strip()}")
            row["info"] = json.loads(described.stdout)
        compressed = archive.stat().st_size
    row.update(status="ok", round_trip=True, compressed_bytes=compressed, bits_per_byte=8 * compressed / size if size else None)
    return row
