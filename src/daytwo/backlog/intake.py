"""Findings become items: one item per problem, joined by fingerprint, routed to one owner.

The backlog reads findings through :class:`~daytwo.backlog.facts.FindingFacts`, a small shape
of its own (id, fingerprint, kind, scope, weekly impact, severity, confidence, trend);
:func:`~daytwo.backlog.facts.facts_from_detect` adapts a finding the detectors recorded to it.
A finding seen again updates its item and its priority; a finding of a verified item that comes
back reopens the item. Knowledge gaps join and weigh as a family (:mod:`daytwo.backlog.gap_family`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from daytwo.backlog import history
from daytwo.backlog.calc import CLOSED_STATUSES, TREND_LABELS, compute_priority, problem_of
from daytwo.backlog.facts import FindingFacts, facts_from_detect, facts_from_snapshot
from daytwo.backlog.gap_family import GAP_KIND, gap_family, growing_alongside
from daytwo.backlog.models import BacklogEvent, ChangeItem, Item, ItemFinding
from daytwo.backlog.owners import route_in
from daytwo.backlog.policy import BacklogPolicy
from daytwo.backlog.schemas import ItemPublic
from daytwo.backlog.service import (
    COST_MODELS,
    apply_priority,
    cost_model_of,
    get_row,
    now_utc,
    to_public,
    transition,
)
from daytwo.clock import aware, aware_from_iso
from daytwo.detect.roots import TARGET_KINDS
from daytwo.detect.schemas import FindingFilter, FindingPublic
from daytwo.detect.service import findings_by_fingerprint, list_findings
from daytwo.errors import InputError
from daytwo.store.ledger import Ledger


def _strongest(
    session: Session,
    item: Item,
    policy: BacklogPolicy,
    links: Sequence[ItemFinding] | None = None,
) -> FindingFacts:
    """The linked finding with the highest score drives the item's priority.

    Knowledge gaps are the exception: each customer question is in one gap only, so the gaps an
    item holds together (the questions one launch brought) add up, and compete as one.

    A target breach (or plateau) held with the findings of the problem that drove it (it
    joined their item as their symptom) does not weigh: its numbers are the whole
    deployment's, and what the item's problem costs is already counted by the regression
    that drives it (counted once, not twice). It keeps not weighing when a later look no
    longer finds that regression enough to explain it alone: it is still that item's.

    ``links``: the item's links in id order, when the caller has read them already.
    """
    if links is None:
        links = _links_of(session, item.id)
    cost_model = cost_model_of(session, item.deployment)
    facts = [facts_from_snapshot(link.fingerprint, dict(link.snapshot)) for link in links]
    causes = [f for f in facts if f.kind not in TARGET_KINDS]
    facts = causes or facts
    family = gap_family(facts)
    if family is not None:
        facts.append(family)
    return max(facts, key=lambda f: compute_priority(f.signal(), cost_model, policy.priority).score)


def absorb_finding(
    ledger: Ledger,
    finding: FindingFacts,
    policy: BacklogPolicy,
    *,
    actor: str = history.SYSTEM,
) -> tuple[ItemPublic, bool]:
    """The item of ``finding``'s problem, created on first sight; ``True`` when it is new."""
    with ledger.session() as session:
        return absorb_in(session, finding, policy, actor=actor)


def absorb_in(
    session: Session, finding: FindingFacts, policy: BacklogPolicy, *, actor: str
) -> tuple[ItemPublic, bool]:
    """:func:`absorb_finding` in ``session``'s transaction (many findings, one commit)."""
    item, new, at = _absorb(session, finding, policy, actor=actor)
    return to_public(session, item, at), new


