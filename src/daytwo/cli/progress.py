"""Progress of long work on the terminal: a live bar where stderr is a terminal, and a plain
line every few seconds where it is not (``make``, CI logs, a pipe), so long work is never
silent."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from daytwo.cli.console import err

# How often a plain line is printed when stderr is not a terminal.
PLAIN_EVERY_S = 5.0


@dataclass
class Steps:
    """``update(done, total, note)``: where the work is; either part may be left out."""

    label: str
    live: object | None = None  # a rich Progress when stderr is a terminal
    task: int | None = None
    started: float = field(default_factory=time.monotonic)
    last_said: float = 0.0
    note: str = ""

    def update(
        self, done: int | None = None, total: int | None = None, note: str | None = None
    ) -> None:
        if note is not None:
            self.note = note
        if self.live is not None:
            from rich.progress import Progress, TaskID

            assert isinstance(self.live, Progress)
            self.live.update(
                TaskID(self.task or 0), completed=done, total=total, description=self.note
            )
            return
        now = time.monotonic()
        if now - self.last_said < PLAIN_EVERY_S:
            return
        self.last_said = now
        where = f" {done}/{total}" if done is not None and total else ""
        err.print(
            f"{self.label}{where}{' · ' + self.note if self.note else ''} "
            f"({now - self.started:.0f} s)",
            soft_wrap=True,
            highlight=False,
        )


@contextmanager
def steps(label: str, unit: str = "") -> Iterator[Steps]:
    """A :class:`Steps` for ``label`` (``unit`` names what ``done``/``total`` count)."""
    if not err.is_terminal:
        err.print(f"{label}…", highlight=False)
        yield Steps(label)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn()]
    if unit:
        columns.append(TextColumn(unit))
    columns += [TextColumn("{task.description}"), TimeElapsedColumn()]
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("", total=None)
        yield Steps(label, live=bar, task=int(task))
