"""Times and days are ISO text: a number, or text that is only a number, is refused by name
with an example, where Pydantic alone would read it as Unix seconds."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

import pytest
from pydantic import BaseModel, BeforeValidator, ValidationError

from daytwo.isotext import IsoTime, iso_day_text


class _Times(BaseModel):
    at: IsoTime | None = None
    day: Annotated[date | None, BeforeValidator(iso_day_text)] = None


def test_iso_text_passes() -> None:
    got = _Times.model_validate({"at": "2026-12-05T09:00:00Z", "day": "2026-11-01"})
    assert got.at == datetime(2026, 12, 5, 9, tzinfo=UTC)
    assert got.day == date(2026, 11, 1)
    assert _Times.model_validate({"at": None, "day": None}) == _Times()


@pytest.mark.parametrize("number", [1733389200, 1733389200.5, "1733389200", " 1699920000 "])
def test_a_time_that_is_a_number_is_refused(number: object) -> None:
    with pytest.raises(ValidationError) as caught:
        _Times.model_validate({"at": number})
    assert "must be an ISO 8601 time, like 2026-12-05T09:00:00Z, not a number" in str(caught.value)


@pytest.mark.parametrize("number", [1699920000, 1699920000.0, "1699920000"])
def test_a_day_that_is_a_number_is_refused(number: object) -> None:
    with pytest.raises(ValidationError) as caught:
        _Times.model_validate({"day": number})
    assert "must be a day like 2026-11-01, not a number" in str(caught.value)


def test_a_boolean_is_left_to_the_type() -> None:
    # True is an int to Python; the type's own check refuses it, not the number rule.
    with pytest.raises(ValidationError) as caught:
        _Times.model_validate({"day": True})
    assert "not a number" not in str(caught.value)