def _absorb(
    session: Session, finding: FindingFacts, policy: BacklogPolicy, *, actor: str
) -> tuple[Item, bool, datetime | None]:
    """:func:`absorb_in` less the public form of the item (a whole run's intake reads none):
    the item, whether it is new, and the time it was created at when it is."""
    if not finding.fingerprint:
        raise InputError("A finding needs a fingerprint to join the backlog.")
    if finding.trend not in TREND_LABELS:
        raise InputError(f"trend must be one of {', '.join(TREND_LABELS)}.")
    link = _link_by_fingerprint(session, finding.fingerprint)
    if link is not None:
        item = get_row(session, link.item_id)
        was = str(link.snapshot.get("status", "open"))
        link.snapshot = finding.snapshot()
        link.finding_id = finding.id
        link.updated_at = now_utc()
        if was != finding.status:
            history.record(
                session, "item", item.id, actor, "finding status", before=was,
                after=finding.status, note=f"finding {finding.id}",
            )  # fmt: skip
        root = _root_item(session, finding)
        if root is not None and root.id != item.id and _mergeable(session, item, root, finding):
            _merge(session, item, root, finding, policy, actor=actor)
            return root, False, None
        if root is not None and root.id != item.id and _movable(item, root, finding):
            _move(session, link, item, root, finding, policy, actor=actor)
            return root, False, None
        _seen_again(session, item, finding, policy, actor=actor)
        return item, False, None
    explained = _root_item(session, finding)
    if explained is not None:
        _join(session, explained, finding, policy, actor=actor,
              note=f"explained by finding {finding.root}")  # fmt: skip
        return explained, False, None
    segments = {finding.segment[0]: finding.segment[1]} if finding.segment else {}
    same = _same_problem(session, finding, segments)
    if same is not None:
        note = (
            "a knowledge gap growing alongside the item's others"
            if finding.kind == GAP_KIND
            else "same scope"
        )
        _join(session, same, finding, policy, actor=actor, note=note)
        return same, False, None
    owner, routed = route_in(session, finding.deployment, finding.journey, finding.kind, segments)
    now = now_utc()
    item = Item(
        deployment=finding.deployment,
        title=finding.title,
        description=f"Opened from a {finding.kind} finding."
        + (
            " The finding had already resolved when it reached the backlog: the problem "
            "happened and stopped; its evidence is kept for its owner to find the cause."
            if finding.status == "resolved"
            else ""
        ),
        source="finding",
        status="new",
        owner_id=owner.id if owner else None,
        journey=finding.journey,
        finding_kind=finding.kind,
        segments=segments,
        lead=finding.fingerprint,
        created_by=actor,
        created_at=now,
    )
    apply_priority(session, item, finding.signal(), policy, actor=actor, why="created")
    session.add(item)
    session.flush()
    _link(session, item, finding, now)
    history.record(
        session, "item", item.id, actor, "created", after=item.priority,
        note=f"from finding {finding.id}",
    )  # fmt: skip
    history.record(session, "item", item.id, actor, "owner", after=routed.owner, note=routed.reason)
    session.flush()
    return item, True, now


def _link(session: Session, item: Item, finding: FindingFacts, now: datetime) -> None:
    """``finding`` joins ``item``: its link, with the snapshot the item's score reads."""
    link = ItemFinding(
        item_id=item.id,
        finding_id=finding.id,
        fingerprint=finding.fingerprint,
        kind=finding.kind,
        snapshot=finding.snapshot(),
        linked_at=now,
        updated_at=now,
    )
    session.add(link)
    known: dict[str, ItemFinding | None] | None = session.info.get(_LINKS)
    if known is not None:
        known[finding.fingerprint] = link


# Set in ``session.info`` while a whole run's findings are taken in: the links of the
# fingerprints looked up so far (None: none yet), each read once (a fingerprint has one link at
# most, and only the intake adds links in its transaction), with their items kept loaded.
_LINKS = "daytwo_links_by_fingerprint"
_LOADED = "daytwo_loaded_items"
# How many values one ``IN`` of the intake's reads holds at most.
_CHUNK = 500


def _link_by_fingerprint(session: Session, fingerprint: str) -> ItemFinding | None:
    """The link of ``fingerprint``, from those a whole run's intake read already when it can."""
    known: dict[str, ItemFinding | None] | None = session.info.get(_LINKS)
    if known is not None and fingerprint in known:
        return known[fingerprint]
    link = session.scalar(select(ItemFinding).where(ItemFinding.fingerprint == fingerprint))
    if known is not None:
        known[fingerprint] = link
    return link


def _links_of(session: Session, item_id: int) -> list[ItemFinding]:
    """``item_id``'s links, in id order."""
    return list(
        session.scalars(
            select(ItemFinding).where(ItemFinding.item_id == item_id).order_by(ItemFinding.id)
        )
    )


