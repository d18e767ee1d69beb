"""The Python API: compress, decompress, verify and info on bytes in memory.

This module picks the method, runs it and fills the container. It never prints
and never imports torch itself; only the neural method's encoder does, where it trains.
"""

from __future__ import annotations

from typing import Optional

from . import container, methods
from .errors import MdlzipError
from .methods import Options, ProgressFn, note

DEVICES = ("auto", "cpu", "cuda")
LEVELS = range(1, 10)
METHOD_CHOICES = ("auto", *methods.NAMES)


def _load(method):
    """The method's module, or None where this installation does not provide it.

    The neural method lives in its own module with heavier dependencies; an
    ImportError there means "not available", never a crash.
    """
    try:
        return methods.get(method)
    except ImportError:
        return None


def _require(method):
    module = _load(method)
    if module is None:
        name = methods.NAME_OF_ID.get(method, method)
        raise MdlzipError(f"method '{name}' is not available in this installation")
    return module


def _candidates(method: str, size: int, primed: bool = False) -> list:
    """The methods to try, simplest first (so that ties go to the simpler one)."""
    if method != "auto":
        return [_require(method)]
    chosen = [_require("stored"), _require("zstd"), _require("xz")]
    neural = _load("neural")
    min_input = getattr(neural, "MIN_INPUT_PRIMED" if primed else "MIN_INPUT", None)
    if min_input is not None and size >= min_input:
        chosen.append(neural)
    return chosen


def load_prior(prior):
    """A prior given as a loaded ``Prior``, a path, or ``"default"`` (the shipped one); None stays None."""
    if prior is None or not (isinstance(prior, (str, bytes)) or hasattr(prior, "__fspath__")):
        return prior
    from . import prior as priors  # the neural method's part

    return priors.resolve(prior)


def _options(device: str, threads: Optional[int], **fields) -> Options:
    if device not in DEVICES:
        raise MdlzipError(f"unknown device {device!r} (choose from {', '.join(DEVICES)})")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise MdlzipError(f"threads must be a positive integer, not {threads!r}")
    return Options(device=device, threads=threads, **fields)


def compress(
    data: bytes,
    *,
    method: str = "auto",
    level: int = 6,
    device: str = "auto",
    threads: Optional[int] = None,
    seed: int = 0,
    progress: Optional[ProgressFn] = None,
    prior=None,
    **extra,
) -> Optional[bytes]:
    """Compress bytes into an archive; ``method="auto"`` keeps the smallest result.

    ``level`` (1..9) trades time for size in the neural method; ``threads`` (None:
    torch's default for training, blocks one at a time) is the number of torch threads
    and of processes that code the blocks of a large input at once (spawned: a script
    that passes more than 1 needs the ``if __name__ == "__main__":`` guard), and
    ``device`` applies where torch is used; ``prior`` (a path, ``"default"`` or a
    loaded prior) is what the neural method may start from; ``extra`` holds
    method-specific settings (``block_size``: the neural method's largest block; ``filter=False``:
    never the x86 filter).
    The archive does not depend on ``threads``.

    Under torchrun (``mdlzip.train.distributed``) every rank calls this with the same
    input and options; rank 0 gets the archive, the other ranks help to train and get None.
    """
    data = bytes(data)
    if method not in METHOD_CHOICES:
        raise MdlzipError(f"unknown method {method!r} (choose from {', '.join(METHOD_CHOICES)})")
    if not isinstance(level, int) or level not in LEVELS:
        raise MdlzipError(f"level must be an integer from 1 to 9, not {level!r}")
    if len(data) > container.MAX_LENGTH:
        raise MdlzipError(f"input larger than the format's limit of {container.MAX_LENGTH} bytes")
    options = _options(device, threads, level=level, seed=seed, progress=progress, prior=load_prior(prior), extra=extra)
    content_checksum = container.checksum(data)
    archives = []
    for module in _candidates(method, len(data), options.prior is not None):
        if method == "auto" and module.NAME == "neural" and not _has_structure(len(data), min(map(len, archives))):
            probe = getattr(module, "finds_structure", None)
            if not (probe and probe(data)):
                note(progress, "neural method skipped: neither the classic methods nor the side models on its start found structure (random or compressed data)")
                continue
            note(progress, "the classic methods found no structure, the side models did on the input's start: trying the neural method")
        encoded = module.encode(data, options)
        if encoded is None:  # a rank other than 0 under torchrun: it helped to train, rank 0 writes
            return None
        archives.append(container.pack(module.METHOD_ID, len(data), content_checksum, encoded))
    # min() keeps the first of equal sizes, and candidates come simplest first.
    return min(archives, key=len)


# The neural method is tried where the classic methods save at least 2%; where they find nothing
# (random or already compressed data), trying costs seconds per megabyte instead of milliseconds,
# so there only where its side models save on the input's start (``finds_structure``: a JPEG's
# coded bytes, not random ones).
STRUCTURE_MIN_SAVING = 0.02


def _has_structure(size: int, best_classic: int) -> bool:
    return best_classic < (1 - STRUCTURE_MIN_SAVING) * size


def _unpack(blob: bytes) -> tuple[int, int, Optional[bytes], methods.Encoded]:
    """``container.unpack``; where the CRC32 fails, the error names the damaged part if the method can tell."""
    try:
        return container.unpack(blob)
    except container.Damaged as damage:
        locate = getattr(_load(damage.method_id), "locate_damage", None)
        where = locate(damage.encoded, damage.original_length) if locate else None
        raise MdlzipError(f"{damage} in {where}" if where else str(damage)) from None


def decompress(
    blob: bytes,
    *,
    threads: Optional[int] = None,
    device: str = "auto",
    progress: Optional[ProgressFn] = None,
    prior=None,
) -> bytes:
    """The original bytes of an archive, after checking its CRC32, length and content checksum.

    ``threads`` is as for ``compress``: a block archive decodes that many blocks at once.
    An archive made with a prior needs that very prior: ``prior`` (as for
    ``compress``) is looked at first, then the search path of ``mdlzip.prior``.
    """
    method_id, original_length, content_checksum, encoded = _unpack(blob)
    options = _options(device, threads, progress=progress, prior=load_prior(prior))
    data = bytes(_require(method_id).decode(encoded, original_length, options))
    if len(data) != original_length:
        raise MdlzipError(f"corrupt archive: decoded {len(data)} bytes, expected {original_length}")
    if content_checksum is not None and container.checksum(data) != content_checksum:
        raise MdlzipError("corrupt archive: content checksum mismatch")
    return data


def verify(blob: bytes, **options) -> int:
    """Decode an archive fully and check it, keeping nothing; returns the original length.

    Raises MdlzipError when the archive is not intact. Takes decompress's options.
    """
    return len(decompress(blob, **options))


def info(blob: bytes) -> dict:
    """Facts about an archive without decoding its data.

    The container (including its CRC32) is checked. Keys not applicable to the
    method are None; a method with a ``describe(encoded, original_length)`` adds its own facts.
    """
    method_id, original_length, content_checksum, encoded = _unpack(blob)
    facts = {
        "method": methods.NAME_OF_ID[method_id],
        "format_version": container.FORMAT_VERSION,
        "original_bytes": original_length,
        "archive_bytes": len(blob),
        **container.layout(method_id, original_length, encoded),
        "bits_per_byte": 8 * len(blob) / original_length if original_length else None,
        "params_total": None,
        "params_nonzero": None,
        "checksum": content_checksum.hex() if content_checksum is not None else None,
    }
    describe = getattr(_load(method_id), "describe", None)
    if describe is not None:
        facts.update(describe(encoded, original_length))
    return facts
