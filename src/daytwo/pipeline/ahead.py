"""Looks of a replay computed ahead on another core, recorded in their own order here.

A replay (or backfill) of one deployment is a row of looks, each a pure calculation over the
events read once for them (:class:`~daytwo.detect.runner.History`) followed by ledger work that
must stay in order: recording the run, the consumers, a demo's people acting between looks.
:class:`DetectAhead` forks one worker process that takes looks from the end of the row and
computes their findings (:func:`~daytwo.detect.runner.detect_look`), while this process goes
through the row from its start as before, computing each look itself until it reaches one
the worker took, whose findings it then waits for. The two meet where the row's work
balances; every run, finding and item is recorded by this process in the same order, with the
same ids and rows, as a serial replay records them.

The worker is forked after the history of the row's end was read, so it shares that memory
(copy on write) and never touches a store; it takes no look before the first one whose events
it was given (the front's are read here, while it works). A look its history does not cover, a
look that raised in the worker or a worker that died is computed here instead, where a failure
is raised as a serial replay raises it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
import warnings
from collections.abc import Sequence
from contextlib import suppress
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized
from typing import Any

from daytwo.detect.data import DeploymentInfo, Window
from daytwo.detect.gaps.candidates import Candidates
from daytwo.detect.gaps.service import (
    Detection,
    GapWindow,
    cache_only,
    compute_gaps,
    settle_vectors,
)
from daytwo.detect.registry import Detector
from daytwo.detect.runner import Detected, History, detect_look

log = logging.getLogger("daytwo.pipeline")

# One look of the row: its instant, the detectors it runs and its window (None: no run).
PlannedLook = tuple[datetime, Sequence[Detector[Any]], Window | None]


def fork_available() -> bool:
    """Whether this platform can fork a worker (not on Windows)."""
    return "fork" in multiprocessing.get_all_start_methods()


def stop_worker(process: BaseProcess, wait_s: float = 5.0) -> None:
    """Wait ``wait_s`` for a worker process to end, then stop it (one whose results are no
    longer read, or that still works after its last task was taken)."""
    process.join(timeout=wait_s)
    if process.is_alive():
        process.terminate()
        process.join()


class DetectAhead:
    """A worker computing the findings of a row of looks from its end (see the module)."""

    def __init__(
        self,
        info: DeploymentInfo,
        looks: Sequence[PlannedLook],
        histories: dict[datetime, History],
    ) -> None:
        ctx = multiprocessing.get_context("fork")
        self._looks = len(looks)
        # Looks below ``front`` are this process's, those from ``back`` on the worker's.
        self._front: Synchronized[int] = ctx.Value("i", 0)
        self._back: Synchronized[int] = ctx.Value("i", len(looks))
        # The worker takes no look below ``floor``: those from it on are all it has the events
        # of (the history of the looks before is read here later, if at all).
        self._floor = _floor(looks, histories)
        self._results: dict[int, Detected | None] = {}
        self._name = info.name
        # How many looks the worker's findings served, and how long this process waited.
        self.served = 0
        self.waited = 0.0
        receive, send = ctx.Pipe(duplex=False)
        self._receive: Connection | None = receive
        # The vectors a gap clustering reads are embedded before the fork: the worker then
        # finds them in its copy of the cache instead of encoding them again.
        settle_vectors()
        with warnings.catch_warnings():
            # Python 3.12 warns of fork() in a process with threads (the event store's,
            # Arrow's): the worker uses none of them, only the history's arrays and the
            # detectors' own calculations.
            warnings.simplefilter("ignore", DeprecationWarning)
            self._process = ctx.Process(
                target=_work,
                args=(info, looks, histories, self._floor, self._front, self._back, receive, send),
                name=f"daytwo-detect-ahead-{info.name}",
                daemon=True,
            )
            self._process.start()
        send.close()
        # The worker's findings are received as they come (a look's findings are larger than
        # a pipe holds: unread, they would stop the worker until this process reached them).
        self._arrived = threading.Condition()
        self._ended = False
        self._reader = threading.Thread(
            target=self._receive_all, name=f"daytwo-detect-ahead-{info.name}", daemon=True
        )
        self._reader.start()

    def _receive_all(self) -> None:
        receive = self._receive
        try:
            while receive is not None:
                done, detected = receive.recv()
                with self._arrived:
                    self._results[done] = detected
                    self._arrived.notify_all()
        except (EOFError, OSError):
            pass
        finally:
            with self._arrived:
                self._ended = True
                self._arrived.notify_all()

    def done_taking(self) -> bool:
        """Whether the worker takes no more looks (it may still compute the last it took)."""
        with self._front.get_lock():
            return self._back.value <= max(self._front.value, self._floor)

    def take(self, index: int) -> Detected | None:
        """The findings of look ``index`` (taken in order), computed by the worker; None when
        this process is to compute them itself."""
        with self._front.get_lock():
            if index < self._back.value:
                self._front.value = index + 1
                return None
        started = time.perf_counter()
        with self._arrived:
            while index not in self._results and not self._ended:
                self._arrived.wait()
            self.waited += time.perf_counter() - started
            if index not in self._results:
                log.warning("the look-ahead worker stopped; the looks it took run here")
            found = self._results.pop(index, None)
        self.served += found is not None
        return found

    def close(self) -> None:
        """Wait for the worker (it ends once no look is left to take); stop it if a look
        here failed while it still works."""
        with self._front.get_lock():
            self._front.value = self._back.value
        stop_worker(self._process)
        self._reader.join()
        if self._receive is not None:
            self._receive.close()
            self._receive = None
        log.info(
            "%s: %d of %d looks computed ahead by a second process (%.1f s waited for it)",
            self._name, self.served, self._looks, self.waited,
        )  # fmt: skip


def _floor(looks: Sequence[PlannedLook], histories: dict[datetime, History]) -> int:
    """The first look of the row's end whose every look has its events read (or no run)."""
    floor = len(looks)
    while floor > 0 and (looks[floor - 1][2] is None or looks[floor - 1][0] in histories):
        floor -= 1
    return floor