def _read_links(session: Session, fingerprints: Iterable[str]) -> None:
    """Read the links of ``fingerprints``, the items they join and those items' leads' links
    at once (a few queries for a whole run, instead of several per finding): kept for
    :func:`_link_by_fingerprint`, the items in the session for :func:`get_row`."""
    known: dict[str, ItemFinding | None] = session.info[_LINKS]
    loaded: list[Item] = session.info[_LOADED]
    wanted = sorted(set(fingerprints) - set(known))
    for _ in range(2):  # the findings' links, then their items' leads'
        for i in range(0, len(wanted), _CHUNK):
            part = wanted[i : i + _CHUNK]
            known.update(dict.fromkeys(part))
            for link in session.scalars(
                select(ItemFinding).where(ItemFinding.fingerprint.in_(part))
            ):
                known[link.fingerprint] = link
        have = {item.id for item in loaded}
        ids = sorted({link.item_id for link in known.values() if link is not None} - have)
        for i in range(0, len(ids), _CHUNK):
            loaded.extend(session.scalars(select(Item).where(Item.id.in_(ids[i : i + _CHUNK]))))
        wanted = sorted({item.lead for item in loaded if item.lead is not None} - set(known))


def _mergeable(session: Session, item: Item, into: Item, finding: FindingFacts) -> bool:
    """Whether ``item`` may merge into ``into`` (open) now that ``finding`` names a root in
    ``into``: ``finding`` is what ``item`` was opened from (a symptom that joined it does not
    take the whole item elsewhere), and nobody acted on it yet (``new``), or its owner, who
    owns ``into`` too, only triaged it and no change is linked to it.

    Some causes are seen less often than their symptoms (knowledge gaps are clustered once a
    week): a journey's fallback rise opens its item days before the gap that explains it is
    found, and its owner triages it meanwhile. Once the gap is found the two are one problem
    for the same owner; an item someone works on, or another owner triaged, keeps its findings.
    """
    if into.status in CLOSED_STATUSES:
        return False
    if item.lead is None:  # opened before items recorded their lead: as before, new ones only
        return item.status == "new"
    if item.lead != finding.fingerprint:
        return False
    if item.status == "new":
        return True
    return (
        item.status == "triaged"
        and item.owner_id is not None
        and item.owner_id == into.owner_id
        and session.scalar(select(ChangeItem.change_id).where(ChangeItem.item_id == item.id))
        is None
    )


def _movable(item: Item, into: Item, finding: FindingFacts) -> bool:
    """Whether ``finding``, a symptom that joined ``item`` and is now explained by ``into``'s
    problem, moves there on its own: it is not what ``item`` was opened from (that one takes
    the whole item along, or keeps it: :func:`_mergeable`), and ``into`` is open."""
    return (
        item.lead is not None
        and item.lead != finding.fingerprint
        and into.status not in CLOSED_STATUSES
    )


def _move(
    session: Session,
    link: ItemFinding,
    item: Item,
    into: Item,
    finding: FindingFacts,
    policy: BacklogPolicy,
    *,
    actor: str,
) -> None:
    """``finding`` (``link``), a symptom of ``item``, is now explained by ``into``'s problem:
    it moves there alone, and ``item`` is weighed again without it."""
    link.item_id = into.id
    link.updated_at = now_utc()
    session.flush()
    history.record(
        session, "item", item.id, actor, "finding moved", before=link.finding_id,
        note=f"to item {into.id}: now explained by finding {finding.root}",
    )  # fmt: skip
    history.record(
        session, "item", into.id, actor, "finding linked", after=link.finding_id,
        note=f"moved from item {item.id}: explained by finding {finding.root}",
    )  # fmt: skip
    deferred: dict[int, str] | None = session.info.get(_DEFERRED)
    if deferred is not None:
        deferred[item.id] = f"finding {finding.id} moved to item {into.id}"
    else:
        _reprioritise(
            session, item, policy, actor=actor, why=f"finding {finding.id} moved to item {into.id}"
        )
    _seen_again(session, into, finding, policy, actor=actor)


