"""The ``mdlzip`` command: gzip/zstd-style file handling around the API.

Only this module prints. The file rules, as in zstd:
- ``FILE`` becomes ``FILE.mdlz``; ``-`` or no file reads stdin and writes stdout;
- the source is kept unless ``--rm``, which deletes it only after the output has
  been written, synced and read back intact, and never when writing to stdout;
- an existing file is never overwritten without ``-f``, output is never the
  input, compressed data is never written to a terminal without ``-f``;
- output goes to a temporary file in the target folder, then is renamed, so an
  error or Ctrl-C leaves no partial file;
- every error is one line ``mdlzip: FILE: reason`` on stderr; exit 1 if any
  file failed (the others are still processed), 0 otherwise.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import shutil
import stat
import sys
import tempfile
from typing import Callable, Optional

import click
from tqdm import tqdm

from . import api
from .errors import MdlzipError
from .train import distributed, sparsity  # torch-free at import: no trainer is loaded

SUFFIX = ".mdlz"
STDIO = "-"
STDIN_NAME = "stdin"


def _error(name: Optional[str], reason: str) -> None:
    prefix = f"mdlzip: {name}: " if name else "mdlzip: "
    click.echo(prefix + " ".join(reason.split()), err=True)  # always a single line


def _reason(exc: BaseException, name: str) -> str:
    """What went wrong, for the user: no traceback, whatever the exception."""
    if isinstance(exc, MdlzipError):
        return str(exc)
    if isinstance(exc, OSError):
        if exc.filename and exc.strerror and exc.filename != name:
            return f"{exc.filename}: {exc.strerror}"
        return exc.strerror or str(exc)
    if isinstance(exc, MemoryError):
        return "out of memory"
    return f"internal error: {type(exc).__name__}: {exc}"


def _display(name: str) -> str:
    return STDIN_NAME if name == STDIO else name


class _Bar:
    """The API's progress(phase, done, total, info) callback: a bar per phase on stderr where a
    terminal shows it (tqdm: rate and ETA), and with -v each note as it comes (time estimates
    must come before the wait they announce)."""

    def __init__(self, label: str, bars: bool = True, notes: bool = False):
        self.label, self.bars, self.notes = label, bars, notes
        self.phase = None
        self.bar = None

    def __call__(self, phase: str, done: int, total: int, info: dict) -> None:
        if phase == "note":
            if self.notes:
                line = f"mdlzip: {self.label}: {info['note']}"
                if self.bar is not None:
                    tqdm.write(line, file=sys.stderr)
                else:
                    click.echo(line, err=True)
            return
        if not self.bars:
            return
        if phase != self.phase:
            self.close()
            self.phase = phase
            self.bar = tqdm(total=total, desc=f"{self.label}: {phase}", leave=False, file=sys.stderr)
        self.bar.n = done
        self.bar.set_postfix(info, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@contextlib.contextmanager
def _progress(label: str, quiet: bool, verbose: bool = False):
    """The progress callback for one file: bars only where someone watches (a tty, no -q), notes with -v."""
    bars = sys.stderr.isatty()
    if quiet or not (bars or verbose):
        yield None
        return
    bar = _Bar(label, bars, verbose)
    try:
        yield bar
    finally:
        bar.close()


def _refuse_existing(target: str, force: bool) -> None:
    if not force and os.path.lexists(target):
        raise MdlzipError(f"{target} already exists (use -f to overwrite)")


def _check_target(source: str, target: str, force: bool) -> None:
    if source != STDIO and os.path.exists(target) and os.path.samefile(source, target):
        raise MdlzipError("output would overwrite the input")
    _refuse_existing(target, force)


def _read(name: str) -> bytes:
    if name == STDIO:
        return sys.stdin.buffer.read()
    if not stat.S_ISREG(os.stat(name).st_mode):
        raise MdlzipError("not a regular file")
    with open(name, "rb") as f:
        return f.read()


def _write_stdout(data: bytes) -> None:
    try:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except BrokenPipeError:
        # The reader went away (`| head`); point stdout at /dev/null so that the
        # interpreter's final flush does not print a second, multi-line error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _write_file(target: str, data: bytes, force: bool, source: str) -> None:
    """Write via a synced temporary file in the target's folder, renamed into place."""
    folder = os.path.dirname(os.path.abspath(target))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if source == STDIO:
            os.chmod(tmp, _new_file_mode())
        else:
            shutil.copystat(source, tmp)  # keep mode and times, as gzip and zstd do
        # Checked again: a slow compression leaves time for the file to appear.
        _refuse_existing(target, force)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    # The rename must be durable before --rm may delete the source.
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _convert(
    source: str,
    target: str,
    transform: Callable[[bytes], bytes],
    *,
    force: bool,
    rm: bool,
    binary_output: bool,
    check: Optional[Callable[[bytes, bytes], None]] = None,
) -> tuple[int, int]:
    """source -> transform -> target under the file rules; returns (bytes in, bytes out).

    ``check(data, result)`` must pass before ``--rm`` deletes the source.
    """
    if target == STDIO:
        if rm:
            raise MdlzipError("--rm is refused when writing to standard output")
        if binary_output and not force and sys.stdout.isatty():
            raise MdlzipError("refusing to write compressed data to a terminal (use -f to force)")
    else:
        _check_target(source, target, force)
    data = _read(source)
    result = transform(data)
    if target == STDIO:
        _write_stdout(result)
    else:
        _write_file(target, result, force, source)
    if rm and source != STDIO:
        try:
            with open(target, "rb") as f:
                if f.read() != result:
                    raise MdlzipError(f"{target} reads back differently; source kept")
            if check is not None:
                check(data, result)
        except BaseException:
            os.unlink(target)  # an output that failed verification is worse than none
            raise
        os.unlink(source)
    return len(data), len(result)


