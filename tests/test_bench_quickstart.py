"""The fresh-clone bench's phases, read from the lines a `make demo` run prints."""

from __future__ import annotations

from bench.quickstart import _phases

LINES = [
    (1.0, "installing daytwo and its runtime dependencies into .venv…"),
    (9.5, "installed with uv in 8 s"),
    (9.6, ".venv/bin/daytwo demo --host 127.0.0.1 --port 8791"),
    (12.0, "building the demo…"),
    (30.0, "demo built in 17.8s: care-bot, care-assist; 180,000 interactions"),
    (31.0, "replaying the history day by day…"),
    (110.0, "analysed in 79.0s: 261 findings in 60 backlog items, 40 knowledge gaps"),
    (115.5, "28 reports issued into the archive (/reports/archive)"),
    (115.6, "open http://127.0.0.1:8791/ and sign in as admin with the password …"),
    (116.0, "daytwo serving on http://127.0.0.1:8791/  (data: daytwo-data)"),
]


def test_each_phase_ends_with_its_line() -> None:
    phases = _phases(LINES, clone_s=0.5, served_s=118.0)
    assert phases == {
        "clone": 0.5,
        "install": 9.1,
        "start": 2.4,
        "build": 18.0,
        "replay": 80.0,
        "reports": 5.6,
        "serve": 2.4,
    }
    assert round(sum(phases.values()), 2) == 118.0


def test_a_phase_whose_line_never_came_counts_in_the_next() -> None:
    no_replay = [line for line in LINES if "analysed in" not in line[1]]
    phases = _phases(no_replay, clone_s=0.5, served_s=118.0)
    assert "replay" not in phases
    assert phases["reports"] == 85.6  # from the build's end to the sign-in line
    assert round(sum(phases.values()), 2) == 118.0