def _merge(
    session: Session,
    item: Item,
    into: Item,
    finding: FindingFacts,
    policy: BacklogPolicy,
    *,
    actor: str,
) -> None:
    """``item`` turned out to be part of ``into``'s problem (a later run found the finding that
    explains ``finding``): its findings move to ``into`` and it closes as merged (see
    :func:`_mergeable` for which items may).
    """
    links = session.scalars(select(ItemFinding).where(ItemFinding.item_id == item.id)).all()
    now = now_utc()
    for link in links:
        link.item_id = into.id
        link.updated_at = now
        history.record(
            session, "item", into.id, actor, "finding linked", after=link.finding_id,
            note=f"merged from item {item.id}: explained by finding {finding.root}",
        )  # fmt: skip
    session.flush()
    # Merged, it has no findings left to weigh: a priority deferred for it earlier in this run
    # (another of its findings changed) is no longer to be worked out.
    deferred: dict[int, str] | None = session.info.get(_DEFERRED)
    if deferred is not None:
        deferred.pop(item.id, None)
    transition(
        session, item, "wont_fix", policy, actor=actor,
        reason=f"merged into item {into.id}: finding {finding.id} is explained by finding "
        f"{finding.root}, the same problem",
    )  # fmt: skip
    item.merged_into = into.id
    _seen_again(session, into, finding, policy, actor=actor)


def _root_item(session: Session, finding: FindingFacts) -> Item | None:
    """The item whose problem the finding that explains ``finding`` (its root) is: the item
    holding the root, when the root is what that item was opened from, the root of that
    finding now (a knowledge-gap family's largest gap stands for the gap that opened it), or
    about the item's own place (another metric of the same journey and segment).

    A root that joined an item as a symptom of another finding, days ago, is not that item's
    problem: following it would join today's problem to another one through an old link."""
    if not finding.root or finding.root == finding.fingerprint:
        return None
    link = _link_by_fingerprint(session, finding.root)
    if link is None:
        return None
    item = get_row(session, link.item_id)
    if item.deployment != finding.deployment:
        return None
    if item.lead is None or item.lead == finding.root:
        return item
    lead = _link_by_fingerprint(session, item.lead)
    if lead is not None and lead.item_id == item.id and lead.snapshot.get("root") == finding.root:
        return item
    # A root about the item's own place joined it as another view of the same problem.
    seg = link.snapshot.get("segment")
    if link.snapshot.get("journey") == item.journey and (
        {str(seg[0]): str(seg[1])} if seg else {}
    ) == dict(item.segments):
        return item
    return None


def _same_problem(session: Session, finding: FindingFacts, segments: dict[str, str]) -> Item | None:
    """An open item about the same place: a finding of another detector (or metric) at the
    same journey and segment is another view of the same problem, and joins its item.

    Deployment-wide findings join only an item about the same problem
    (:func:`~daytwo.backlog.calc.problem_of`: the same metric, latency by any statistic, a
    feed's gap of data with its volume).
    """
    if finding.kind == GAP_KIND:
        return growing_alongside(session, finding)
    problem = problem_of(finding.kind, finding.metric)
    if finding.journey is None and finding.segment is None and problem is None:
        return None
    query = select(Item).where(
        Item.deployment == finding.deployment,
        Item.source == "finding",
        Item.status.not_in(CLOSED_STATUSES),
    )
    query = (
        query.where(Item.journey == finding.journey)
        if finding.journey is not None
        else query.where(Item.journey.is_(None))
    )
    for item in session.scalars(query.order_by(Item.id)):
        if dict(item.segments) != segments:
            continue
        if finding.journey is None and finding.segment is None:
            problems = {
                problem_of(link.kind, link.snapshot.get("metric"))
                for link in session.scalars(
                    select(ItemFinding).where(ItemFinding.item_id == item.id)
                )
            }
            if problem not in problems:
                continue
        return item
    return None


def _join(
    session: Session,
    item: Item,
    finding: FindingFacts,
    policy: BacklogPolicy,
    *,
    actor: str,
    note: str,
) -> None:
    now = now_utc()
    _link(session, item, finding, now)
    session.flush()
    history.record(session, "item", item.id, actor, "finding linked", after=finding.id, note=note)
    _seen_again(session, item, finding, policy, actor=actor)


