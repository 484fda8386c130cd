"""Which finding explains which: the root scope of a problem.

One problem shows up in many cells. An adoption drop at a site is also a drop in each of its
teams, and in every tenure band that has agents there; a model change on chat raises errors in
every team, site and journey with chat traffic. Each of those cells gets its own finding, but
they are one problem, and the backlog should hold one item for it.

A finding about metric *m* in cell *C* is **explained** by a finding about the same metric in a
larger cell *R* that overlaps it when *C* without *R* (the rows of *C* that are not in *R*)
shows no change of its own between the baseline and the current window: not significantly
worse (one-sided z below :data:`Z_EXPLAINED`), or worse by less than half the metric's smallest
effect worth a finding; or too few rows are left to tell. A team's drop is explained by its
site's (nothing of the team is left outside the site); a tenure band's error rise is explained
by chat's when the band's voice conversations did not change.

*C* is judged on its own days, the current window from its first-seen day on: a regression
seen on its first day, diluted in the whole week, would look unchanged outside any large cell
it overlaps. Too few rows left to tell count as no change only while they are under
:data:`MATERIAL_REST` of *C*.

Each explained finding carries ``details["root"]``: the fingerprint of the finding at the top of
its chain of explanations (the broadest cell that explains it, then what explains that), as
long as that top explains it too. Explanations do not chain on their own: a journey can be
mostly inside a tenure band whose change a knowledge gap explains while the journey's own
change lies outside the gap; such a finding is a problem of its own, the root of what it
explains. Only
findings about a journey or a segment are explained, and only by findings about a journey or a
segment: a deployment-wide finding would explain everything. A finding is explained only by a
strictly larger cell (more rows in the current window), so chains cannot loop.

The other way round, a worsening finding (a journey's, a segment's or the deployment's) is
explained **from inside** by a worsening of the same metric in a strictly smaller cell when
its rows outside that cell show no change of their own: a model change on chat raises the
deployment's latency, and that of English (mostly chat), only through chat. Such a link is
made only for a finding nothing else explains, and never where the smaller cell's chain of
explanations already leads to the larger one, so chains still cannot loop.

A finding that knows the very conversations it is about (its ``members``, such as a knowledge
gap: the conversations whose customers asked what the bot could not answer) explains a metric
finding in the same way, with those conversations in place of a cell: a journey's fallback
rise is the gap's when the journey's conversations outside the gap did not change. The gap is
the cause, so it is preferred as the root over a broader cell; where no single gap explains a
finding but all of them together do, the gap holding most of the finding's conversations is
its root. Findings with members are never explained themselves, so chains still cannot loop.

A **target breach** (an SLO breach or a plateau below target: deployment-wide findings) is
explained by the regression that drives it: a journey's or segment's worsening finding of the
same metric whose cell, put back at its own baseline, would bring the deployment back to its
target in the current window (of several, the one that brings it furthest). The breach is
then a symptom of that regression: one problem, its cost counted once. Deployment-wide
findings never explain anything, so these links cannot loop either; the one exception is a
**plateau** below a target, which is the same problem as the breach of that target: the breach
explains it.

More ways one problem shows as several findings, each made one problem here:

- **one cell, several metrics**: a model change that slows chat answers and makes more of them
  fail, a flow change that sends more of a journey to agents (its escalation, its containment,
  its handle time, its hand-overs after confident answers). Findings about the same cell (the
  same journey and segment) whose first-seen dates lie within :data:`SAME_ONSET_DAYS` of each
  other, or of which one is a trend whose run of worsening weeks had begun when the other was
  first seen, are one problem; the most severe (then the most conversations affected) is its root,
  unless one of them stood for the problem after the previous look: that one keeps standing
  for it while it is still one of its findings (:func:`kept_cell_roots`, applied where the
  findings are recorded, which knows the previous look).
- **one launch, many questions**: knowledge gaps of one deployment whose questions landed in
  the same journeys (their journey mixes overlap by at least :data:`GAP_FAMILY_OVERLAP`, as the
  backlog joins them into one item) are one problem, rooted at the largest.
- **one cause, seen from afar**: a finding whose evidence conversations are at least half a
  cause's own (a gap's questions: the intent mix that moved to fallbacks, the new words
  customers use), or at least half the deployment's gaps' together, is the symptom of the
  cause holding the most of them.
- **a gap's symptoms**: a worsening of a metric a question moves, in a journey where a gap's
  questions arrive, whose evidence holds some of them and which began with the gap (see
  :func:`gap_symptoms`). It is preferred over a broader cell's explanation: the closer
  cause is the root.
- **known problems together**: a cell whose change lies wholly inside the known problems of
  its metric, none of which explains it alone, is the symptom of the one adding most to it
  (see :func:`_explained_together`).

A target breach that no one regression or gap would bring back to its target, but all of
them together would, is the symptom of the one bringing it furthest.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.detect.cells import MONITORED_BY_ID, Monitored, in_window, started_ns, summarise
from daytwo.detect.cells import segment_column as _segment_column
from daytwo.detect.data import AnalysisData
from daytwo.detect.findings import Finding, FindingScope

# One-sided z at or above which the rest of a cell is still worse on its own (p < 0.005).
Z_EXPLAINED = 2.58
# Fewer units than this left outside the explaining cell: nothing of its own to tell.
MIN_LEFT = 30
# ... unless what is left is at least this share of the cell: then it is untested, not unchanged.
MATERIAL_REST = 0.25
# Deployment-wide findings about a target, explained by the regression that drives them.
TARGET_KINDS = frozenset({"slo_breach", "plateau"})
# The findings that say a cell got worse, which can drive a target breach.
WORSENING_KINDS = frozenset({"degradation", "trend"})
# Findings about one cell whose first-seen dates are at most this far apart: one problem.
SAME_ONSET_DAYS = 7
# Knowledge gaps whose journey mixes share at least this much came with one launch or change.
GAP_FAMILY_OVERLAP = 0.5
GAP_KIND = "knowledge_gap"
# The metrics a customer's unanswered question moves in the journey where it was asked: the
# bot falls back or is asked again, the customer is handed over, gives up or is unhappy.
GAP_SYMPTOM_METRICS = frozenset(
    {
        "fallback_rate_conversation",
        "rephrase_rate",
        "containment_rate",
        "escalation_rate",
        "abandonment_rate",
        "csat",
    }
)
# A journey where at least this share of a knowledge gap's questions arrive is the gap's.
GAP_JOURNEY_SHARE = 0.25
# Known problems explain a cell together only where their conversations are at most this
# share of it: a cell made mostly of other problems' cells (English of chat and voice) is no
# more theirs than they are its.
TOGETHER_MAX_SHARE = 0.5
# A finding with at least this many evidence conversations, half of them a cause's, is its.
MIN_EVIDENCE = 5


def journey_overlap(a: Mapping[str, int], b: Mapping[str, int]) -> float:
    """How much two journey mixes share: the sum over journeys of the smaller of the two shares
    (1: the same mix; 0: no journey in common)."""
    ta, tb = sum(a.values()), sum(b.values())
    if ta <= 0 or tb <= 0:
        return 0.0
    return sum(min(a[j] / ta, b.get(j, 0) / tb) for j in a)


def root_weight(f: Finding) -> tuple[int, float, str]:
    """Which of several findings of one problem stands for it: the most severe, then the one
    affecting the most conversations (the fingerprint breaks ties, so the choice is stable)."""
    return (int(f.severity), f.impact.interactions_per_week, f.fingerprint)


def _same_onset(a: Finding, b: Finding) -> bool:
    """Whether two findings about one cell began at about the same time: first seen within
    :data:`SAME_ONSET_DAYS` of each other, or one of them a trend (whose first-seen date is
    the start of its run of worsening weeks) that was already running when the other began."""

    def running(t: Finding, o: Finding) -> bool:
        return t.kind == "trend" and t.first_seen <= o.first_seen <= t.last_seen

    near = abs(a.first_seen - b.first_seen) <= timedelta(SAME_ONSET_DAYS)
    return near or running(a, b) or running(b, a)


def _one_problem(
    findings: Sequence[Finding], parent: dict[str, str], broader: frozenset[str] = frozenset()
) -> dict[str, str]:
    """The links of the rules above that need no data: the same cell at about the same time, a
    knowledge-gap family, a gap's symptoms, a cause's evidence, a plateau under its target's
    breach. Only findings nothing explains yet are linked, and (to a gap, as its symptoms)
    those only a broader cell explains (``broader``). No chain can loop: a gap links only to
    the largest gap of its family (which links nowhere), other findings to a gap, to the root
    of their cell (which links to a gap at most) or, a plateau, to its breach (which links to
    a gap at most)."""
    free = [f for f in findings if f.fingerprint not in parent]
    # Findings only a broader cell explains: the knowledge gap whose questions they are is
    # the closer cause, and is preferred (the link goes to the top of the gap's family, so no
    # chain of explanations can drop it).
    loose = [f for f in findings if f.fingerprint not in parent or f.fingerprint in broader]
    links: dict[str, str] = {}
    cells: dict[tuple[str, str | None, tuple[str, str] | None], list[Finding]] = {}
    for f in free:
        if (f.scope.journey is not None or f.scope.segment is not None) and not f.members:
            cells.setdefault((f.scope.deployment, f.scope.journey, f.scope.segment), []).append(f)
    gaps: dict[str, list[Finding]] = {}
    for f in free:
        if f.kind == GAP_KIND and f.details.get("journeys"):
            gaps.setdefault(f.scope.deployment, []).append(f)
    for group in cells.values():
        ordered = sorted(group, key=root_weight, reverse=True)
        roots: list[Finding] = []
        for f in ordered:
            root = next((r for r in roots if _same_onset(r, f)), None)
            if root is None:
                roots.append(f)
            else:
                links[f.fingerprint] = root.fingerprint
    for group in gaps.values():
        ordered = sorted(group, key=lambda f: (f.impact.interactions_per_week, f.fingerprint))
        roots = []
        for f in reversed(ordered):
            root = next(
                (
                    r
                    for r in roots
                    if journey_overlap(f.details["journeys"], r.details["journeys"])
                    >= GAP_FAMILY_OVERLAP
                ),
                None,
            )
            if root is None:
                roots.append(f)
            else:
                links[f.fingerprint] = root.fingerprint
    causes = [f for f in findings if f.members]
    links.update(gap_symptoms(loose, causes, {**parent, **links}))
    for f in free:
        if f.members or f.fingerprint in links or len(f.evidence) < MIN_EVIDENCE:
            continue
        mine = [c for c in causes if c.scope.deployment == f.scope.deployment]
        held = [sum(e in c.members for e in f.evidence) for c in mine]
        best = max(range(len(mine)), key=lambda i: held[i], default=None)
        if best is None:
            continue
        # One gap's questions, or (one launch's questions spread over several gaps) the
        # deployment's gaps together: the cause is then the gap holding the most.
        together = sum(any(e in c.members for c in mine) for e in f.evidence)
        if held[best] * 2 >= len(f.evidence) or (held[best] and together * 2 >= len(f.evidence)):
            links[f.fingerprint] = mine[best].fingerprint
    breaches = {
        (f.scope.deployment, f.scope.metric): f
        for f in findings
        if f.kind == "slo_breach" and f.scope.level == "metric"
    }
    for f in free:
        breach = breaches.get((f.scope.deployment, f.scope.metric))
        if f.kind == "plateau" and breach is not None:
            links[f.fingerprint] = breach.fingerprint
    return links


def _cell_of(f: Finding) -> tuple[str, str | None, tuple[str, str] | None] | None:
    """The cell whose findings the same-cell rule makes one problem (``None``: no such cell)."""
    if f.members or (f.scope.journey is None and f.scope.segment is None):
        return None
    return (f.scope.deployment, f.scope.journey, f.scope.segment)


def kept_cell_roots(findings: Sequence[Finding], standing: Collection[str]) -> list[Finding]:
    """``findings`` (one look's, with their roots) with each cell's problem still shown by the
    finding that showed it before, where that one still qualifies.

    ``standing`` holds the fingerprints that stood for a problem of their own after the
    previous look (recorded open or regressed, with no root). The same-cell rule roots a
    cell's findings of one problem at the heaviest of them, and two of them can be about as
    heavy: a flow change that sends a journey's customers to agents raises its escalation and
    lowers its containment by about the same points, each effect hovering around a severity
    threshold, so one look found one more severe and the next the other, and the problem
    (and its backlog item's name) changed hands look after look. A finding that stood for its
    cell's problem keeps standing for it while it is still one of that problem's findings: a
    look that roots it at another finding of the same cell, about the same onset (see
    :func:`_same_onset`), which itself stands alone in the look and did not stand before, is
    read the other way round; the finding it chose, and everything rooted at it, are rooted at
    the standing one. Where several standing findings are rooted at one, the heaviest keeps
    the problem (:func:`root_weight`)."""
    if not standing:
        return list(findings)
    by_print = {f.fingerprint: f for f in findings}
    keepers: dict[str, Finding] = {}  # the look's root → the standing finding kept instead
    for f in findings:
        root = f.details.get("root")
        if f.fingerprint not in standing or not isinstance(root, str) or root in standing:
            continue
        chosen = by_print.get(root)
        cell = _cell_of(f)
        if (
            chosen is None
            or cell is None
            or _cell_of(chosen) != cell
            or chosen.details.get("root") is not None
            or not _same_onset(f, chosen)
        ):
            continue
        was = keepers.get(root)
        if was is None or root_weight(f) > root_weight(was):
            keepers[root] = f
    if not keepers:
        return list(findings)
    renamed = {root: kept.fingerprint for root, kept in keepers.items()}
    out = []
    for f in findings:
        fp, root = f.fingerprint, f.details.get("root")
        if fp in renamed:  # the look's root: now the kept one's
            f = dataclasses.replace(f, details={**dict(f.details), "root": renamed[fp]})
        elif isinstance(root, str) and root in renamed:
            details = {k: v for k, v in f.details.items() if k != "root"}
            if renamed[root] != fp:  # the kept one stands alone again
                details["root"] = renamed[root]
            f = dataclasses.replace(f, details=details)
        out.append(f)
    return out


def gap_symptoms(
    free: Sequence[Finding], causes: Sequence[Finding], parent: Mapping[str, str]
) -> dict[str, str]:
    """The worsenings a knowledge gap makes in the journeys where its questions arrive: a
    journey's (or a journey's segment's) fallback, rephrase, containment, escalation,
    abandonment or satisfaction finding, nothing else explains, whose scope and onset fit a
    gap of its deployment: the journey takes at least :data:`GAP_JOURNEY_SHARE` of the gap's
    questions, the finding's evidence holds some of them, and it began with the gap (first
    seen at most :data:`SAME_ONSET_DAYS` before it, or a trend whose run had begun and was
    still running when the gap was first seen). Mapped to the top of the gap's family (the
    gap whose family holds the most of its evidence), so that the link needs no chain."""
    out: dict[str, str] = {}
    gaps = [c for c in causes if c.kind == GAP_KIND and c.details.get("journeys")]
    if not gaps:
        return out
    for f in free:
        journey = f.scope.journey
        if (
            journey is None
            or f.members
            or f.kind not in WORSENING_KINDS
            or f.scope.metric not in GAP_SYMPTOM_METRICS
            or not f.evidence
        ):
            continue
        best: tuple[int, float, str] | None = None
        for g in gaps:
            if g.scope.deployment != f.scope.deployment:
                continue
            mix: Mapping[str, int] = g.details["journeys"]
            total = sum(mix.values())
            if total <= 0 or mix.get(journey, 0) / total < GAP_JOURNEY_SHARE:
                continue
            began = f.first_seen >= g.first_seen - timedelta(SAME_ONSET_DAYS) or (
                f.kind == "trend" and f.first_seen <= g.first_seen <= f.last_seen
            )
            held = sum(e in g.members for e in f.evidence)
            if not began or held == 0:
                continue
            key = (held, g.impact.interactions_per_week, g.fingerprint)
            if best is None or key > best:
                best = key
        if best is not None:
            top = best[2]
            out[f.fingerprint] = parent.get(top, top)
    return out


def _cell_mask(table: pa.Table, scope: FindingScope, cache: dict[object, np.ndarray]) -> np.ndarray:
    key = (scope.journey, scope.segment)
    found = cache.get(key)
    if found is not None:
        return found
    mask = np.ones(table.num_rows, dtype=bool)
    if scope.journey is not None:
        mask &= np.asarray(
            pc.fill_null(pc.equal(table["journey"], scope.journey), False).to_numpy(
                zero_copy_only=False
            ),
            dtype=bool,
        )
    if scope.segment is not None:
        column = _segment_column(table, scope.segment[0])
        mask &= np.asarray(
            pc.fill_null(pc.equal(column, scope.segment[1]), False).to_numpy(zero_copy_only=False),
            dtype=bool,
        )
    cache[key] = mask
    return mask


def _worse_alone(
    m: Monitored,
    values: np.ndarray,
    weights: np.ndarray,
    base: np.ndarray,
    cur: np.ndarray,
    whole: np.ndarray,
) -> bool:
    """Whether the rows in ``base`` and ``cur`` (what is left of a cell whose current rows are
    ``whole``) show a change of their own for the worse.

    Too few rows left to test, but worse by their point value, are no change of their own only
    while they are a small part of the cell: a fresh change judged on its first day leaves few
    rows anywhere, and a quarter of a journey's one day, worse but untested, is no evidence
    that a larger cell explains it."""
    before = summarise(m, values, weights, base)
    after = summarise(m, values, weights, cur)
    if before.value is None or after.value is None or before.n < MIN_LEFT:
        return False
    worse = (before.value - after.value) if m.good == "up" else (after.value - before.value)
    if m.kind == "mean":
        effect = worse / abs(before.value) if before.value else math.inf
    else:
        effect = worse
    if effect < m.min_effect / 2:
        return False
    if after.n < MIN_LEFT:
        return after.n >= MATERIAL_REST * summarise(m, values, weights, whole).n
    se = math.sqrt(before.se2 + after.se2)
    return se == 0 or worse / se >= Z_EXPLAINED


class _Rows:
    """The rows each test reads: the baseline window, and a finding's own current rows (the
    current window from its first-seen day on: a change seen on the last day is judged on that
    day, where it is, not diluted in a week it was absent from most of).

    Every test reads rows of the baseline or the current window only, so :attr:`table` holds
    those rows alone (the analysis's other weeks of history, read for the trends, left out):
    each mask and sum then runs over a third of the rows or so, and sums the same rows in the
    same order as over the whole."""

    def __init__(self, data: AnalysisData) -> None:
        w = data.window
        starts = started_ns(data.interactions)
        base = in_window(starts, w.baseline_start, w.baseline_end)
        current = in_window(starts, w.current_start, w.current_end)
        judged = base | current
        self.table = data.interactions
        if not judged.all():
            self.table = self.table.filter(pa.array(judged))
            starts, base, current = starts[judged], base[judged], current[judged]
        self.starts = starts
        self.window = w
        self.base = base
        self.current = current
        self._since: dict[object, np.ndarray] = {}

    def of(self, f: Finding) -> np.ndarray:
        start = max(self.window.current_start, f.first_seen)
        if start <= self.window.current_start or start >= self.window.current_end:
            return self.current
        found = self._since.get(start)
        if found is None:
            found = self._since[start] = in_window(self.starts, start, self.window.current_end)
        return found


def with_roots(data: AnalysisData, findings: Sequence[Finding]) -> list[Finding]:
    """``findings``, each one that a broader finding explains marked with its root's fingerprint."""
    table = data.interactions
    candidates = [
        f
        for f in findings
        if f.scope.metric in MONITORED_BY_ID
        and (f.scope.journey is not None or f.scope.segment is not None)
        and not f.members
    ]
    causes = [f for f in findings if f.members]
    targets = [f for f in findings if f.kind in TARGET_KINDS and f.scope.level == "metric"]
    wide = [f for f in findings if f.kind in WORSENING_KINDS and f.scope.level == "metric"]
    if (
        table.num_rows == 0
        or not (candidates or (targets and causes))
        or len(candidates) + len(causes) + len(wide) < 2 - len(targets)
    ):
        return _rooted(findings, _one_problem(findings, {}))
    rows = _Rows(data)
    table = rows.table
    base_rows, cur_rows = rows.base, rows.current
    masks: dict[object, np.ndarray] = {}
    arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    parent: dict[str, str] = {}
    for target in targets:
        found = _driving_regression(
            table, target, candidates, causes, base_rows, cur_rows, masks, arrays
        )
        if found is not None:
            parent[target.fingerprint] = found
    broader: set[str] = set()  # explained by a broader cell only, so far
    by_metric: dict[str, list[Finding]] = {}
    for f in candidates:
        by_metric.setdefault(str(f.scope.metric), []).append(f)
    for metric, group in by_metric.items():
        if len(group) < 2:
            continue
        m = MONITORED_BY_ID[metric]
        if metric not in arrays:
            arrays[metric] = m.arrays(table)
        values, weights = arrays[metric]
        size = {
            f.fingerprint: int((_cell_mask(table, f.scope, masks) & cur_rows & (weights > 0)).sum())
            for f in group
        }
        for child in group:
            c_mask = _cell_mask(table, child.scope, masks)
            c_rows = rows.of(child)
            best: Finding | None = None
            for cand in group:
                if cand.fingerprint == child.fingerprint:
                    continue
                if size[cand.fingerprint] <= size[child.fingerprint]:
                    continue
                r_mask = _cell_mask(table, cand.scope, masks)
                if not (c_mask & r_mask & cur_rows).any():
                    continue
                rest = c_mask & ~r_mask
                if _worse_alone(
                    m, values, weights, rest & base_rows, rest & c_rows, c_mask & c_rows
                ):
                    continue
                if best is None or size[cand.fingerprint] > size[best.fingerprint]:
                    best = cand
            if best is not None:
                parent[child.fingerprint] = best.fingerprint
                broader.add(child.fingerprint)
    if causes:
        by_members = _explained_by_members(table, candidates, causes, rows, masks, arrays)
        parent.update(by_members)
        broader.difference_update(by_members)
    parent.update(_explained_from_inside(table, findings, candidates, parent, rows, masks, arrays))
    parent.update(_one_problem(findings, parent, frozenset(broader)))
    parent.update(_explained_together(table, findings, candidates, parent, rows, masks, arrays))
    by_print = {f.fingerprint: f for f in findings}
    checked = {f.fingerprint for f in candidates}
    # The knowledge gaps of one family stand together: their questions are the problem's.
    family: dict[str, list[Finding]] = {}
    for c in causes:
        if c.fingerprint in parent:
            family.setdefault(parent[c.fingerprint], []).append(c)

    def explains(root: str, child: str) -> bool:
        """Whether ``root`` explains ``child`` directly (what a chain of explanations says is
        not always so: a cell can explain most of a larger one that explains another)."""
        f = by_print[child]
        if child not in checked:
            return True
        m = MONITORED_BY_ID[str(f.scope.metric)]
        if m.metric not in arrays:
            arrays[m.metric] = m.arrays(table)
        values, weights = arrays[m.metric]
        cell = _cell_mask(table, f.scope, masks)
        rest = cell & ~_problem_mask(table, by_print[root], family.get(root, ()), masks)
        own = rows.of(f)
        return not _worse_alone(m, values, weights, rest & base_rows, rest & own, cell & own)

    return _rooted(findings, parent, explains)


def _rooted(
    findings: Sequence[Finding],
    parent: dict[str, str],
    explains: Callable[[str, str], bool] | None = None,
) -> list[Finding]:
    """``findings``, each one in ``parent`` marked with its root.

    A finding's root is its parent's root when that one explains the finding too
    (``explains(root, child)``; without it, always): explanations do not chain on their own. A
    cell can explain most of a larger cell that a third one explains, while the first cell's
    change lies outside the third (a journey's fresh regression inside a tenure band whose
    week-long change a knowledge gap explains). Where the parent's root does not explain the
    finding, the parent is itself part of another problem, so the finding is a problem of its
    own: no root (what it explains follows it as their root)."""
    if not parent:
        return list(findings)
    resolved: dict[str, str | None] = {}

    def root_of(fp: str) -> str | None:
        if fp in resolved:
            return resolved[fp]
        chain = [fp]
        while chain[-1] in parent and chain[-1] not in resolved and parent[chain[-1]] not in chain:
            chain.append(parent[chain[-1]])
        for child in reversed(chain):
            if child in resolved:
                continue
            up = parent.get(child)
            if up is None:
                resolved[child] = None
                continue
            top = resolved.get(up) or up
            resolved[child] = (
                None
                if top == child or (top != up and explains is not None and not explains(top, child))
                else top
            )
        return resolved[fp]

    out = []
    for f in findings:
        root = root_of(f.fingerprint)
        out.append(
            f if root is None else dataclasses.replace(f, details={**dict(f.details), "root": root})
        )
    return out


def _reaches(parent: Mapping[str, str], start: str, goal: str) -> bool:
    """Whether ``goal`` is on the chain of parents from ``start`` (``start`` included)."""
    seen = set()
    at: str | None = start
    while at is not None and at not in seen:
        if at == goal:
            return True
        seen.add(at)
        at = parent.get(at)
    return False


def _explained_from_inside(
    table: pa.Table,
    findings: Sequence[Finding],
    candidates: Sequence[Finding],
    parent: Mapping[str, str],
    rows: _Rows,
    masks: dict[object, np.ndarray],
    arrays: dict[str, tuple[np.ndarray, np.ndarray]],
) -> dict[str, str]:
    """Worsening findings explained by a smaller cell's worsening of the same metric inside
    them: each finding (about a cell, or deployment-wide) that nothing explains yet, mapped to
    the largest smaller cell's finding outside which its own rows show no change.

    A model change on chat slows chat answers; the deployment's latency, and English's (most
    of chat is in English), rise too, only because of chat. Without this, those are problems
    of their own beside chat's. Only a strictly smaller cell explains a larger one here, and
    never one on whose chain of explanations the larger already is, so no chain loops."""
    out: dict[str, str] = {}
    inner: dict[str, list[Finding]] = {}
    for c in candidates:
        if c.kind in WORSENING_KINDS:
            inner.setdefault(str(c.scope.metric), []).append(c)
    for f in findings:
        metric = str(f.scope.metric)
        if (
            f.fingerprint in parent
            or f.kind not in WORSENING_KINDS
            or f.members
            or metric not in inner
            or metric not in MONITORED_BY_ID
        ):
            continue
        m = MONITORED_BY_ID[metric]
        if metric not in arrays:
            arrays[metric] = m.arrays(table)
        values, weights = arrays[metric]
        own = rows.of(f)
        cell = _cell_mask(table, f.scope, masks) & (weights > 0)
        size = int((cell & own).sum())
        best: tuple[int, str] | None = None
        for c in inner[metric]:
            if c.fingerprint == f.fingerprint or _reaches(parent, c.fingerprint, f.fingerprint):
                continue
            c_mask = _cell_mask(table, c.scope, masks)
            inside = int((cell & c_mask & own).sum())
            if inside == 0 or inside >= size:
                continue  # not inside, or not smaller: the broader-cell rule's case
            rest = cell & ~c_mask
            if _worse_alone(m, values, weights, rest & rows.base, rest & own, cell & own):
                continue
            if best is None or inside > best[0]:
                best = (inside, c.fingerprint)
        if best is not None:
            out[f.fingerprint] = best[1]
    return out


def _driving_regression(
    table: pa.Table,
    target: Finding,
    candidates: Sequence[Finding],
    causes: Sequence[Finding],
    base_rows: np.ndarray,
    cur_rows: np.ndarray,
    masks: dict[object, np.ndarray],
    arrays: dict[str, tuple[np.ndarray, np.ndarray]],
) -> str | None:
    """The fingerprint of the problem that, undone, would meet ``target``'s target: a cell's
    regression put back at the cell's baseline, or a knowledge gap's conversations put back
    at their journeys' baseline. Of several that each would, the one that brings the
    deployment furthest; where none alone would but all of them together would (a breach two
    problems drive), the one of them that brings it furthest."""
    goal = target.details.get("target")
    metric = str(target.scope.metric)
    m = MONITORED_BY_ID.get(metric)
    if m is None or not isinstance(goal, int | float):
        return None
    if metric not in arrays:
        arrays[metric] = m.arrays(table)
    values, weights = arrays[metric]
    now = summarise(m, values, weights, cur_rows)
    if now.value is None or now.den <= 0:
        return None
    sign = 1 if m.good == "up" else -1
    # Each possible cause: where it is now, and the rows whose baseline it would go back to.
    drivers: list[tuple[str, np.ndarray, np.ndarray]] = []
    for cand in candidates:
        if cand.scope.metric == metric and cand.kind in WORSENING_KINDS:
            cell = _cell_mask(table, cand.scope, masks)
            drivers.append((cand.fingerprint, cell, cell))
    for gap in causes:
        journeys = gap.details.get("journeys")
        if gap.scope.deployment != target.scope.deployment or not isinstance(journeys, dict):
            continue
        drivers.append(
            (gap.fingerprint, _member_mask(table, gap, masks), _journeys_mask(table, journeys))
        )

    def undone(now_mask: np.ndarray, base_mask: np.ndarray) -> float | None:
        """The deployment's current value with ``now_mask``'s rows at ``base_mask``'s level."""
        before = summarise(m, values, weights, base_mask & base_rows)
        after = summarise(m, values, weights, now_mask & cur_rows)
        if before.value is None or after.value is None or now.value is None:
            return None
        return float((now.num - after.num + after.den * before.value) / now.den)

    def meets(value: float) -> bool:
        return value >= goal if m.good == "up" else value <= goal

    gains: list[tuple[float, str, bool]] = []
    for fp, now_mask, base_mask in drivers:
        value = undone(now_mask, base_mask)
        if value is not None and (value - now.value) * sign > 0:
            gains.append(((value - now.value) * sign, fp, meets(value)))
    if not gains:
        return None
    alone = [g for g in gains if g[2]]
    if alone:
        return max(alone)[1]
    helping = {fp for _, fp, _ in gains}
    together_now = np.logical_or.reduce([n for fp, n, _ in drivers if fp in helping])
    together_base = np.logical_or.reduce([b for fp, _, b in drivers if fp in helping])
    value = undone(together_now, together_base)
    return max(gains)[1] if value is not None and meets(value) else None


def _problem_mask(
    table: pa.Table, f: Finding, family: Sequence[Finding], masks: dict[object, np.ndarray]
) -> np.ndarray:
    """The rows the problem rooted at ``f`` is about: its members and those of the findings
    with members it stands for (``family``), its cell, or (deployment-wide) every row."""
    if not f.members:
        return _cell_mask(table, f.scope, masks)
    mask = _member_mask(table, f, masks)
    for other in family:
        mask = mask | _member_mask(table, other, masks)
    return mask


def _member_mask(table: pa.Table, f: Finding, masks: dict[object, np.ndarray]) -> np.ndarray:
    key = ("members", f.fingerprint)
    found = masks.get(key)
    if found is None:
        ids = table["interaction_id"]
        found = masks[key] = np.asarray(
            pc.fill_null(pc.is_in(ids, pa.array(sorted(f.members), pa.string())), False).to_numpy(
                zero_copy_only=False
            ),
            dtype=bool,
        )
    return found


def _explained_by_members(
    table: pa.Table,
    candidates: Sequence[Finding],
    causes: Sequence[Finding],
    rows: _Rows,
    masks: dict[object, np.ndarray],
    arrays: dict[str, tuple[np.ndarray, np.ndarray]],
) -> dict[str, str]:
    """Each candidate that a finding with members explains, mapped to that finding's fingerprint.

    ``masks`` and ``arrays`` are the cell and member masks and metric arrays already computed
    (filled in here where missing)."""
    base_rows = rows.base
    member_masks = [_member_mask(table, c, masks) for c in causes]
    union = np.logical_or.reduce(member_masks) if len(member_masks) > 1 else member_masks[0]
    out: dict[str, str] = {}
    for child in candidates:
        cur_rows = rows.of(child)
        m = MONITORED_BY_ID[str(child.scope.metric)]
        if m.metric not in arrays:
            arrays[m.metric] = m.arrays(table)
        values, weights = arrays[m.metric]
        cell = _cell_mask(table, child.scope, masks) & (weights > 0)
        held = [int((cell & mm & cur_rows).sum()) for mm in member_masks]
        if max(held) == 0:
            continue  # the finding's current conversations hold none of its conversations
        best: int | None = None
        for i in sorted(range(len(causes)), key=lambda i: -held[i]):
            rest = cell & ~member_masks[i]
            if held[i] and not _worse_alone(
                m, values, weights, rest & base_rows, rest & cur_rows, cell & cur_rows
            ):
                best = i
                break
        if best is None:
            rest = cell & ~union
            if _worse_alone(m, values, weights, rest & base_rows, rest & cur_rows, cell & cur_rows):
                continue
            best = int(np.argmax(held))
        out[child.fingerprint] = causes[best].fingerprint
    return out


def _explained_together(
    table: pa.Table,
    findings: Sequence[Finding],
    candidates: Sequence[Finding],
    parent: Mapping[str, str],
    rows: _Rows,
    masks: dict[object, np.ndarray],
    arrays: dict[str, tuple[np.ndarray, np.ndarray]],
) -> dict[str, str]:
    """Findings that no one problem explains but the known problems together do: each
    candidate nothing explains yet whose rows outside every other problem of its metric (the
    cells of the journeys' and segments' worsening findings that stand alone, and the
    conversations of the knowledge gaps, for the metrics a gap moves) show no change of their
    own, mapped to the problem that adds the most to its change. Their conversations must be
    at most :data:`TOGETHER_MAX_SHARE` of the cell's.

    A team's escalations rise because a flow change sends one journey's customers to agents
    and a knowledge gap sends another's: no one of them explains the team, both together do,
    and the team is no problem of its own. A cell with a change of its own outside them stays
    one. Only problems that stand alone are roots here, and a finding linked here is not
    one, so no chain loops."""
    tops = [f for f in findings if f.fingerprint not in parent]
    out: dict[str, str] = {}
    targets: set[str] = set()
    for child in candidates:
        if child.fingerprint in parent:
            continue
        metric = str(child.scope.metric)
        m = MONITORED_BY_ID[metric]
        problems: list[tuple[str, np.ndarray, np.ndarray]] = []
        for p in tops:
            if p.fingerprint == child.fingerprint or p.fingerprint in out:
                continue
            if p.scope.deployment != child.scope.deployment:
                continue
            if p.members:
                journeys = p.details.get("journeys")
                if p.kind == GAP_KIND and metric in GAP_SYMPTOM_METRICS and journeys:
                    problems.append(
                        (
                            p.fingerprint,
                            _member_mask(table, p, masks),
                            _journeys_mask(table, journeys),
                        )
                    )
            elif (
                p.kind in WORSENING_KINDS
                and p.scope.metric == metric
                and (p.scope.journey is not None or p.scope.segment is not None)
            ):
                cell = _cell_mask(table, p.scope, masks)
                problems.append((p.fingerprint, cell, cell))
        if not problems:
            continue
        if metric not in arrays:
            arrays[metric] = m.arrays(table)
        values, weights = arrays[metric]
        own = rows.of(child)
        cell = _cell_mask(table, child.scope, masks) & (weights > 0)
        union = np.logical_or.reduce([now for _, now, _ in problems])
        inside = int((cell & union & own).sum())
        if inside == 0 or inside > TOGETHER_MAX_SHARE * int((cell & own).sum()):
            continue  # none of them there, or the cell mostly theirs: not told apart
        rest = cell & ~union
        if _worse_alone(m, values, weights, rest & rows.base, rest & own, cell & own):
            continue
        sign = -1.0 if m.good == "up" else 1.0
        best: tuple[float, str] | None = None
        for fp, now, base in problems:
            after = summarise(m, values, weights, cell & now & own)
            before = summarise(m, values, weights, cell & base & rows.base)
            if after.value is None or before.value is None:
                continue
            excess = (after.value - before.value) * sign * after.den
            if excess > 0 and (best is None or (excess, fp) > best):
                best = (excess, fp)
        if best is not None and child.fingerprint not in targets:
            out[child.fingerprint] = best[1]
            targets.add(best[1])
    return out


def _journeys_mask(table: pa.Table, journeys: Mapping[str, int]) -> np.ndarray:
    """The rows of the journeys of a knowledge gap's journey mix."""
    return np.asarray(
        pc.fill_null(pc.is_in(table["journey"], pa.array(sorted(journeys))), False).to_numpy(
            zero_copy_only=False
        ),
        dtype=bool,
    )
