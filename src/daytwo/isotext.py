"""Times and days as ISO 8601 text, the way every schema of daytwo takes them.

In lax mode Pydantic reads a number, or text that is only a number, as Unix seconds:
``1733390000`` becomes a time and ``"1699920000"`` a day. The schemas say ISO text, so these
validators refuse a number with an example of what to send, before Pydantic reads it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BeforeValidator

__all__ = ["IsoTime", "iso_day_text", "iso_time_text"]


def _refuse_numbers(value: object, expected: str) -> object:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
        number = True
    if number:
        raise ValueError(f"must be {expected}, not a number")
    return value


def iso_time_text(value: object) -> object:
    """A time is ISO 8601 text, never a number of seconds."""
    return _refuse_numbers(value, "an ISO 8601 time, like 2026-12-05T09:00:00Z")


def iso_day_text(value: object) -> object:
    """A day is ISO 8601 text, never a number of seconds."""
    return _refuse_numbers(value, "a day like 2026-11-01")


#: A point in time as ISO 8601 text; numbers (Unix seconds, which Pydantic would take) are refused.
IsoTime = Annotated[datetime, BeforeValidator(iso_time_text)]