def _run(names: tuple, each: Callable[[str], None]) -> int:
    """Apply each() to every input, reporting errors one per line; the exit status."""
    status = 0
    for name in names or (STDIO,):
        try:
            each(name)
        except KeyboardInterrupt:
            _error(_display(name), "interrupted")
            return 1
        except Exception as exc:  # noqa: BLE001 - any failure becomes one line, never a traceback
            _error(_display(name), _reason(exc, name))
            status = 1
    return status


def _single_output(names: tuple, output: Optional[str], stdout: bool) -> Optional[str]:
    """The one explicit output (-o or -c), or None when each input names its own."""
    if output is not None and stdout:
        raise click.UsageError("use either -o or -c, not both")
    explicit = STDIO if stdout else output
    if output is not None and len(names) > 1:
        raise click.UsageError("-o takes a single input file")
    return explicit


def _summary(name: str, size_in: int, size_out: int) -> str:
    return f"{_display(name)}: {size_in} -> {size_out} bytes"


# Options shared by several commands.
_quiet = click.option("-q", "--quiet", is_flag=True, help="No progress bar and no messages except errors.")
_verbose = click.option("-v", "--verbose", is_flag=True, help="Report each file's sizes.")
_force = click.option("-f", "--force", is_flag=True, help="Overwrite files; write compressed data to a terminal.")
_rm = click.option("--rm", is_flag=True, help="Delete the source after a verified success.")
_stdout = click.option("-c", "--stdout", "stdout", is_flag=True, help="Write to standard output.")
_output = click.option("-o", "--output", metavar="OUT", help="Output file (single input only; - for stdout).")


def _file_options(command):
    """The options of the commands that write output: -o, -c, -f, --rm, -q, -v."""
    for option in reversed((_output, _stdout, _force, _rm, _quiet, _verbose)):
        command = option(command)
    return command


_threads = click.option(
    "-T",
    "--threads",
    type=click.IntRange(min=0),
    default=None,
    help="Work in N processes and threads (0: one per core): the blocks of a large input are coded "
    "and decoded N at a time, and training uses N threads. Default: blocks one at a time, training on all cores.",
)
_device = click.option(
    "--device", type=click.Choice(api.DEVICES), default="auto", show_default=True, help="Where torch runs."
)


