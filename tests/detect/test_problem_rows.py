"""One row per problem across looks: a symptom follows its root's chain through findings that
are not shown, and a held root's findings stand together until it is raised."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from daytwo.detect import Finding, FindingScope, Severity
from daytwo.detect.findings import Impact
from daytwo.detect.schemas import FindingFilter
from daytwo.detect.service import (
    Recorded,
    list_findings,
    problems_of,
    record_findings,
    stand_in_for_held,
    start_run,
)
from daytwo.store.ledger import Ledger, upgrade

T0 = datetime(2026, 3, 2, tzinfo=UTC)
DAY = timedelta(days=1)


def _finding(
    key: str,
    *,
    detector: str = "degradation",
    segment: tuple[str, str] | None = None,
    root: str | None = None,
    per_week: float = 10.0,
) -> Finding:
    scope = FindingScope("bot", journey=None if segment else key, segment=segment)
    return Finding(
        detector, detector, f"worse in {key}", scope, Severity.medium, T0, T0 + DAY,
        key=(key,), evidence=("c1",), impact=Impact(interactions_per_week=per_week),
        details={"root": root} if root else {},
    )  # fmt: skip


def _look(ledger: Ledger, detector: str, through: datetime, *findings: Finding) -> Recorded:
    run_id = start_run(ledger, "bot", [detector])
    return record_findings(
        ledger, run_id, "bot", [detector], findings, since=None,
        data_through=through, interactions=10,
    )  # fmt: skip


def test_a_symptom_of_a_resolved_root_stands_under_the_problem_that_root_joined(
    ledger_url: str,
) -> None:
    upgrade(ledger_url)
    ledger = Ledger(ledger_url)
    old, new = _finding("old", detector="gap"), _finding("new", detector="gap")
    symptom = _finding("fallback", root=old.fingerprint)
    _look(ledger, "gap", T0, old)
    _look(ledger, "degradation", T0, symptom)
    # The next clustering sees the old gap inside the new one, then only the new one.
    _look(ledger, "gap", T0 + DAY, new, _finding("old", detector="gap", root=new.fingerprint))
    _look(ledger, "gap", T0 + 2 * DAY, new)
    every = list_findings(ledger, FindingFilter())
    shown = list_findings(ledger, FindingFilter(status=["open", "regressed"]))
    assert {f.key[0] for f in shown} == {"new", "fallback"}
    top, symptoms = problems_of(shown, every)
    assert [f.key[0] for f in top] == ["new"]
    assert symptoms == {new.fingerprint: 1}
    # Without the findings that are not shown the chain breaks: two rows.
    assert len(problems_of(shown)[0]) == 2
    ledger.dispose()


def test_the_heaviest_finding_of_a_held_root_stands_for_it() -> None:
    site = _finding("site", segment=("site", "porto"))
    light = _finding("refunds", root=site.fingerprint, per_week=10)
    heavy = _finding("payments", root=site.fingerprint, per_week=50)
    alone = _finding("cards")
    out = {f.key[0]: f.details.get("root") for f in stand_in_for_held(
        [site, light, heavy, alone], {site.fingerprint}
    )}  # fmt: skip
    assert out == {"site": None, "refunds": heavy.fingerprint, "payments": None, "cards": None}
    # A raised root keeps its findings.
    assert stand_in_for_held([site, light, heavy], set()) == [site, light, heavy]


def test_findings_of_a_held_never_raised_root_are_one_problem(ledger_url: str) -> None:
    upgrade(ledger_url)
    ledger = Ledger(ledger_url)
    _look(ledger, "degradation", T0, _finding("a", segment=("team", "a")))
    site = _finding("site", segment=("site", "porto"))
    looked = _look(
        ledger, "degradation", T0 + DAY, _finding("a", segment=("team", "a")), site,
        _finding("refunds", root=site.fingerprint),
        _finding("payments", root=site.fingerprint, per_week=50),
    )  # fmt: skip
    assert looked.held_fingerprints == (site.fingerprint,)
    shown = list_findings(ledger, FindingFilter(status=["open", "regressed"]))
    top, _ = problems_of(shown, shown)
    assert sorted(f.key[0] for f in top) == ["a", "payments"]
    ledger.dispose()


def test_a_daily_look_keeps_a_root_that_a_later_clustering_folded_into_another(
    ledger_url: str,
) -> None:
    upgrade(ledger_url)
    ledger = Ledger(ledger_url)
    old, new = _finding("old", detector="gap"), _finding("new", detector="gap")
    _look(ledger, "gap", T0, old)
    _look(ledger, "degradation", T0, _finding("fallback", root=old.fingerprint))
    _look(ledger, "gap", T0 + DAY, new, _finding("old", detector="gap", root=new.fingerprint))
    _look(ledger, "gap", T0 + 2 * DAY, new)
    # The next daily look does not cluster: the fallback rise keeps its problem, the new gap.
    _look(ledger, "degradation", T0 + 3 * DAY, _finding("fallback"))
    [fallback] = list_findings(ledger, FindingFilter(kind="degradation"))
    assert fallback.details.get("root") == new.fingerprint
    ledger.dispose()


def _gap(key: str, began: datetime, members: frozenset[str]) -> Finding:
    return Finding(
        "gap", "knowledge_gap", f"gap {key}", FindingScope("bot"), Severity.medium, began,
        began + DAY, key=(key,), evidence=(f"{key}-e",),
        impact=Impact(interactions_per_week=10.0),
        details={"journeys": {"payments": 10, "balances": 8}}, members=members,
    )  # fmt: skip


def test_a_gap_resolved_weeks_after_its_launch_lives_on_under_a_gap_of_that_launch(
    ledger_url: str,
) -> None:
    upgrade(ledger_url)
    ledger = Ledger(ledger_url)
    deposit = frozenset({"d1", "d2"})
    _look(ledger, "gap", T0, _gap("taxes", T0, frozenset({"t1"})), _gap("deposit", T0, deposit))
    # Five weeks on, the look's weeks begin long after the launch: its clustering dates the
    # deposit gap from their first day, and no longer sees the tax questions apart.
    later = T0 + 35 * DAY
    _look(ledger, "gap", later, _gap("deposit", later - 14 * DAY, deposit))
    taxes, deposit_row = (
        next(f for f in list_findings(ledger, FindingFilter()) if f.key == [k])
        for k in ("taxes", "deposit")
    )
    assert taxes.status == "resolved"
    assert taxes.details.get("root") == deposit_row.fingerprint
    ledger.dispose()


def _rise(journey: str, metric: str, root: str | None = None) -> Finding:
    return Finding(
        "degradation", "degradation", f"{metric} worse in {journey}",
        FindingScope("bot", journey=journey, metric=metric), Severity.medium, T0, T0 + DAY,
        key=(journey, metric), evidence=("d1", "x1"), impact=Impact(interactions_per_week=10.0),
        details={"root": root} if root else {},
    )  # fmt: skip


def test_a_gaps_symptom_keeps_the_gap_on_daily_looks_that_root_it_at_a_broader_cell(
    ledger_url: str,
) -> None:
    upgrade(ledger_url)
    ledger = Ledger(ledger_url)
    gap = _gap("deposit", T0, frozenset({"d1", "d2"}))
    site = _finding("site", segment=("site", "porto"))
    # The weekly look clusters: the payments fallback rise is the gap's, and so is the
    # rephrasing rise; the latency rise there is no question's (the site's).
    run = start_run(ledger, "bot", ["gap", "degradation"])
    record_findings(
        ledger, run, "bot", ["gap", "degradation"],
        [gap, _rise("payments", "fallback_rate_conversation", gap.fingerprint),
         _rise("payments", "latency_mean", site.fingerprint), site],
        since=None, data_through=T0, interactions=10,
    )  # fmt: skip
    # The daily looks cannot see the gap: the site explains the fallback rise too, then the
    # site's finding resolves. The fallback rise stays the gap's symptom all along.
    _look(
        ledger, "degradation", T0 + DAY, site,
        _rise("payments", "fallback_rate_conversation", site.fingerprint),
        _rise("payments", "latency_mean", site.fingerprint),
    )  # fmt: skip
    roots = {f.title: f.details.get("root") for f in list_findings(ledger, FindingFilter(limit=50))}
    assert roots["fallback_rate_conversation worse in payments"] == gap.fingerprint
    assert roots["latency_mean worse in payments"] == site.fingerprint  # no gap's symptom
    _look(
        ledger, "degradation", T0 + 2 * DAY, _rise("payments", "fallback_rate_conversation"),
        _rise("payments", "latency_mean"),
    )  # fmt: skip
    every = list_findings(ledger, FindingFilter(limit=50))
    shown = [f for f in every if f.status in ("open", "regressed")]
    top, symptoms = problems_of(shown, every)
    assert sorted(f.title for f in top) == ["gap deposit", "latency_mean worse in payments"]
    assert symptoms == {gap.fingerprint: 1}
    # A look that clusters decides afresh: here the gap no longer explains the rise.
    run = start_run(ledger, "bot", ["gap", "degradation"])
    record_findings(
        ledger, run, "bot", ["gap", "degradation"],
        [gap, _rise("payments", "fallback_rate_conversation", site.fingerprint), site],
        since=None, data_through=T0 + 3 * DAY, interactions=10,
    )  # fmt: skip
    (rise,) = [
        f for f in list_findings(ledger, FindingFilter(limit=50))
        if f.title == "fallback_rate_conversation worse in payments"
    ]  # fmt: skip
    assert rise.details.get("root") == site.fingerprint
    ledger.dispose()


def test_a_gaps_symptom_raised_and_gone_between_two_clusterings_is_the_gaps(
    ledger_url: str,
) -> None:
    upgrade(ledger_url)
    ledger = Ledger(ledger_url)
    gap = _gap("deposit", T0, frozenset({"d1", "d2"}))
    _look(ledger, "gap", T0, gap)
    # A daily look, which cannot see the gap, raises a rephrasing rise in a journey where the
    # gap's questions arrive (its evidence holds one of them) and a latency rise there; a
    # later daily look sees neither, and both resolve before the next clustering.
    rephrase = _rise("payments", "rephrase_rate")
    latency = _rise("payments", "latency_mean")
    _look(ledger, "degradation", T0 + DAY, rephrase, latency)
    _look(ledger, "degradation", T0 + 2 * DAY)
    roots = {f.title: f.details.get("root") for f in list_findings(ledger, FindingFilter())}
    assert roots[rephrase.title] is None
    _look(ledger, "gap", T0 + 7 * DAY, gap)
    every = list_findings(ledger, FindingFilter())
    roots = {f.title: f.details.get("root") for f in every}
    assert roots[rephrase.title] == gap.fingerprint
    assert roots[latency.title] is None  # not a metric a question moves
    top, _ = problems_of([f for f in every if f.status in ("open", "regressed")], every)
    assert [f.title for f in top] == [gap.title]
    assert sorted(f.title for f in problems_of(every, every)[0]) == [gap.title, latency.title]
    ledger.dispose()


def test_a_rise_a_clustering_saw_live_is_not_rooted_again_once_gone(ledger_url: str) -> None:
    # Judged live by a look that clustered (no gap's symptom there: its evidence holds none
    # of the gap's questions), then gone: the next clustering leaves it as it was.
    upgrade(ledger_url)
    ledger = Ledger(ledger_url)
    gap = _gap("deposit", T0, frozenset({"d1", "d2"}))
    rise = _rise("payments", "rephrase_rate")
    run = start_run(ledger, "bot", ["gap", "degradation"])
    record_findings(
        ledger, run, "bot", ["gap", "degradation"], [_gap("deposit", T0, frozenset({"z"})), rise],
        since=None, data_through=T0 + DAY, interactions=10,
    )  # fmt: skip
    _look(ledger, "degradation", T0 + 2 * DAY)
    _look(ledger, "gap", T0 + 8 * DAY, gap)
    roots = {f.title: f.details.get("root") for f in list_findings(ledger, FindingFilter())}
    assert roots[rise.title] is None
    ledger.dispose()
