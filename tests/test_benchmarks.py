"""The benchmark runner, run as users run it: a smoke run, a failed round trip, missing tools and datasets,
and archivers that write files instead of stdout (zpaq)."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import replace

import pytest

from conftest import REPO, sample_text

SIZE = 30_000
# Decodes to the input with its last byte flipped: a round trip that must be caught.
CORRUPT = shlex.join(
    [sys.executable, "-c", "import sys; d = sys.stdin.buffer.read(); sys.stdout.buffer.write(d[:-1] + bytes([d[-1] ^ 1]))"]
)


def bench(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.run", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "text"
    path.write_bytes(sample_text(SIZE))
    return path


def load(folder, name: str) -> dict:
    return json.loads((folder / f"{name}.json").read_text())


def test_quick_run_writes_verified_json_markdown_and_plot(text_file, tmp_path):
    out = tmp_path / "results"
    # --quick's mdlzip level and prequential estimate, on a small file with a token budget and one thread.
    result = bench("--quick", str(text_file), "--threads", "1", "--prequential-budget", "0.05", "--out", str(out), "--name", "smoke")
    assert result.returncode == 0, result.stdout + result.stderr
    results = load(out, "smoke")

    assert results["datasets"] == [{"name": "text", "path": str(text_file.resolve()), "bytes": SIZE, "sha256": results["datasets"][0]["sha256"]}]
    assert {"cpu", "cores", "ram_gib", "os", "python", "torch", "numpy", "date"} <= results["machine"].keys()
    rows = {row["compressor"]: row for row in results["rows"]}
    verified = {name: row for name, row in rows.items() if row["status"] == "ok"}
    # gzip always runs: the binary or, without it, Python's own module.
    assert "mdlzip -1 -T1" in verified and any(name.startswith("gzip -9") for name in verified)
    for row in verified.values():
        assert row["round_trip"] is True and row["compressed_bytes"] > 0
        assert row["bits_per_byte"] == pytest.approx(8 * row["compressed_bytes"] / SIZE)
        for usage in (row["compress"], row["decompress"]):
            assert usage["wall_s"] > 0 and usage["cpu_s"] >= 0 and usage["peak_rss_mib"] > 0 and usage["exit_code"] == 0
    for row in rows.values():
        assert row["status"] in ("ok", "skipped"), row
        if row["status"] == "skipped":
            assert f"skipped: {row['compressor']}: {row['reason']}" in result.stdout

    archive = verified["mdlzip -1 -T1"]
    info = archive["info"]
    assert info["header_bytes"] + info["model_bytes"] + info["data_bytes"] == archive["compressed_bytes"]

    (code,) = results["codes"]
    assert code["uniform"] == {"bytes": SIZE, "bits_per_byte": 8.0}
    assert code["two_part"]["bytes"] == archive["compressed_bytes"]
    estimate = code["prequential_estimate"]
    blocks = estimate["blocks"]
    assert [b["start"] for b in blocks] == [0] + [b["end"] for b in blocks[:-1]] and blocks[-1]["end"] == SIZE
    assert blocks[0]["bits"] == 8 * blocks[0]["end"] and blocks[0]["train_steps"] == 0
    assert all(b["bits"] > 0 and b["train_steps"] >= 1 for b in blocks[1:])
    assert estimate["bytes"] == pytest.approx(sum(b["bits"] for b in blocks) / 8)
    assert estimate["bits_per_byte"] == pytest.approx(8 * estimate["bytes"] / SIZE)

    table = (out / "smoke.md").read_text()
    assert "## text (30,000 bytes)" in table and "| mdlzip -1 -T1 |" in table and "✓" in table and "✗" not in table
    assert "| uniform | 30,000 | 8.000 |" in table and "| prequential (estimate) |" in table
    if importlib.util.find_spec("matplotlib"):
        assert (out / "smoke.png").read_bytes().startswith(b"\x89PNG")
    else:
        assert "plot skipped: matplotlib is not installed" in result.stdout and not (out / "smoke.png").exists()


def test_a_failed_round_trip_is_one_clear_line_and_fails_the_run(text_file, tmp_path):
    out = tmp_path / "results"
    result = bench(str(text_file), "--compressors", "gzip", "--custom", "corrupt", "cat", CORRUPT, "--out", str(out), "--name", "f")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"text: corrupt: round trip FAILED: decoded {SIZE} bytes differ from the {SIZE}-byte input at byte {SIZE - 1}" in result.stderr
    rows = {row["compressor"]: row for row in load(out, "f")["rows"]}
    assert rows["corrupt"]["status"] == "failed" and rows["corrupt"]["compressed_bytes"] is None
    assert all(row["status"] == "ok" for name, row in rows.items() if name != "corrupt")
    # The failed row shows no size, only the cross.
    assert "| corrupt | — | — |" in (out / "f.md").read_text()


def test_missing_tools_are_skipped_and_python_bindings_stand_in_for_binaries(text_file, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    no_binaries = {**os.environ, "PATH": str(empty)}
    out = tmp_path / "results"
    result = bench(
        str(text_file), "--compressors", "gzip,xz,zpaq", "--custom", "paq", "no-such-paq", "no-such-paq -d",
        "--out", str(out), "--name", "p", env=no_binaries,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "skipped: paq: no-such-paq not installed (not found on PATH)" in result.stdout.splitlines()
    assert "skipped: zpaq -m5: zpaq not installed (apt-get install zpaq)" in result.stdout.splitlines()  # no binding stands in
    rows = {row["compressor"]: row for row in load(out, "p")["rows"]}
    assert rows["gzip -9 (python gzip)"]["status"] == rows["xz -9e (python lzma)"]["status"] == "ok"
    assert rows["zpaq -m5"]["status"] == "skipped"
    assert rows["paq"] == {"dataset": "text", "compressor": "paq", "status": "skipped", "reason": "no-such-paq not installed (not found on PATH)"}
    assert "- Skipped: paq: no-such-paq not installed" in (out / "p.md").read_text()


@pytest.mark.parametrize("name, hint", [("enwik8", "http://mattmahoney.net/dc/textdata.html"), ("notes.txt", None)])
def test_a_missing_dataset_is_one_clear_line_before_anything_runs(tmp_path, name, hint):
    out = tmp_path / "results"
    result = bench(str(tmp_path / name), "--out", str(out))
    assert result.returncode == 2
    assert result.stderr.startswith(f"benchmarks: dataset not found: {tmp_path / name}") and result.stderr.count("\n") == 1
    if hint:
        assert hint in result.stderr
    assert not out.exists()


@pytest.fixture
def compressors(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    return importlib.import_module("benchmarks.compressors")


def test_an_archiver_that_names_its_files_is_run_and_shown_as_typed(compressors, text_file):
    # cp stands in for zpaq: it writes no stdout, only the files its command line names.
    c = compressors
    copy = c.Entry("copy", ("cp", c.FILE, c.ARCHIVE), ("cp", c.ARCHIVE, c.OUTPUT), True, "custom", "custom", names_files=True)
    row = c.run(copy, text_file, SIZE)
    assert (row["status"], row["compressed_bytes"]) == ("ok", SIZE)
    assert (row["compress_command"], row["decompress_command"]) == ("cp FILE ARCHIVE", "cp ARCHIVE OUTPUT")
    assert c.run(replace(copy, decompress=("true",)), text_file, SIZE)["error"] == "round trip FAILED: decompress wrote no output"
    assert c.run(replace(copy, compress=("true",)), text_file, SIZE)["error"] == "compress wrote no archive"


@pytest.mark.skipif(shutil.which("zpaq") is None, reason="zpaq is not installed (apt-get install zpaq)")
def test_zpaq_round_trip(text_file, tmp_path):
    out = tmp_path / "results"
    result = bench(str(text_file), "--compressors", "zpaq", "--out", str(out), "--name", "z")
    assert result.returncode == 0, result.stdout + result.stderr
    (row,) = load(out, "z")["rows"]
    assert row["status"] == "ok" and 0 < row["compressed_bytes"] < SIZE and row["version"].startswith("zpaq v")
    assert (row["compress_command"], row["decompress_command"]) == ("zpaq a ARCHIVE FILE -m5", "zpaq x ARCHIVE FILE -to OUTPUT")


def test_engine_benchmark_times_the_three_models(text_file, tmp_path):
    out = tmp_path / "results"
    args = [str(text_file), "--threads", "1", "--steps", "2", "--out", str(out)]
    result = subprocess.run([sys.executable, "-m", "benchmarks.engine", *args], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    results = load(out, "engine")
    assert [m["model"] for m in results["models"]] == ["dense", "default archive", "10%"]
    dense, archive, _ = results["models"]
    assert dense["nonzero"] == dense["weights"] == 180_480 and archive["nonzero"] < 2000
    assert archive["multiply_adds_per_byte"] < dense["multiply_adds_per_byte"] / 20
    for m in results["models"]:
        assert [(r["threads"], r["chunk"]) for r in m["runs"]] == [(1, 1), (1, 16384 // results["streams"])]
        assert all(r["bytes_per_s"] > 0 for r in m["runs"])
    assert "| dense | 180,480 of 180,480 |" in (out / "engine.md").read_text()


def test_concurrency_benchmark_records_a_row(tmp_path):
    text = tmp_path / "small"
    text.write_bytes(sample_text(2000))  # below the neural method's minimum: quick
    jsonl = tmp_path / "concurrent.jsonl"
    args = [str(text), "--level", "1", "--results", str(jsonl)]
    result = subprocess.run([sys.executable, "-m", "benchmarks.concurrent", *args], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    row = json.loads(jsonl.read_text())
    assert row["how"] == "cli" and row["alone_s"] > 0 and len(row["together_s"]) == 2
    assert row["ratio"] == pytest.approx(max(row["together_s"]) / row["alone_s"], rel=0.01)


def test_train_scale_reports_each_size_in_json_and_markdown(tmp_path):
    (tmp_path / "text").write_bytes(sample_text(40_000))
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.train_scale", str(tmp_path / "text"), "--sizes", "20000,40000", "--steps", "20", "--out", str(tmp_path), "--name", "t"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    results = load(tmp_path, "t")
    assert [(r["bytes"], r["processes"], r["steps"]) for r in results["rows"]] == [(20_000, 1, 20), (40_000, 1, 20)]
    assert all(r["loop_s_per_step"] > 0 and r["peak_rss_mib"] > 0 for r in results["rows"])
    assert "| 40,000 | 1 |" in (tmp_path / "t.md").read_text()


def test_large_input_benchmark_records_both_decodes_and_the_classics(tmp_path):
    """On 30 kB cut into three blocks: what the benchmark runs on 16 and 64 MiB."""
    (tmp_path / "text").write_bytes(sample_text(30_000))
    args = [f"{tmp_path / 'text'}:1", "--method", "neural", "--extra", "block_size=10000", "--out", str(tmp_path), "--name", "l"]
    proc = subprocess.run([sys.executable, "-m", "benchmarks.large", *args], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    (result,) = load(tmp_path, "l")["files"]
    mdlzip_row, *classics = result["rows"]
    assert mdlzip_row["compressor"] == "mdlzip -1 --method neural -T2" and mdlzip_row["info"]["block_count"] == 3
    for phase in ("compress", "decompress_T1", "decompress_T2"):
        assert mdlzip_row[phase]["cpu_s"] > 0 and mdlzip_row[phase]["peak_rss_mib"] > 0 and mdlzip_row[phase]["peak_tree_rss_mib"] > 0
    assert mdlzip_row["decode_speedup"] > 0 and mdlzip_row["decompress_T2"]["block_process_peak_mib"] > 0
    assert mdlzip_row["compress_block_process_peak_mib"] > 0
    assert [r["compressor"] for r in classics] == ["xz -9e", "zstd -19 --long"]
    assert all(r["status"] == "ok" and 0 < r["compressed_bytes"] < 30_000 for r in classics if shutil.which(r["compressor"].split()[0]))
    md = (tmp_path / "l.md").read_text()
    assert "## text: 30,000 bytes, mdlzip level 1" in md and "mdlzip compress settings: `--extra block_size=10000`" in md
    # What the encoder did with training, from info: below 8 MiB none is trained.
    assert mdlzip_row["info"]["train_steps"] == 0 and "mdlzip -1 --method neural -T2: no trained model candidate, side models alone" in md
    assert "; training skipped: no transformer is trained below" in md


def test_mdl_curve_records_each_sparsifier_and_price_and_resumes(tmp_path):
    (tmp_path / "text").write_bytes(sample_text(6_000))
    command = [sys.executable, "-m", "benchmarks.mdl_curve", str(tmp_path / "text"), "--sparsifiers", "l1,none", "--scales", "4,0", "--steps", "12", "--out", str(tmp_path)]
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    results = load(tmp_path, "mdl-curve-text-level1")
    assert sorted((r["sparsifier"], r["scale"]) for r in results["rows"]) == [("l1", 0.0), ("l1", 4.0), ("none", 0.0)]  # none has no price to scale
    side = results["side_alone_bytes"]
    for r in results["rows"]:
        assert 0 <= r["nonzero"] <= r["total_weights"] and r["archive_bytes"] > r["model_bytes"] + r["data_bytes"]
    md = (tmp_path / "mdl-curve-text-level1.md").read_text()
    assert f"({side:,} B" in md and "| l1 | 4 |" in md
    again = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and again.stdout.count("weights,") == 0  # every point already measured
    assert load(tmp_path, "mdl-curve-text-level1")["rows"] == results["rows"]


def test_sparsifier_row_measures_a_trained_model_below_the_default_training_size(tmp_path):
    # The default trains no transformer below 8 MiB; the sparsifier table must still measure one.
    from benchmarks import sparsifiers

    (tmp_path / "text").write_bytes(sample_text(1_000))
    row = sparsifiers.run(tmp_path / "text", "dense", "cpu", 1, alone=False)
    assert row["side_models"] and row["sparsifier"] == "dense"
    assert row["train_steps"] > 0 and row["params_nonzero"] > 0
    assert row["archive_bytes"] == row["header_bytes"] + row["model_bytes"] + row["data_bytes"]