_prior = click.option(
    "--prior",
    metavar="PRIOR",
    default=None,
    help="A prior file (.mdlp), or 'default' for the one shipped with mdlzip.",
)


def _settings(pairs: tuple) -> dict:
    """KEY=VALUE pairs, each value a Python literal or else a string."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.UsageError(f"--extra takes KEY=VALUE, not {pair!r}")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def _torch_threads(threads: Optional[int]) -> Optional[int]:
    return os.cpu_count() if threads == 0 else threads


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mdlzip", prog_name="mdlzip")
@click.pass_context
def cli(ctx: click.Context) -> int:
    """Lossless compression by minimum description length."""
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())
    return 0


@cli.command()
@click.argument("files", nargs=-1, type=click.Path())
@_file_options
@click.option("--level", type=click.IntRange(1, 9), default=6, show_default=True, help="Effort: 1 fast .. 9 best.")
@_threads
@_device
@click.option(
    "--method",
    type=click.Choice(api.METHOD_CHOICES),
    default="auto",
    show_default=True,
    help="auto: the smallest archive among the available methods.",
)
@click.option(
    "--sparsifier",
    type=click.Choice(sparsity.NAMES),
    default=sparsity.DEFAULT,
    show_default=True,
    help="How the neural method learns which weights to keep.",
)
@click.option(
    "--adaptive/--no-adaptive",
    default=True,
    show_default=True,
    help="Mix adaptive side models (context, word and match models) into the neural method's predictions.",
)
@_prior
@click.option("--extra", multiple=True, hidden=True, metavar="KEY=VALUE", help="A method setting (tests and benchmarks): mdlzip.compress's **extra.")
def compress(files, output, stdout, force, rm, quiet, verbose, level, threads, device, method, sparsifier, adaptive, prior, extra) -> int:
    """Compress FILES to FILE.mdlz (stdin to stdout with no FILES or -).

    With --prior the neural method also tries starting from the prior; the archive
    then names the prior by its hash and needs it to decompress.
    """
    if stdout and len(files) > 1:
        raise click.UsageError("-c takes a single input file when compressing (archives do not concatenate)")
    if distributed.world_size() > 1 and (len(files) != 1 or files[0] == STDIO):
        raise click.UsageError("under torchrun, compress takes one named FILE: every process reads it")
    explicit = _single_output(files, output, stdout)
    threads = _torch_threads(threads)
    prior = _load_prior(prior)
    settings = dict(method=method, level=level, device=device, threads=threads, sparsifier=sparsifier, adaptive=adaptive, prior=prior)
    settings.update(_settings(extra))

    def check(data: bytes, archive: bytes, progress) -> None:
        if api.decompress(archive, device=device, threads=threads, progress=progress, prior=prior) != data:
            raise MdlzipError("the archive does not decode to the input; source kept")

    def each(name: str) -> None:
        if name != STDIO and name.endswith(SUFFIX) and not force:
            raise MdlzipError(f"already has the {SUFFIX} suffix (use -f to compress it again)")
        if distributed.follower():
            api.compress(_read(name), **settings)  # this rank trains its share; rank 0 writes the archive
            return
        target = explicit or (STDIO if name == STDIO else name + SUFFIX)
        with _progress(_display(name), quiet, verbose) as progress:
            sizes = _convert(
                name,
                target,
                lambda data: api.compress(data, progress=progress, **settings),
                force=force,
                rm=rm,
                binary_output=True,
                check=lambda data, archive: check(data, archive, progress),
            )
        if verbose and not quiet:
            rate = f" ({8 * sizes[1] / sizes[0]:.3f} bits/byte)" if sizes[0] else ""
            click.echo(_summary(name, *sizes) + rate, err=True)

    return _run(files, each)


@cli.command()
@click.argument("archives", nargs=-1, type=click.Path())
@_file_options
@_threads
@_device
@_prior
def decompress(archives, output, stdout, force, rm, quiet, verbose, threads, device, prior) -> int:
    """Decompress ARCHIVES (FILE.mdlz to FILE; stdin to stdout with none or -).

    An archive made with a prior finds it by hash: --prior first, then the
    folders in $MDLZIP_PRIOR_PATH, then the priors shipped with mdlzip.
    """
    explicit = _single_output(archives, output, stdout)
    threads = _torch_threads(threads)
    prior = _load_prior(prior)

    def each(name: str) -> None:
        if explicit:
            target = explicit
        elif name == STDIO:
            target = STDIO
        elif name.endswith(SUFFIX) and len(name) > len(SUFFIX):
            target = name[: -len(SUFFIX)]
        else:
            raise MdlzipError(f"unknown suffix, expected {SUFFIX} (use -o or -c to name the output)")
        with _progress(_display(name), quiet, verbose) as progress:
            sizes = _convert(
                name,
                target,
                lambda blob: api.decompress(blob, device=device, threads=threads, progress=progress, prior=prior),
                force=force,
                rm=rm,
                binary_output=False,
            )
        if verbose and not quiet:
            click.echo(_summary(name, *sizes), err=True)

    return _run(archives, each)


@cli.command("test")
@click.argument("archives", nargs=-1, type=click.Path())
@_quiet
@_verbose
@_threads
@_device
@_prior
def verify_archives(archives, quiet, verbose, threads, device, prior) -> int:
    """Decode ARCHIVES fully and verify them; write nothing. Exit 0 only if all are intact."""
    threads = _torch_threads(threads)
    prior = _load_prior(prior)

    def each(name: str) -> None:
        with _progress(_display(name), quiet, verbose) as progress:
            api.verify(_read(name), device=device, threads=threads, progress=progress, prior=prior)
        if verbose and not quiet:
            click.echo(f"{_display(name)}: OK", err=True)

    return _run(archives, each)


def _load_prior(name: Optional[str]):
    """The prior named by --prior, loaded once for all files; its errors name the prior."""
    if name is None:
        return None
    try:
        return api.load_prior(name)
    except MdlzipError as exc:
        raise MdlzipError(f"--prior {name}: {exc}") from None


def _format(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


@cli.command()
@click.argument("archive", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the facts as one JSON object.")
@_verbose
def info(archive, as_json, verbose) -> int:
    """Show an archive's method, sizes and model facts without decoding it."""

    def each(name: str) -> None:
        facts = api.info(_read(name))
        if as_json:
            _print_facts(facts, True)
            return
        # The content checksum and the per-tensor table are for the curious (-v); JSON always carries everything.
        tensors = facts.pop("tensors", None)
        block_list = facts.pop("blocks", None)
        _print_facts({k: v for k, v in facts.items() if verbose or k != "checksum"}, False)
        if block_list and len(block_list) > 1:
            click.echo(f"\n{'block':>7} {'original B':>12} {'data B':>10} {'bits/byte':>9}")
            for i, b in enumerate(block_list, 1):
                click.echo(f"{i:>7} {b['original_bytes']:>12} {b['data_bytes']:>10} {8 * b['data_bytes'] / b['original_bytes']:>9.4f}")
        if verbose and tensors:
            click.echo(f"\n{'tensor':<10} {'size':>8} {'nonzero':>8} {'mask B':>9} {'value B':>9} {'bits/nz':>8}")
            for tname, t in tensors.items():
                per = 8 * (t["mask_bytes"] + t["value_bytes"]) / t["nonzero"] if t["nonzero"] else 0.0
                click.echo(f"{tname:<10} {t['size']:>8} {t['nonzero']:>8} {t['mask_bytes']:>9.1f} {t['value_bytes']:>9.1f} {per:>8.2f}")

    return _run((archive,), each)


