"""The ``knowledge_gap`` detector's registration (its calculation is in ``emerging.py``).

Importing this module registers the detector; the registry imports it from its list of
built-in detector modules.
"""

from __future__ import annotations

from daytwo.detect.data import AnalysisData
from daytwo.detect.findings import Finding
from daytwo.detect.gaps.emerging import KnowledgeGapParams, knowledge_gap_findings
from daytwo.detect.gaps.reads import CANDIDATES, CONFIDENT
from daytwo.detect.registry import Needs, detector

# Clustering every unhandled message of the history is the analysis's costliest step and gaps
# grow over weeks: the analysis clusters them once a week of data (see "Cadence").
GAPS_EVERY_DAYS = 7


@detector(
    "knowledge_gap",
    name="Knowledge gaps",
    params=KnowledgeGapParams(),
    # The candidates and the confident turns come from the engine, not every turn's text.
    needs=Needs(reads=(CANDIDATES, CONFIDENT)),
    every_days=GAPS_EVERY_DAYS,
)
def detect_knowledge_gaps(data: AnalysisData, params: KnowledgeGapParams) -> list[Finding]:
    """Clusters of what customers asked that the assistant could not handle, new or growing.

    The customer messages that fell back, had a low-confidence answer, were rephrased or were
    the last words before an escalation are embedded offline and clustered, cut where the
    deployment's own intents separate (see :mod:`daytwo.detect.gaps.granularity`); each
    cluster is labelled by the wording nearest its centre and typed as a new intent, a missing
    answer, a known intent to retrain, or off-topic (its title says so). A gap
    becomes a finding when the current period holds at least 10 of its utterances a week, its
    weekly rate is at least double the baseline's (or it was absent then), and that growth is
    more than chance (a conditional Poisson test of its conversations per gap, false discoveries
    controlled at 1% over the gaps). Severity grows with the weekly volume. The fingerprint is
    the gap's two leading keywords; when they shift while the conversations stay (the gap's
    wording mix moved), the finding whose evidence is mostly among the gap's members is
    updated instead of a new one opened. The analysis runs it once a week of data: on a look
    whose data ends at least 7 days after the last look that ran it.
    """
    return knowledge_gap_findings(data, params)
