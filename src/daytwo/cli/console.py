"""Shared terminal output: one console for results, one for diagnostics."""

from __future__ import annotations

from rich.console import Console

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)