def _print_facts(facts: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(facts, indent=2))
        return
    width = max(len(k) for k in facts)
    for key, value in facts.items():
        click.echo(f"{key.replace('_', ' '):<{width}}  {_format(value)}")


@cli.group()
def prior() -> None:
    """Shared priors: a transformer and a priming text that archives start from."""


def _corpus(paths: tuple) -> tuple[bytes, list[str]]:
    """The files named, folders walked in sorted order; and a line per file for the description."""
    parts, lines = [], []
    for path in paths:
        if os.path.isdir(path):
            files = sorted(os.path.join(root, f) for root, _, names in os.walk(path) for f in names)
        elif os.path.exists(path):
            files = [path]
        else:
            raise MdlzipError(f"{path}: no such file or folder")
        for name in files:
            try:
                data = _read(name)
            except (OSError, MdlzipError) as exc:  # name the corpus file, not the output
                raise MdlzipError(f"{name}: {_reason(exc, name)}") from None
            parts.append(data)
            lines.append(f"{os.path.basename(name)} ({len(data)} bytes)")
    corpus = b"".join(parts)
    if not corpus:
        raise MdlzipError("the corpus is empty")
    return corpus, lines


@prior.command("train")
@click.argument("corpus", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--output", required=True, metavar="NAME.mdlp", help="The prior file to write.")
@click.option("--level", type=click.IntRange(1, 9), default=6, show_default=True, help="Training effort.")
@click.option("--description", default="", help="What the corpus is (sources, licenses); file names are added.")
@click.option("--text-bytes", type=click.IntRange(0, 1 << 26), default=None, help="Priming text size (default 12 MiB).")
@click.option(
    "--transformer/--no-transformer",
    default=True,
    show_default=True,
    help="Also train a transformer that archives may refine (else a priming text only).",
)
@_force
@_quiet
@_threads
@_device
def prior_train(corpus, output, level, description, text_bytes, transformer, force, quiet, threads, device) -> int:
    """Train a prior on CORPUS files and folders and write it to NAME.mdlp."""

    def each(name: str) -> None:
        from .methods.neural import pick_device
        from .train.prior import TEXT_BYTES, train_prior

        _refuse_existing(output, force)
        data, lines = _corpus(corpus)
        if threads is not None:
            import torch

            torch.set_num_threads(_torch_threads(threads))
        text = "\n".join(([description] if description else []) + [f"corpus: {len(data)} bytes", *lines])
        with _progress("prior", quiet) as progress:
            raw = train_prior(
                data, text, level, pick_device(device), TEXT_BYTES if text_bytes is None else text_bytes,
                (lambda step, steps, info: progress("train", step, steps, info)) if progress else None,
                transformer,
            )
        _write_file(output, raw, force, STDIO)
        if not quiet:
            click.echo(f"{output}: prior {api.load_prior(output).digest.hex()}, {len(raw)} bytes", err=True)

    return _run((output,), each)


@prior.command("info")
@click.argument("path", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the facts as one JSON object.")
def prior_info(path, as_json) -> int:
    """Show a prior's hash, size, transformer and training data."""
    return _run((path,), lambda name: _print_facts(api.load_prior(name).describe(), as_json))


def main(args: Optional[list] = None) -> None:
    """The console entry point: run a command, exit 0 on success and 1 on any error."""
    # torch's OpenMP threads spin while they wait for work; beside another busy process (two
    # compressions at once) the spinning takes the cores from the threads it waits for, and a
    # run takes many times longer. Waiting threads that sleep share the cores fairly. Set before
    # torch loads (it is read once, then), and never over the user's own setting.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        # make_context + invoke rather than cli.main(): click's main turns Ctrl-C into
        # Abort after printing a blank line, and usage errors into several lines.
        with cli.make_context("mdlzip", sys.argv[1:] if args is None else list(args)) as ctx:
            status = cli.invoke(ctx)
    except click.exceptions.Exit as exc:  # --help, --version
        status = exc.exit_code
    except click.ClickException as exc:  # usage errors: one line like all others
        _error(None, exc.format_message())
        status = 1
    except KeyboardInterrupt:
        _error(None, "interrupted")
        status = 1
    except Exception as exc:  # noqa: BLE001 - never a traceback
        _error(None, _reason(exc, ""))
        status = 1
    sys.exit(status or 0)