def _work(
    info: DeploymentInfo,
    looks: Sequence[PlannedLook],
    histories: dict[datetime, History],
    floor: int,
    front: Synchronized[int],
    back: Synchronized[int],
    receive: Connection,
    send: Connection,
) -> None:
    """The worker: take the last look not taken, compute it, send it; until the two meet or
    it reaches the looks whose events it was not given."""
    receive.close()
    # The parent's encoder cannot run here (its thread pools were not forked): the vectors
    # were embedded before the fork, and a look missing one is computed by the parent.
    cache_only()
    try:
        while True:
            with front.get_lock():
                if back.value <= max(front.value, floor):
                    return
                back.value -= 1
                index = back.value
            send.send((index, _detect(info, looks[index], histories)))
    except (BrokenPipeError, OSError):
        return  # this process's parent is gone: nothing to send to
    except KeyboardInterrupt:
        return  # Ctrl-C reaches the whole process group: the parent says it, not this one
    finally:
        with suppress(OSError):
            send.close()


def _detect(
    info: DeploymentInfo, look: PlannedLook, histories: dict[datetime, History]
) -> Detected | None:
    at, chosen, window = look
    history = histories.get(at)
    if window is None or history is None or not history.covers(window, [d.needs for d in chosen]):
        return None
    try:
        return detect_look(None, info, window, chosen, history=history)
    except Exception:  # computed again by the parent, which raises it where a serial run does
        log.debug("look as of %s of %s failed ahead (pid %s)", at, info.name, os.getpid())
        return None


class GapsAhead:
    """The gap clusterings of several deployments computed by a forked worker while this
    process goes on with other work; :meth:`take` hands each back to be recorded here, in the
    order this process chooses, so the ledger gets what clustering them here would write.

    The windows were read before the fork (:func:`~daytwo.detect.gaps.service.read_gap_window`)
    and the vectors they need embedded: the worker reads no store and runs no encoder. A
    window it could not compute, or a worker that died, is computed here instead.
    """

    def __init__(self, windows: Sequence[GapWindow]) -> None:
        ctx = multiprocessing.get_context("fork")
        self.windows = list(windows)
        receive, send = ctx.Pipe(duplex=False)
        self._receive: Connection | None = receive
        self._results: dict[int, tuple[Candidates, Detection] | None] = {}
        settle_vectors()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # see DetectAhead
            self._process = ctx.Process(
                target=_cluster, args=(self.windows, receive, send),
                name="daytwo-gaps-ahead", daemon=True,
            )  # fmt: skip
            self._process.start()
        send.close()

    def take(self, index: int) -> tuple[Candidates, Detection]:
        """The candidates and gaps of window ``index``: the worker's, or computed here."""
        while index not in self._results and self._receive is not None:
            try:
                done, computed = self._receive.recv()
            except (EOFError, OSError):
                log.warning("the gaps worker stopped; the clusterings it had left run here")
                self.close()
                break
            self._results[done] = computed
        found = self._results.pop(index, None)
        return found if found is not None else compute_gaps(self.windows[index])

    def close(self) -> None:
        """Stop the worker if it still works (nothing it sends is read any more)."""
        if self._receive is not None:
            self._receive.close()
            self._receive = None
        stop_worker(self._process)


def _cluster(windows: Sequence[GapWindow], receive: Connection, send: Connection) -> None:
    """The gaps worker: every window's clustering, then each sent (a clustering is larger than
    a pipe holds: sent before the next is computed, it would wait for the parent to read it)."""
    receive.close()
    cache_only()
    try:
        done: list[tuple[Candidates, Detection] | None] = []
        for window in windows:
            try:
                done.append(compute_gaps(window))
            except Exception:  # computed again by the parent, which raises it there
                log.debug("gaps of %s failed ahead (pid %s)", window.deployment, os.getpid())
                done.append(None)
        for index, computed in enumerate(done):
            send.send((index, computed))
    except (BrokenPipeError, OSError, KeyboardInterrupt):
        return  # the parent is gone or stopped reading (or Ctrl-C: the parent says it)
    finally:
        with suppress(OSError):
            send.close()
