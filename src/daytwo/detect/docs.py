"""Render the detector registry as Markdown (``make docs`` runs :mod:`daytwo.pipeline.docs`, which
loads the detectors plugins contribute first)."""

from __future__ import annotations

import sys

from daytwo.detect.registry import detectors


def render_detectors_markdown() -> str:
    lines = [
        "# Detectors",
        "",
        "Generated from the detector registry (`make docs`); `daytwo analyze`, the API",
        "(`GET /api/v1/detectors`, `GET /api/v1/findings`) and the findings page read the same",
        "definitions. Each detector is a pure calculation over one deployment's interactions",
        "(and, where it says so, their turns and what the events engine computes for it) that",
        "returns findings; a finding's",
        "fingerprint (kind, scope and key) makes the same problem seen again update one finding,",
        "and a resolved finding that returns is marked *regressed*.",
        "",
        "## Repeated looks",
        "",
        "An analysis that runs on a schedule looks at the same, mostly unchanged data again and",
        "again: each day's look tests every segment (site, team, channel, language, tenure...)",
        "of every journey, and its current week overlaps the last look's by six days. A segment",
        "whose difference from the baseline sits at the edge of significance then passes the",
        "test on one look and fails it on the next, and each pass would raise a finding the next",
        "look resolves: the more looks, the more such one-day findings, though no single test is",
        "wrong. So the ledger asks more of a segment finding on a repeated look:",
        "",
        "- the first analysis of a deployment (one look) raises what it sees, as before;",
        "- on a repeated look (a detector that an earlier run of the deployment already ran), a",
        "  segment-level finding whose fingerprint the ledger does not know yet is *held*, not",
        "  raised: no finding, no item, no alert;",
        "- a later look on data at least a day newer that sees it again raises it, with the",
        "  first-seen date of the look that held it (so the detection date is not delayed);",
        "  looks in between, on data less than a day newer, keep it held;",
        "- a look that does not see it drops it; seen again later, it is held afresh.",
        "",
        "A finding the ledger already knows (open, resolved or regressed) is updated as before;",
        "deployment-, journey- and metric-level findings are raised at once. A `daytwo analyze`",
        "that runs once pays one read of the earlier runs' detector lists for this (it stops at",
        "the latest run). Held findings live in their own table (`held_findings`); the run's",
        "`held_fingerprints` (what an analysis consumer receives) name them.",
        "",
        "A replay (`daytwo analyze --since DAY`) or a backfill analyses one deployment as of the",
        "end of several days: the events those looks need are read once (up to 31 looks per",
        "read) and each look gets exactly the rows it would have read on its own: the start of",
        "each turn's, delivery's and assist event's interaction is joined once per read, and a",
        "look picks its rows by comparing those starts with its windows. What the detectors",
        "work out again look after look on the same rows is worked out once per process: the",
        "words of a customer message (drift, silent failures), whether a message rephrases the",
        "one before the answer, the text of a suggestion event; the trend detector's weekly",
        "series of every cell come from one pass over the rows. None of it changes a figure:",
        "each is computed as before, only not twice. `python -m bench.repeated_looks` measures",
        "the read on the demo's daily looks (`bench/results/repeated_looks.json`); `python -m",
        "bench.history_replay` times the demo's whole day-by-day replay by detector and by the",
        "parts around them (the roots, recording the findings, the backlog's intake, the plan's",
        "gates, notify, the demo's people, the gap clustering and `seed_plan` after the replay),",
        "in wall and CPU seconds, with a digest of the findings, runs and items it recorded (the",
        "items opened on the demo's clock), to compare two revisions on the same build",
        "(`bench/results/history_replay*.json`). The backlog's intake after a look reads only the",
        "findings that look changed (by fingerprint, in the order of the whole list), and a mask",
        "summarised alone sums its rows as a one-cell group does, without building the group.",
        "",
        "On two cores the demo's replay computes each deployment's looks from both ends at once",
        "(`daytwo.pipeline.ahead`): a second process, forked once the events are read, takes",
        "looks from the last day back and computes their findings (the detectors and the",
        "roots, pure over the rows read), while the analysis goes on from the first day,",
        "computing its own looks until it reaches one the second process took, and records",
        "every look in its order: the runs, findings, items and their ids are those one process",
        "records (`tests/pipeline/test_ahead.py` compares both ledgers row by row). The second",
        "process touches no store and runs no encoder: the knowledge gaps' vectors are embedded",
        "before the fork, and a look it cannot compute is computed by the analysis itself.",
        "`analyze(..., workers=2)` asks for it; `daytwo analyze` and the server run one process.",
        "",
        "## Cadence",
        "",
        "Most detectors run on every look. A detector may declare a cadence of N days",
        "(`every_days`): the analysis runs it on a look only when no earlier successful run of",
        "the deployment ran it on data that ended less than N days before this look's data",
        "ends; on the other looks it is left out, and its open findings stay as the last run",
        "that ran it left them (not resolved). The rule reads only the ledger's runs, so the",
        "schedule in `daytwo serve`, `daytwo analyze`, the API and a replay day by day",
        "(`--since`, the demo's history) apply it identically, and a replay records exactly",
        "what the same days analysed one look at a time record. Asking for detectors by id",
        "(`detector_ids`) or forcing the run (`--force`) runs it whatever its cadence.",
        "",
        "| Detector | Cadence |",
        "|---|---|",
        *(f"| `{d.id}` | every {d.every_days} days of data |" for d in detectors() if d.paced),
        "",
        "Knowledge gaps cluster every unhandled message of the history (the costliest step of",
        "a look, about 11 s of the demo's virtual agent's ~15 s on 2 loaded cores) and grow",
        "over weeks, so they are clustered once a week of data.",
        "",
        "## What the events engine computes",
        "",
        "A detector may ask the events engine (DuckDB or ClickHouse) for a table instead of the",
        "raw rows it comes from (an engine read, listed under *reads* below): one SELECT over the",
        "deployment's conversations of the analysis, whose answer is an aggregate or the few rows",
        "the detector judges, read once per analysis whichever detectors ask for it. Each has a",
        "twin computed from Arrow rows (what golden cases built by hand use), and tests hold the",
        "engine's answer to it on both engines. The feed checks read the deliveries log this way:",
        "only the conversations delivered more than once or started after their first delivery",
        "(with their copies and first delivery), not every delivery; the adoption detectors read",
        "the assist events only as per-day sums and the suggestions acted on. The trend and",
        "the SLO breaches judge the monitored metrics from `cell_days`: per day counted back",
        "from the analysis's end, and per journey or segment value, the conversations and each",
        "metric's sums (numerator, denominator and their products for a rate; count, sum and",
        "sum of squares for a mean), in one pass of grouping sets; a week or the current period",
        "is a sum of its days. Their evidence ids are still chosen from the rows, in Python.",
        "",
        "The knowledge gaps' embedding holds fewer copies of the candidates' vectors than it",
        "did: the texts are tokenised a chunk at a time into bare ids, the distinct texts'",
        "vectors are the encoder's own array, and rows are made unit a chunk at a time (the same",
        "vectors and clusters to the bit).",
        "",
    ]
    for d in detectors():
        needs = []
        if d.needs.turn_columns:
            needs.append("turns (" + ", ".join(d.needs.turn_columns) + ")")
        if d.needs.deliveries:
            needs.append("the deliveries log")
        if d.needs.reads:
            needs.append("engine reads (" + ", ".join(f"`{r.name}`" for r in d.needs.reads) + ")")
        lines += [
            f"## {d.name} (`{d.id}`)",
            "",
            d.doc,
            "",
            "- reads: interactions" + ("".join(f", {n}" for n in needs)),
            "- parameters: " + ", ".join(f"`{k}` = {v!r}" for k, v in d.param_values().items()),
            "",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(render_detectors_markdown())