# Set in ``session.info`` while a whole run's findings are taken in: the items whose priority
# is to be worked out once, at the end, instead of after each of their findings.
_DEFERRED = "daytwo_deferred_priority"


def _reprioritise(
    session: Session,
    item: Item,
    policy: BacklogPolicy,
    *,
    actor: str,
    why: str,
    links: Sequence[ItemFinding] | None = None,
    named: Sequence[tuple[str, str, str | None]] | None = None,
) -> None:
    """Score ``item`` from its strongest finding and name it by its head finding; ``links``
    and ``named`` (see :func:`_follow_head`), when the caller has read them already."""
    if links is None:
        links = _links_of(session, item.id)
    strongest = _strongest(session, item, policy, links)
    apply_priority(session, item, strongest.signal(), policy, actor=actor, why=why)
    _follow_head(session, item, links, named)


# The finding statuses the findings page shows when none are chosen.
SHOWN_STATUSES = ("open", "regressed")
# Item history: the finding that leads the item's problem changed (finding ids before → after).
LEAD_CHANGED = "lead finding"
# A lead no longer open or regressed, seen at most this long before a finding that stands in
# for it, has paused rather than stopped: it keeps leading its item (see :func:`head_of`).
LEAD_PAUSE = timedelta(days=3)


def head_of(links: Sequence[ItemFinding], current: str | None = None) -> ItemFinding | None:
    """The finding an item's problem is shown by, as the findings page shows it
    (:func:`~daytwo.detect.service.problems_of`): of the item's open and regressed findings
    (all of them when none is), one that no other of them explains (its chain of roots
    reaches none of them), one whose chain ends within the item before one whose chain goes
    on outside it (on the page that one stands under a finding of another item). The finding
    of id ``current`` (the one leading so far) keeps leading while it is one of them;
    otherwise the first in the page's order: the most severe, then the most recently seen,
    then the oldest. A gap family's
    largest gap leads the item opened from a smaller one.

    A lead that stopped for a while keeps leading too (findings of one problem that resolve
    and regress day by day would otherwise rename the item with every look): ``current``, no
    longer open or regressed, still leads while it stands among the item's findings (no open
    or regressed finding of the item explains it, and its chain of roots stays within the
    item) and none of those standing clearly outranks it: none is more severe, and none was
    seen more than :data:`LEAD_PAUSE` after it was last seen (a lead unseen for longer has
    stopped, not paused). While it pauses so, the findings page, which lists only open and
    regressed findings, shows the problem by the finding standing in for it, a finding of
    this same item."""
    shown = [
        link for link in links if str(link.snapshot.get("status", "open")) in SHOWN_STATUSES
    ] or list(links)
    if not shown:
        return None
    parent = {
        link.fingerprint: str(link.snapshot["root"])
        for link in links
        if isinstance(link.snapshot.get("root"), str) and link.snapshot["root"] != link.fingerprint
    }
    wanted = {link.fingerprint for link in shown}

    def standing(link: ItemFinding) -> bool:
        seen = {link.fingerprint}
        at = parent.get(link.fingerprint)
        while at is not None and at not in seen:
            if at in wanted:
                return False
            seen.add(at)
            at = parent.get(at)
        return True

    tops = [link for link in shown if standing(link)] or shown
    held = {link.fingerprint for link in links}

    def leaves(link: ItemFinding) -> bool:
        """Whether its chain of roots goes on outside the item (to a finding it stands under)."""
        seen, at = {link.fingerprint}, parent.get(link.fingerprint)
        while at is not None and at not in seen:
            if at not in held:
                return True
            seen.add(at)
            at = parent.get(at)
        return False

    tops = [link for link in tops if not leaves(link)] or tops
    kept = next((link for link in tops if current is not None and link.finding_id == current), None)
    if kept is not None:
        return kept
    paused = next((link for link in links if link.finding_id == current), None)
    if (
        paused is not None
        and paused not in shown
        and standing(paused)
        and not leaves(paused)
        and not any(_outranks(link, paused) for link in tops)
    ):
        return paused
    order = sorted(tops, key=lambda link: _finding_number(link.finding_id))
    order.sort(key=lambda link: str(link.snapshot.get("last_seen") or ""), reverse=True)
    order.sort(key=lambda link: int(link.snapshot.get("severity", 0)), reverse=True)
    return order[0]


