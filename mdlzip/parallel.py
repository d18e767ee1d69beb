"""Jobs in worker processes, results in order: how independent blocks are coded and decoded at once.

Workers are started with ``spawn``, never ``fork``: the parent may hold torch's
OpenMP threads and the integer engine's thread pool, and a forked child inherits
their locks without the threads that would release them. Each worker imports
what its job needs afresh (a fraction of a second: coding loads no torch) and holds its own tables, so memory
grows with the number of workers, not with the input. With one worker, or one
job, everything runs in this process, and no worker is started at all.

A job's result is the same in whichever process it runs: what a caller builds
from the results does not depend on the number of workers.
"""

from __future__ import annotations

import multiprocessing
import contextlib
import resource
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Iterable, Iterator, Optional, TypeVar

from .errors import MdlzipError

J = TypeVar("J")
R = TypeVar("R")


def peak_rss() -> int:
    """This process's peak resident memory in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _measured(fn: Callable[[J], R], job: J) -> tuple[R, int]:
    return fn(job), peak_rss()


@contextlib.contextmanager
def _deaf_to_ctrl_c():
    """Workers started in here ignore SIGINT from their first instruction (a disposition exec keeps,
    and Python then leaves alone). Ctrl-C reaches every process of the terminal's group: the workers
    leave it to this process, which ends them, so that none prints a traceback of its own, even
    while it is still starting. Signal dispositions belong to the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class Pool:
    """``map`` over jobs in up to ``workers`` processes; ``peak`` is the largest peak RSS seen in a
    process that ran a job (this one included, when it ran any). ``initializer(*initargs)`` runs
    first in each worker process (never in this one)."""

    def __init__(self, workers: int, initializer: Optional[Callable] = None, initargs: tuple = ()):
        self.workers, self.initializer, self.initargs = max(1, workers), initializer, initargs
        self.peak = 0

    def map(self, fn: Callable[[J], R], jobs: Iterable[J], done: Optional[Callable[[int, R], None]] = None) -> Iterator[R]:
        """fn(job) for every job, yielded in the jobs' order; ``done(index, result)`` as each is
        yielded. An exception from a job is raised here, the jobs not yet started are cancelled."""
        jobs = list(jobs)
        if self.workers == 1 or len(jobs) <= 1:
            for i, job in enumerate(jobs):
                result = fn(job)
                self.peak = max(self.peak, peak_rss())
                if done:
                    done(i, result)
                yield result
            return
        context = multiprocessing.get_context("spawn")
        executor = ProcessPoolExecutor(min(self.workers, len(jobs)), context, self.initializer, self.initargs)
        try:
            with _deaf_to_ctrl_c():  # the first submit starts the workers
                futures = [executor.submit(_measured, fn, job) for job in jobs]
            for i, future in enumerate(futures):
                try:
                    result, peak = future.result()
                except BrokenProcessPool:
                    raise MdlzipError(f"a worker process died (out of memory?); {len(jobs)} jobs in {self.workers} processes") from None
                futures[i] = None  # the result is the caller's now: hold no second reference
                self.peak = max(self.peak, peak)
                if done:
                    done(i, result)
                yield result
        except BaseException:
            # A failed job or Ctrl-C: the jobs still queued are dropped and the running ones ended,
            # not waited for (the executor offers no way to end them but its process table).
            processes = list((getattr(executor, "_processes", None) or {}).values())
            for process in processes:
                process.terminate()
            for process in processes:
                process.join(5)
                if process.is_alive():  # deaf to SIGTERM (a busy machine, a stuck call): it must not outlive us
                    process.kill()
                    process.join()
            executor.shutdown(wait=False, cancel_futures=True)
            raise
        executor.shutdown()
