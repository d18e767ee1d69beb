"""The command line: one test per file-handling rule, errors, info and test."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import mdlzip
from mdlzip import cli, container, methods
from mdlzip.methods import Encoded

from conftest import MDLZIP, assert_one_line_error, run_process, sample_text

TEXT = sample_text(30_000)


@pytest.fixture(autouse=True)
def no_neural(monkeypatch):
    """These tests pin file handling, which is the same for every method; training a
    model for each of them would only slow them down. test_neural_cli.py runs the
    command with the real neural method."""
    monkeypatch.setitem(sys.modules, "mdlzip.methods.neural", None)



@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A folder holding one input file, a.txt; the current directory during the test."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.txt").write_bytes(TEXT)
    return tmp_path


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_compress_names_the_output_and_keeps_the_source(run_cli, workdir):
    result = run_cli("compress", "a.txt")
    assert (result.code, result.out, result.err) == (0, b"", "")
    assert listing(workdir) == ["a.txt", "a.txt.mdlz"]
    assert mdlzip.decompress((workdir / "a.txt.mdlz").read_bytes()) == TEXT


def test_decompress_strips_the_suffix(run_cli, workdir):
    (workdir / "b.mdlz").write_bytes(mdlzip.compress(TEXT))
    assert run_cli("decompress", "b.mdlz").code == 0
    assert (workdir / "b").read_bytes() == TEXT
    assert (workdir / "b.mdlz").exists()


def test_output_keeps_the_source_mode(run_cli, workdir):
    os.chmod("a.txt", 0o640)
    run_cli("compress", "a.txt")
    assert os.stat("a.txt.mdlz").st_mode & 0o777 == 0o640


@pytest.mark.parametrize("command", ["compress", "decompress"])
def test_existing_output_is_never_overwritten_without_force(run_cli, workdir, command):
    archive = mdlzip.compress(TEXT)
    (workdir / "a.txt.mdlz").write_bytes(archive if command == "decompress" else b"precious")
    existing = "a.txt" if command == "decompress" else "a.txt.mdlz"
    before = (workdir / existing).read_bytes()
    source = "a.txt.mdlz" if command == "decompress" else "a.txt"

    assert_one_line_error(run_cli(command, source), f"mdlzip: {source}: {existing} already exists", "-f")
    assert (workdir / existing).read_bytes() == before
    assert listing(workdir) == ["a.txt", "a.txt.mdlz"]

    assert run_cli(command, "-f", source).code == 0
    expected = TEXT if command == "decompress" else archive
    assert (workdir / existing).read_bytes() == expected


def test_output_is_never_the_input(run_cli, workdir):
    assert_one_line_error(run_cli("compress", "-f", "-o", "a.txt", "a.txt"), "output would overwrite the input")
    os.symlink("a.txt", "link")
    assert_one_line_error(run_cli("compress", "-f", "-o", "link", "a.txt"), "output would overwrite the input")
    assert (workdir / "a.txt").read_bytes() == TEXT


def test_decompress_needs_the_suffix_or_an_output_name(run_cli, workdir):
    (workdir / "archive.bin").write_bytes(mdlzip.compress(TEXT))
    assert_one_line_error(run_cli("decompress", "archive.bin"), "archive.bin: unknown suffix", "-o")
    assert_one_line_error(run_cli("decompress", ".mdlz"), "unknown suffix")
    assert run_cli("decompress", "-o", "out.txt", "archive.bin").code == 0
    assert (workdir / "out.txt").read_bytes() == TEXT
    assert run_cli("decompress", "-c", "archive.bin").out == TEXT


def test_compressing_an_archive_again_needs_force(run_cli, workdir):
    run_cli("compress", "a.txt")
    assert_one_line_error(run_cli("compress", "a.txt.mdlz"), "already has the .mdlz suffix")
    assert run_cli("compress", "-f", "a.txt.mdlz").code == 0
    assert (workdir / "a.txt.mdlz.mdlz").exists()


@pytest.mark.parametrize("command, source, target", [("compress", "a.txt", "a.txt.mdlz"), ("decompress", "a.mdlz", "a")])
def test_rm_deletes_the_source_after_success(run_cli, workdir, command, source, target):
    (workdir / "a.mdlz").write_bytes(mdlzip.compress(TEXT))
    assert run_cli(command, "--rm", source).code == 0
    assert not (workdir / source).exists()
    restored = TEXT if command == "decompress" else mdlzip.decompress((workdir / target).read_bytes())
    assert restored == TEXT


def boom(*args, **kwargs):
    raise RuntimeError("boom")


def test_failed_compression_keeps_the_source_and_leaves_no_file(run_cli, workdir, monkeypatch):
    monkeypatch.setattr(methods.get("zstd"), "encode", boom)
    assert_one_line_error(run_cli("compress", "--rm", "a.txt"), "mdlzip: a.txt: internal error: RuntimeError: boom")
    assert listing(workdir) == ["a.txt"]


def test_rm_keeps_the_source_when_verification_fails(run_cli, workdir, monkeypatch):
    monkeypatch.setattr(cli.api, "decompress", lambda blob, **options: b"something else")
    assert_one_line_error(run_cli("compress", "--rm", "a.txt"), "does not decode to the input; source kept")
    assert listing(workdir) == ["a.txt"]  # the unverified archive is removed too


def test_rm_is_refused_with_stdout(run_cli, workdir):
    result = run_cli("compress", "--rm", "-c", "a.txt")
    assert_one_line_error(result, "--rm is refused when writing to standard output")
    assert result.out == b""
    assert listing(workdir) == ["a.txt"]


def test_stdout_mode_writes_no_file_and_keeps_the_source(run_cli, workdir):
    result = run_cli("compress", "-c", "a.txt")
    assert result.code == 0 and mdlzip.decompress(result.out) == TEXT
    assert listing(workdir) == ["a.txt"]
    assert run_cli("compress", "-o", "-", "a.txt").out == result.out


@pytest.mark.parametrize("args", [(), ("-",)])
def test_stdin_to_stdout(run_cli, workdir, args):
    packed = run_cli("compress", *args, stdin=TEXT)
    assert packed.code == 0 and packed.err == ""
    unpacked = run_cli("decompress", *args, stdin=packed.out)
    assert (unpacked.code, unpacked.out) == (0, TEXT)
    assert listing(workdir) == ["a.txt"]


def test_stdin_to_a_named_output(run_cli, workdir):
    assert run_cli("compress", "-o", "from_stdin.mdlz", stdin=TEXT).code == 0
    assert mdlzip.decompress((workdir / "from_stdin.mdlz").read_bytes()) == TEXT


def test_interrupt_while_writing_leaves_no_partial_file(run_cli, workdir, monkeypatch):
    (workdir / "b.txt").write_bytes(TEXT)

    def interrupt(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)
    result = run_cli("compress", "a.txt", "b.txt")
    assert_one_line_error(result, "mdlzip: a.txt: interrupted")
    assert listing(workdir) == ["a.txt", "b.txt"]  # no temp file, and b.txt was not started


def test_failed_rename_leaves_no_temporary_file(run_cli, workdir, monkeypatch):
    def refuse(src, dst):
        raise PermissionError(13, "Permission denied", dst)

    monkeypatch.setattr(os, "replace", refuse)
    assert_one_line_error(run_cli("compress", "a.txt"), "mdlzip: a.txt: a.txt.mdlz: Permission denied")
    assert listing(workdir) == ["a.txt"]


def test_ctrl_c_in_a_real_process_leaves_no_file(tmp_path):
    # The process says "ready" from inside its input reader, then blocks on stdin, which
    # stays open; the SIGINT therefore lands in the middle of the file's processing. Python's
    # own SIGINT handler is put back first: a shell starts background jobs with SIGINT ignored,
    # and a suite run as one would otherwise send a signal its process never sees.
    code = """if True:
        import signal
        import sys
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from mdlzip import cli
        read = cli._read
        def announce_then_read(name):
            sys.stderr.write("ready\\n")
            sys.stderr.flush()
            return read(name)
        cli._read = announce_then_read
        cli.main(["compress", "-o", "out.mdlz"])
    """
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(TEXT)
    proc.stdin.flush()
    assert proc.stderr.readline() == b"ready\n"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (1, b"mdlzip: stdin: interrupted\n")
    assert listing(tmp_path) == []


@pytest.mark.parametrize("force, code", [((), 1), (("-f",), 0)])
def test_compressed_data_is_not_written_to_a_terminal(tmp_path, force, code):
    (tmp_path / "a.txt").write_bytes(b"hello")
    main, secondary = pty.openpty()
    try:
        proc = subprocess.run(
            [*MDLZIP, "compress", *force, "-c", "a.txt"], cwd=tmp_path, stdout=secondary, stderr=subprocess.PIPE
        )
    finally:
        os.close(secondary)
        os.close(main)
    assert proc.returncode == code
    if code:
        assert proc.stderr.decode() == (
            "mdlzip: a.txt: refusing to write compressed data to a terminal (use -f to force)\n"
        )


def test_multiple_files_continue_after_an_error(run_cli, workdir):
    (workdir / "c.txt").write_bytes(b"ccc")
    result = run_cli("compress", "a.txt", "missing.txt", "c.txt")
    assert_one_line_error(result, "mdlzip: missing.txt: No such file or directory")
    assert listing(workdir) == ["a.txt", "a.txt.mdlz", "c.txt", "c.txt.mdlz"]


def test_a_directory_is_not_compressed(run_cli, workdir):
    os.mkdir("folder")
    assert_one_line_error(run_cli("compress", "folder"), "mdlzip: folder: not a regular file")


@pytest.mark.parametrize(
    "args, words",
    [
        (("compress", "-o", "x", "a.txt", "a.txt"), "-o takes a single input"),
        (("compress", "-c", "a.txt", "a.txt"), "-c takes a single input"),
        (("compress", "-c", "-o", "x", "a.txt"), "either -o or -c"),
        (("compress", "--level", "0", "a.txt"), "--level"),
        (("compress", "-T", "-1", "a.txt"), "--threads"),
        (("compress", "--method", "lzma", "a.txt"), "--method"),
        (("compress", "--bogus", "a.txt"), "--bogus"),
        (("frobnicate",), "frobnicate"),
        (("info",), "ARCHIVE"),
    ],
)
def test_usage_errors_are_one_line(run_cli, workdir, args, words):
    assert_one_line_error(run_cli(*args), words)
    assert listing(workdir) == ["a.txt"]


def test_neural_missing_is_one_line(run_cli, workdir, monkeypatch):
    monkeypatch.setitem(sys.modules, "mdlzip.methods.neural", None)
    assert_one_line_error(run_cli("compress", "--method", "neural", "a.txt"), "method 'neural' is not available")
    assert listing(workdir) == ["a.txt"]


def test_verbose_reports_sizes_and_quiet_silences(run_cli, workdir):
    result = run_cli("compress", "-v", "a.txt")
    size = os.path.getsize("a.txt.mdlz")
    assert result.err == f"a.txt: {len(TEXT)} -> {size} bytes ({8 * size / len(TEXT):.3f} bits/byte)\n"
    assert run_cli("decompress", "-v", "-o", "back", "a.txt.mdlz").err == f"a.txt.mdlz: {size} -> {len(TEXT)} bytes\n"
    assert run_cli("compress", "-q", "-v", "-f", "a.txt").err == ""


@pytest.mark.parametrize("data", [b"", b"x", TEXT, bytes(range(256)) * 100])
def test_info_json_sections_sum_to_the_file_size(run_cli, workdir, data):
    (workdir / "in").write_bytes(data)
    assert run_cli("compress", "in").code == 0
    result = run_cli("info", "--json", "in.mdlz")
    facts = json.loads(result.out)
    assert facts["header_bytes"] + facts["model_bytes"] + facts["data_bytes"] == os.path.getsize("in.mdlz")
    assert facts["archive_bytes"] == os.path.getsize("in.mdlz")
    assert facts["original_bytes"] == len(data)


def test_info_table(run_cli, workdir):
    run_cli("compress", "a.txt")
    facts = mdlzip.info((workdir / "a.txt.mdlz").read_bytes())
    table = run_cli("info", "a.txt.mdlz").out.decode()
    assert "method          zstd\n" in table
    assert f"archive bytes   {facts['archive_bytes']}\n" in table
    assert "params total    -\n" in table
    assert "checksum" not in table
    assert f"checksum        {facts['checksum']}\n" in run_cli("info", "-v", "a.txt.mdlz").out.decode()


def test_method_xz(run_cli, workdir):
    assert run_cli("compress", "--method", "xz", "a.txt").code == 0
    assert json.loads(run_cli("info", "--json", "a.txt.mdlz").out)["method"] == "xz"
    assert run_cli("decompress", "-o", "back", "a.txt.mdlz").code == 0
    assert (workdir / "back").read_bytes() == TEXT


def test_a_damaged_xz_stream_is_one_line(run_cli, workdir):
    # The container's CRC32 is right, so the damage reaches the xz decoder (or the content checksum).
    method, length, checksum, encoded = container.unpack(mdlzip.compress(TEXT, method="xz"))
    stream = encoded.data
    for i, data in enumerate((stream[:-20], stream[:100] + bytes([stream[100] ^ 1]) + stream[101:])):
        (workdir / f"bad{i}.mdlz").write_bytes(container.pack(method, length, checksum, Encoded(data=data)))
        assert_one_line_error(run_cli("decompress", f"bad{i}.mdlz"), f"mdlzip: bad{i}.mdlz: corrupt archive")
    assert listing(workdir) == ["a.txt", "bad0.mdlz", "bad1.mdlz"]


def test_info_rejects_a_damaged_archive(run_cli, workdir):
    (workdir / "bad.mdlz").write_bytes(mdlzip.compress(TEXT)[:-1])
    assert_one_line_error(run_cli("info", "bad.mdlz"), "mdlzip: bad.mdlz: ")


def test_test_command(run_cli, workdir):
    archive = mdlzip.compress(TEXT)
    (workdir / "good.mdlz").write_bytes(archive)
    (workdir / "bad.mdlz").write_bytes(archive[:100] + bytes([archive[100] ^ 4]) + archive[101:])
    assert run_cli("test", "good.mdlz") == run_cli("test", "good.mdlz")  # repeatable, writes nothing
    assert (run_cli("test", "good.mdlz").code, run_cli("test", "good.mdlz").err) == (0, "")
    assert run_cli("test", "-v", "good.mdlz").err == "good.mdlz: OK\n"
    assert_one_line_error(run_cli("test", "good.mdlz", "bad.mdlz"), "mdlzip: bad.mdlz: ", "CRC32")
    assert listing(workdir) == ["a.txt", "bad.mdlz", "good.mdlz"]


def test_progress_bar_only_on_a_terminal_and_not_quiet(monkeypatch):
    with cli._progress("f", quiet=False) as progress:
        assert progress is None  # stderr is not a terminal under pytest
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    with cli._progress("f", quiet=True) as progress:
        assert progress is None
    with cli._progress("f", quiet=False) as progress:
        assert isinstance(progress, cli._Bar)


def test_progress_bar_follows_the_phases(capsys):
    bar = cli._Bar("a.txt")
    bar("train", 3, 10, {"bpb": 2.5})
    bar("encode", 5, 5, {})
    bar.close()
    shown = capsys.readouterr().err
    assert "a.txt: train" in shown and "bpb=2.5" in shown and "a.txt: encode" in shown


def test_notes_show_as_they_come_with_verbose_and_never_as_a_bar(capsys):
    bar = cli._Bar("a.txt", bars=False, notes=True)
    bar("note", 0, 0, {"note": "train: about 3 min to go"})
    bar("train", 1, 10, {})  # no terminal: no bar
    assert capsys.readouterr().err == "mdlzip: a.txt: train: about 3 min to go\n"
    bar = cli._Bar("a.txt", bars=True, notes=False)
    bar("note", 0, 0, {"note": "not shown without -v"})
    bar.close()
    assert capsys.readouterr().err == ""


def test_broken_pipe_is_one_line(tmp_path):
    (tmp_path / "big.mdlz").write_bytes(mdlzip.compress(b"x" * 5_000_000))
    proc = subprocess.Popen([*MDLZIP, "decompress", "-c", "big.mdlz"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader goes away before anything is written
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert err.decode() == "mdlzip: big.mdlz: Broken pipe\n"


def test_console_script_and_module_entry_points(tmp_path):
    script = Path(sys.executable).parent / "mdlzip"
    version = subprocess.run([script, "--version"], capture_output=True, text=True, check=True).stdout
    assert version.startswith("mdlzip, version ")
    assert run_process("--version").out.decode() == version


@pytest.mark.parametrize("preset,expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_waiting_threads_sleep_unless_the_user_says_otherwise(run_cli, monkeypatch, preset, expected):
    """Spinning OpenMP waiters make concurrent mdlzip runs take many times longer (benchmarks/concurrent.py)."""
    if preset is None:
        monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    else:
        monkeypatch.setenv("OMP_WAIT_POLICY", preset)
    assert run_cli("--version").code == 0
    assert os.environ["OMP_WAIT_POLICY"] == expected
