"""One day of the virtual agent, drawn as whole numpy arrays, and what both deployments' days
share (the agent-assist day is in ``assist_day.py``).

A day is a handful of array operations whatever its size: conversations get their journey,
outcome and turn count first, then every turn its role, text, timing and telemetry by position
(``turn_layout``), and the injected problems act as shifts on those arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from daytwo.demo.manifest import (
    AGENT_MINUTE_COST,
    BASE_ERROR_RATE,
    BOT,
    BOT_CHAT_SHARE,
    BOT_FEE,
    FALLBACK_CAP,
    FALLBACK_IF_CONTAINED,
    FALLBACK_IF_NOT,
    JOURNEY_NAMES,
    JOURNEYS,
    LANGUAGE_WEIGHTS,
    LANGUAGES,
    MODEL_AFTER,
    MODEL_BEFORE,
    MODEL_PRICES,
    N_AGENTS,
    OOS_ABANDONMENT,
    OOS_CONTAINMENT,
    OOS_SHARE,
    TENURE_BANDS,
    ramp,
)
from daytwo.demo.setting import (
    AGENT_CLOSINGS,
    AGENT_OPENERS,
    CALLBACK_SHARE,
    CUSTOMER_SKEW,
    CUSTOMER_TENURE_WEIGHTS,
    ERROR,
    FALLBACK,
    HANDOFF,
    HELLO,
    MAX_SPAN_S,
    STREAM_BODY,
    US,
    WELCOME,
    Agents,
    Lexicon,
    Plan,
)
from daytwo.demo.tables import (
    ERROR_VOCAB,
    MODEL_VOCAB,
    NPS_VOCAB,
    OUTCOME,
    ROLE,
    interactions_table,
    keep_delivered,
    nullable_codes,
    scatter,
    segment_map,
    sparse_column,
    turns_table,
)
from daytwo.interactions.columns import ASSIST_EVENTS, Batch, with_locators


@dataclass(frozen=True, slots=True)
class BotDayTruth:
    """What the day's delivered conversations would have escalated at the baseline's odds
    (each journey's own, no injected problem or fix acting) and what they escalated.

    ``expected_at_baseline`` sums each conversation's odds; ``drawn_at_baseline`` counts the
    conversations that would have been handed over at those odds with the same random draw
    that decided their outcome (the potential outcome: a conversation nothing acted on is
    handed over in both or in neither, so escalations avoided count only outcomes a problem
    or a fix turned)."""

    expected_at_baseline: float
    escalated: int
    drawn_at_baseline: int


def bot_day(
    plan: Plan, lex: Lexicon, agents: Agents, day: int, callbacks: np.ndarray
) -> tuple[Batch, np.ndarray, BotDayTruth]:
    """One day of the virtual agent, the customers who will call back tomorrow, and the day's
    escalation truth."""
    s = plan.schedule
    start = plan.starts(day, BOT)
    n = len(start)
    rng = np.random.default_rng([plan.seed, STREAM_BODY, day, 0])
    journey = rng.choice(len(JOURNEYS), n, p=conversation_mix(agents=False))
    intent = lex.intent_of(rng, journey)
    voice = rng.random(n) >= BOT_CHAT_SHARE
    gap = np.zeros(n, dtype=bool)
    if s is not None:
        gap = rng.random(n) < s.gap_share * ramp(day, s.gap_onset, s.gap_ramp_days)
        k = int(gap.sum())
        intent[gap] = rng.choice(lex.gap_intents, k)
        weights = np.array(s.gap_journey_weights) / sum(s.gap_journey_weights)
        targets = np.array([JOURNEY_NAMES.index(j) for j in s.gap_journeys])
        journey[gap] = rng.choice(targets, k, p=weights)  # the bot misroutes them
    oos = ~gap & (rng.random(n) < OOS_SHARE)
    intent[oos] = lex.code["oos"]
    in_scope = ~gap & ~oos

    contain = np.array([j.containment for j in JOURNEYS])[journey]
    abandon = np.array([j.abandonment for j in JOURNEYS])[journey]
    baseline_contain, baseline_abandon = contain.copy(), abandon.copy()
    # The odds of a hand-over as in the baseline window: the journey's own, out-of-scope
    # questions as ever; a question the knowledge gap brings, which the baseline never saw, at
    # the baseline's mean odds (the report's own counterfactual: the baseline's rate held).
    handed_at_baseline = np.select(
        [oos, gap],
        [1 - OOS_CONTAINMENT - OOS_ABANDONMENT, baseline_handover_rate()],
        1 - contain - abandon,
    )
    if s is not None:
        # Shifts on in-scope conversations, sized so the journey as a whole (its out-of-scope
        # share included) moves by exactly the effect the manifest states.
        if day >= s.fix_day:
            fixed = in_scope & (journey == JOURNEY_NAMES.index(s.fix_journey))
            contain[fixed] += s.fix_effect / (1 - OOS_SHARE)
        if day >= s.flow_day:
            flowed = in_scope & (journey == JOURNEY_NAMES.index(s.flow_journey))
            contain[flowed] -= s.flow_effect / (1 - OOS_SHARE)
        contain[gap], abandon[gap] = s.gap_containment, s.gap_abandonment
    contain[oos], abandon[oos] = OOS_CONTAINMENT, OOS_ABANDONMENT
    u = rng.random(n)
    # A conversation is handed over when its draw clears its odds of containment and
    # abandonment; at the baseline's odds, the same draw against the baseline's threshold.
    handed_at_baseline_draw = u >= np.select(
        [oos, gap],
        [OOS_CONTAINMENT + OOS_ABANDONMENT, 1 - baseline_handover_rate()],
        baseline_contain + baseline_abandon,
    )
    contained = u < contain
    abandoned = ~contained & (u < contain + abandon)
    handed = ~contained & ~abandoned
    transferred = handed & (rng.random(n) < 0.15)
    outcome = np.select(
        [contained, abandoned, transferred, handed],
        [OUTCOME["contained"], OUTCOME["abandoned"], OUTCOME["transferred"], OUTCOME["escalated"]],
    )

    # Layout: [greeting pair] main pairs [thanks pair] [handoff, agent (agent, customer)*m].
    greet = rng.random(n) < 0.25
    pairs = 1 + np.minimum(rng.poisson(np.where(contained, 0.6, np.where(handed, 1.4, 1.1))), 5)
    thanks = contained & (rng.random(n) < 0.4)
    agent_pairs = np.where(handed, 1 + np.minimum(rng.poisson(1.5, n), 5), 0)
    b_main = 2 * greet
    b_thanks = b_main + 2 * pairs
    b_handoff = b_thanks + 2 * thanks
    b_agent = b_handoff + handed
    n_turns = b_agent + np.where(handed, 2 * agent_pairs + 1, 0)
    rows, pos, first = turn_layout(n_turns)
    part = np.select(
        [pos < b_main[rows], pos < b_thanks[rows], pos < b_handoff[rows], pos < b_agent[rows]],
        [0, 1, 2, 3],
        4,
    )
    agent_part = part == 4
    agent_turn = agent_part & ((pos - b_agent[rows]) % 2 == 0)
    user = (~agent_part & (part != 3) & (pos % 2 == 0)) | (agent_part & ~agent_turn)
    answer = (part <= 2) & (pos % 2 == 1)
    role = np.select(
        [user, answer, part == 3],
        [ROLE["user"], ROLE["assistant"], ROLE["system"]],
        ROLE["agent"],
    )

    # The assistant's answers.
    a = np.flatnonzero(answer)
    ar = rows[a]
    main = part[a] == 1
    base = np.array([j.fallback for j in JOURNEYS])[journey]
    base = np.where(gap, s.gap_fallback if s else 0.0, np.where(oos, 0.8, base))
    factor = np.where(contained, FALLBACK_IF_CONTAINED, FALLBACK_IF_NOT)
    p_fallback = np.minimum(base * factor, FALLBACK_CAP)[ar]
    last_main = pos[a] == b_thanks[ar] - 1
    fallback = main & (rng.random(len(a)) < p_fallback) & ~(contained[ar] & last_main)
    new_model = np.zeros(n, dtype=bool)
    if s is not None and day >= s.model_day:
        new_model = voice == (s.model_channel == "voice")
    error_rate = np.where(new_model, s.error_rate_after if s else 0.0, BASE_ERROR_RATE)[ar]
    error = rng.random(len(a)) < error_rate
    fallback &= ~error
    timeout = error & (rng.random(len(a)) < 0.6)
    median = np.where(voice, 1150.0, 650.0) * np.where(new_model, s.latency_factor if s else 1, 1)
    latency = np.exp(rng.normal(np.log(median[ar]), 0.45)) * np.where(main, 1.0, 0.6)
    latency = np.round(np.where(timeout, rng.uniform(8000, 12000, len(a)), latency))
    misread = main & ~in_scope[ar]
    alpha = np.select([~main, fallback, misread], [12.0, 2.0, 3.0], 9.0)
    beta = np.select([~main, fallback, misread], [1.2, 7.0, 4.0], 1.6)
    confidence = np.where(error, np.nan, np.round(rng.beta(alpha, beta), 3))
    said = np.select(
        [part[a] == 0, part[a] == 2, fallback, misread],
        [lex.code["greeting"], lex.code["thank_you"], lex.code["fallback"], -2],
        intent[ar],
    )
    wrong = said == -2  # what the bot thought an unknown question was: a guess in its journey
    said[wrong] = lex.intent_of(rng, journey[ar[wrong]])
    said[error] = -1
    tokens_in = 250 + 80 * pos[a] + rng.integers(0, 200, len(a))
    tokens_out = np.where(main, rng.integers(20, 160, len(a)), rng.integers(8, 30, len(a)))
    price = np.array([MODEL_PRICES[MODEL_BEFORE], MODEL_PRICES[MODEL_AFTER]])[
        new_model[ar].astype(np.int64)
    ]
    ai_cost = tokens_in * price[:, 0] + tokens_out * price[:, 1]

    # Texts: customers speak CLINC150; the assistant, the system and agents use set phrases.
    text = np.zeros(len(rows), dtype=np.int64)
    u_idx = np.flatnonzero(user)
    topic = np.select(
        [part[u_idx] == 0, part[u_idx] == 2],
        [lex.code["greeting"], lex.code["thank_you"]],
        intent[rows[u_idx]],
    )
    text[u_idx] = lex.utterance(rng, topic)
    ph = lex.phrase
    text[a] = np.select(
        [error, fallback, part[a] == 0, part[a] == 2],
        [ph[ERROR], ph[FALLBACK], ph[HELLO], ph[WELCOME]],
        lex.answer[journey[ar]],
    )
    system = np.flatnonzero(part == 3)
    text[system] = np.where(voice[rows[system]], ph[HANDOFF[1]], ph[HANDOFF[0]])
    g_idx = np.flatnonzero(agent_turn)
    opener = pos[g_idx] == b_agent[rows[g_idx]]
    closing = pos[g_idx] == n_turns[rows[g_idx]] - 1
    text[g_idx] = np.select(
        [opener, closing],
        [ph[AGENT_OPENERS[0]], ph[AGENT_CLOSINGS[0]]],
        rng.choice(lex.agent_lines, len(g_idx)),
    )

    # Timing: customers type or speak, the assistant answers, an agent picks up after a wait.
    talk = np.exp(
        rng.normal(np.log(np.array([j.agent_minutes for j in JOURNEYS])[journey] * 60), 0.5)
    )
    talk = np.clip(talk * np.where(voice, 1.0, 1.25), 60, 3000)
    gaps = np.zeros(len(rows))
    # Voice: listening to the answer, then speaking; chat: reading it, then typing.
    gaps[u_idx] = np.where(
        voice[rows[u_idx]], rng.gamma(4, 4, len(u_idx)), rng.gamma(2, 12, len(u_idx))
    )
    gaps[a] = latency / 1000
    gaps[system] = 1.0
    in_agent = np.flatnonzero(agent_part)
    wait = np.minimum(rng.exponential(70, len(in_agent)), 900)
    share = (
        talk[rows[in_agent]] / (2 * agent_pairs[rows[in_agent]]) * rng.gamma(4, 0.25, len(in_agent))
    )
    gaps[in_agent] = np.where(pos[in_agent] == b_agent[rows[in_agent]], wait, share)
    ts, handle = _timeline(rng, start, rows, first, gaps, n_turns)

    # Each conversation is routed to a team's queue; the team's agents take the handovers.
    queue = rng.choice(N_AGENTS, n, p=agents.activity / agents.activity.sum())
    agent = np.where(handed, queue, -1)
    respond = rng.random(n) < np.where(abandoned, 0.08, 0.22)
    j_csat = np.array([j.csat for j in JOURNEYS])[journey]
    mean_csat = np.select([contained, handed], [j_csat, j_csat - 0.9], 2.0) - 0.6 * ~in_scope
    csat = np.where(respond, np.clip(np.round(rng.normal(mean_csat, 0.9)), 1, 5), np.nan)
    cost = np.bincount(ar, weights=ai_cost, minlength=n) + BOT_FEE
    cost += np.where(handed, talk / 60 * AGENT_MINUTE_COST, 0)
    customer = draw_customers(rng, plan, n)
    k = min(n, len(callbacks))
    customer[rng.choice(n, k, replace=False)] = callbacks[:k]
    unresolved = customer[~contained]
    tomorrow = unresolved[rng.random(len(unresolved)) < CALLBACK_SHARE]

    segments = segment_map(
        n,
        {
            "site": agents.site[queue],
            "team": agents.team[queue],
            "language": rng.choice(len(LANGUAGES), n, p=LANGUAGE_WEIGHTS),
            "tenure": _customer_tenure(customer),  # on the bot: the customer's, with the bank
            "tier": (rng.random(n) < 0.15).astype(np.int64),
        },
    )
    answered = rng.random(n) < 0.5
    nps = np.clip(np.round(2 * csat - 0.5 + rng.normal(0, 1.3, n)), 0, 10)
    nps = np.where(respond & answered, nps, -1).astype(np.int64)
    interactions = interactions_table(
        BOT,
        plan,
        day,
        start,
        ended=start + (handle * US).astype(np.int64),
        voice=voice,
        journey=journey,
        customer=customer,
        agent=agent,
        segments=segments,
        outcome=outcome,
        csat=csat,
        handle=handle,
        cost=cost,
        ai_used=np.ones(n, dtype=bool),
        n_turns=n_turns,
        attributes=NPS_VOCAB.take(nullable_codes(nps)),
    )
    turn_rows = len(rows)
    turns = turns_table(
        BOT,
        interactions["interaction_id"],
        rows,
        pos,
        ts,
        role,
        text,
        intent=scatter(a, said, turn_rows, lex.intents),
        confidence=sparse_column(turn_rows, a, confidence, pa.float64()),
        fallback=sparse_column(turn_rows, a, fallback, pa.bool_()),
        latency=sparse_column(turn_rows, a, latency, pa.float64()),
        error=scatter(a, np.where(error, np.where(timeout, 0, 1), -1), turn_rows, ERROR_VOCAB),
        model=scatter(a, new_model[ar].astype(np.int64), turn_rows, MODEL_VOCAB),
        tokens_in=sparse_column(turn_rows, a, tokens_in, pa.int64()),
        tokens_out=sparse_column(turn_rows, a, tokens_out, pa.int64()),
        cost=sparse_column(turn_rows, a, np.round(ai_cost, 6), pa.float64()),
    )
    batch = Batch(interactions, turns, with_locators(ASSIST_EVENTS, pos=True).empty_table())
    delivered = plan.delivered(day, start)
    truth = BotDayTruth(
        float(handed_at_baseline[delivered].sum()),
        int(handed[delivered].sum()),
        int(handed_at_baseline_draw[delivered].sum()),
    )
    return keep_delivered(batch, delivered), tomorrow, truth


# -- agent assist ----------------------------------------------------------------------------


def baseline_handover_rate() -> float:
    """The virtual agent's expected hand-over rate before any problem or fix: its journey mix,
    each journey's own odds, out-of-scope questions at theirs."""
    handed = np.array([j.escalation for j in JOURNEYS])
    oos = 1 - OOS_CONTAINMENT - OOS_ABANDONMENT
    return float(conversation_mix(agents=False) @ ((1 - OOS_SHARE) * handed + OOS_SHARE * oos))


def conversation_mix(*, agents: bool) -> np.ndarray:
    """Journey probabilities: the bot's traffic, or the harder mix human agents get."""
    share = np.array([j.share for j in JOURNEYS])
    if agents:
        share = share * np.array([1 - j.containment for j in JOURNEYS])
    out: np.ndarray = share / share.sum()
    return out


def turn_layout(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For child rows counted per parent: each child's parent, its position, its parent's first."""
    parent = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    pos = np.arange(len(parent)) - starts[parent]
    return parent, pos, starts


def _timeline(
    rng: np.random.Generator,
    start: np.ndarray,
    rows: np.ndarray,
    first: np.ndarray,
    gaps: np.ndarray,
    n_turns: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Turn timestamps from the gaps before each turn, and each conversation's handle time."""
    gaps[first[n_turns > 0]] = 0
    cum = np.cumsum(gaps)
    offset = cum - cum[first][rows]
    last = np.zeros(len(start))
    has = n_turns > 0
    last[has] = offset[(first + n_turns - 1)[has]]
    handle = last + rng.uniform(2, 20, len(start))
    # The rare conversation that would run past the longest span is compressed into it.
    squeeze = np.minimum(1.0, MAX_SPAN_S * 0.95 / handle)
    ts = start[rows] + (offset * squeeze[rows] * US).astype(np.int64)
    return ts, np.round(handle * squeeze, 1)


def draw_customers(rng: np.random.Generator, plan: Plan, n: int) -> np.ndarray:
    """Customer numbers: a skewed base, so some customers contact the bank again and again."""
    out: np.ndarray = (plan.customers * rng.random(n) ** CUSTOMER_SKEW).astype(np.int64)
    return out


def _customer_tenure(numbers: np.ndarray) -> np.ndarray:
    """A customer's time with the bank (a band), fixed per customer."""
    where = (numbers * 7_919 + 13) % 1_000 / 1_000
    band = np.searchsorted(np.cumsum(CUSTOMER_TENURE_WEIGHTS), where, side="right")
    out: np.ndarray = np.minimum(band, len(TENURE_BANDS) - 1)
    return out