def _outranks(shown: ItemFinding, lead: ItemFinding) -> bool:
    """Whether ``shown`` (an open or regressed finding) clearly outranks ``lead``, a lead that
    is neither (see :func:`head_of`): it is more severe, or seen more than :data:`LEAD_PAUSE`
    after ``lead`` was last seen."""
    if int(shown.snapshot.get("severity", 0)) > int(lead.snapshot.get("severity", 0)):
        return True
    seen, last = shown.snapshot.get("last_seen"), lead.snapshot.get("last_seen")
    if not isinstance(seen, str) or not isinstance(last, str):
        return True  # nothing says the lead only paused
    return aware_from_iso(seen) - aware_from_iso(last) > LEAD_PAUSE


def _finding_number(finding_id: str) -> tuple[int, str]:
    return (int(finding_id), "") if finding_id.isdigit() else (0, finding_id)


def _follow_head(
    session: Session,
    item: Item,
    links: Sequence[ItemFinding] | None = None,
    named: Sequence[tuple[str, str, str | None]] | None = None,
) -> None:
    """An item opened from findings is named as the findings page names its problem: its
    title is its head finding's (:func:`head_of`), kept current as that finding is seen
    again, until a person edits the title. When another finding comes to lead the problem
    (the largest gap of a launch found after the smaller gap that opened the item), the
    item's history says so.

    ``links``: the item's links in id order; ``named``: its title and lead events (action,
    actor, after) in id order; each read here when not given."""
    if item.source != "finding":
        return
    if links is None:
        links = _links_of(session, item.id)
    if not links:
        return
    events = named if named is not None else _naming_events(session, [item.id]).get(item.id, [])
    if any(action == "title" and who != history.SYSTEM for action, who, _ in events):
        return  # named by a person: theirs to keep
    led = [after for action, _, after in events if action == LEAD_CHANGED]
    if led:
        was: str | None = led[-1]
    else:
        first = next((link for link in links if link.fingerprint == item.lead), None)
        was = first.finding_id if first is not None else None
    head = head_of(links, was)
    if head is None:
        return
    if was is not None and was != head.finding_id:
        history.record(
            session, "item", item.id, history.SYSTEM, LEAD_CHANGED, before=was,
            after=head.finding_id, note=str(head.snapshot.get("title", "")),
        )  # fmt: skip
    elif was is None and item.lead is not None and item.lead != head.fingerprint:
        history.record(
            session, "item", item.id, history.SYSTEM, LEAD_CHANGED, after=head.finding_id,
            note=str(head.snapshot.get("title", "")),
        )  # fmt: skip
    title = str(head.snapshot.get("title") or item.title)[:300]
    if title != item.title:
        item.title = title


def _naming_events(
    session: Session, item_ids: Sequence[int]
) -> dict[int, list[tuple[str, str, str | None]]]:
    """The title and lead events (action, actor, after) of each of ``item_ids``, in id order."""
    out: dict[int, list[tuple[str, str, str | None]]] = {}
    for i in range(0, len(item_ids), _CHUNK):
        rows = session.execute(
            select(
                BacklogEvent.subject_id, BacklogEvent.action, BacklogEvent.actor, BacklogEvent.after
            )
            .where(
                BacklogEvent.subject == "item",
                BacklogEvent.subject_id.in_(item_ids[i : i + _CHUNK]),
                BacklogEvent.action.in_(("title", LEAD_CHANGED)),
            )
            .order_by(BacklogEvent.id)
        ).all()
        for subject_id, action, who, after in rows:
            out.setdefault(subject_id, []).append((action, who, after))
    return out


def _seen_again(
    session: Session, item: Item, finding: FindingFacts, policy: BacklogPolicy, *, actor: str
) -> None:
    deferred: dict[int, str] | None = session.info.get(_DEFERRED)
    if deferred is not None:
        deferred[item.id] = f"finding {finding.id} changed"
    else:
        _reprioritise(session, item, policy, actor=actor, why=f"finding {finding.id} changed")
    closed_at = aware(item.closed_at) if item.closed_at else None
    back = finding.status == "regressed" or (
        finding.status == "open"
        and finding.last_seen is not None
        and closed_at is not None
        and aware(finding.last_seen) > closed_at
    )
    if item.status == "verified" and back:
        transition(
            session, item, "reopened", policy, actor=actor,
            reason=f"finding {finding.id} is seen again after verification",
        )  # fmt: skip


def link_finding(
    ledger: Ledger,
    item_id: int,
    finding: FindingFacts,
    policy: BacklogPolicy,
    *,
    actor: str,
) -> ItemPublic:
    """Join a finding to an existing item by hand (the same problem, seen differently)."""
    with ledger.session() as session:
        item = get_row(session, item_id)
        if finding.deployment != item.deployment:
            raise InputError("A finding can only join an item of its own deployment.")
        existing = session.scalar(
            select(ItemFinding).where(ItemFinding.fingerprint == finding.fingerprint)
        )
        if existing is not None:
            raise InputError(
                f"Finding {finding.fingerprint} already belongs to item {existing.item_id}."
            )
        _join(session, item, finding, policy, actor=actor, note="joined by hand")
        return to_public(session, item)


@dataclass(frozen=True, slots=True)
class IntakeSummary:
    created: int
    updated: int


def absorb_detected(
    ledger: Ledger,
    policy: BacklogPolicy,
    *,
    deployment: str | None = None,
    actor: str = history.SYSTEM,
    only: Collection[str] | None = None,
) -> IntakeSummary:
    """Every finding of the detectors into the backlog (idempotent), whatever its state; with
    ``only``, just the findings of those fingerprints (what one run changed: the rest are as
    the backlog last saw them, so taking them in again would change nothing).

    A problem that happened and stopped before anyone looked (a feed outage, a day of duplicate
    deliveries) is still a problem someone owns: a resolved finding opens its item too, scored
    at what it affects now (nothing), with its evidence. Findings that a broader one explains
    go in after their root, so they join the root's item.
    """
    findings: list[FindingPublic] = []
    if only is not None:
        # Just what the run changed, in the same order as the whole list would give it.
        findings = findings_by_fingerprint(ledger, only, deployment=deployment)
    offset = 0
    while only is None:
        page = list_findings(
            ledger, FindingFilter(deployment=deployment, limit=1000, offset=offset)
        )
        findings.extend(page)
        if len(page) < 1000:
            break
        offset += len(page)
    created = updated = 0
    facts = [facts_from_detect(f) for f in findings]
    # Roots before what they explain; within each, resolved findings first, so an item's links
    # say what stopped before new findings look for an item to join.
    # One transaction for the whole run's findings: its items change together, or not at all.
    # The links, items and cost models it reads are read once, up front where it can.
    with ledger.session() as session:
        deferred: dict[int, str] = {}
        session.info.update({_DEFERRED: deferred, _LINKS: {}, _LOADED: [], COST_MODELS: {}})
        try:
            _read_links(session, [f.fingerprint for f in facts] + [f.root for f in facts if f.root])
            for fact in sorted(facts, key=lambda f: (f.root is not None, f.status != "resolved")):
                _, new, _ = _absorb(session, fact, policy, actor=actor)
                created += new
                updated += not new
            session.info.pop(_DEFERRED, None)
            # Each item's priority once, from all its findings as they are now (their links
            # and naming events read at once).
            ids = list(deferred)
            links: dict[int, list[ItemFinding]] = {}
            for i in range(0, len(ids), _CHUNK):
                for link in session.scalars(
                    select(ItemFinding)
                    .where(ItemFinding.item_id.in_(ids[i : i + _CHUNK]))
                    .order_by(ItemFinding.id)
                ):
                    links.setdefault(link.item_id, []).append(link)
            named = _naming_events(session, ids)
            for item_id, why in deferred.items():
                _reprioritise(
                    session, get_row(session, item_id), policy, actor=actor, why=why,
                    links=links.get(item_id, []), named=named.get(item_id, []),
                )  # fmt: skip
        finally:
            for key in (_DEFERRED, _LINKS, _LOADED, COST_MODELS):
                session.info.pop(key, None)
    return IntakeSummary(created, updated)


__all__ = [
    "FindingFacts",
    "IntakeSummary",
    "absorb_detected",
    "absorb_finding",
    "facts_from_detect",
    "link_finding",
]
