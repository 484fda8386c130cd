"""One day of the agent-assist deployment, drawn as whole numpy arrays (see ``days.py``)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.demo import people
from daytwo.demo.days import conversation_mix, draw_customers, turn_layout
from daytwo.demo.manifest import (
    AGENT_MINUTE_COST,
    ASSIST,
    ASSIST_FEE,
    ASSIST_VOICE_SHARE,
    EXTRA_REPLIES_MEAN,
    JOURNEYS,
    LANGUAGE_WEIGHTS,
    LANGUAGES,
    N_AGENTS,
    PILOT_DAYS,
    SUGGESTION_SHARE,
    SUMMARY_SHARE,
    TENURE_HANDLE_FACTOR,
)
from daytwo.demo.setting import (
    AGENT_GREETINGS,
    FEATURES,
    STREAM_BODY,
    US,
    Agents,
    Lexicon,
    Plan,
)
from daytwo.demo.tables import (
    ACTION,
    ACTION_VOCAB,
    AGENT_IDS,
    FEATURE_VOCAB,
    OUTCOME,
    ROLE,
    interactions_table,
    keep_delivered,
    segment_map,
    turns_table,
)
from daytwo.interactions.columns import ASSIST_EVENTS, TS, Batch, with_locators


def assist_day(plan: Plan, lex: Lexicon, agents: Agents, day: int) -> tuple[Batch, float]:
    """One day of human agents' conversations with the assist tool at their side, and the
    agent seconds the tool saved in the delivered ones (each conversation where a suggestion
    was used against the time the same conversation would have taken without it)."""
    s = plan.schedule
    start = plan.starts(day, ASSIST)
    n = len(start)
    rng = np.random.default_rng([plan.seed, STREAM_BODY, day, 1])
    # Only the volunteers have the tool during the pilot; everyone after it.
    enabled = np.flatnonzero(agents.pilot) if day < PILOT_DAYS else np.arange(N_AGENTS)
    weights = agents.activity[enabled] / agents.activity[enabled].sum()
    agent = enabled[rng.choice(len(enabled), n, p=weights)]
    journey = rng.choice(len(JOURNEYS), n, p=conversation_mix(agents=True))
    intent = lex.intent_of(rng, journey)
    voice = rng.random(n) < ASSIST_VOICE_SHARE

    # Layout: the agent greets, then (customer, agent) pairs; the agent has the last word.
    n_turns = 1 + 2 * (2 + np.minimum(rng.poisson(EXTRA_REPLIES_MEAN, n), 6))
    rows, pos, first = turn_layout(n_turns)
    agent_turn = pos % 2 == 0
    role = np.where(agent_turn, ROLE["agent"], ROLE["user"])

    # Suggestions: on most agent replies a suggested reply or knowledge card, and a summary at
    # the end; each is shown, then accepted, edited, dismissed or ignored.
    replies = np.flatnonzero(agent_turn & (pos > 0))
    suggested = replies[rng.random(len(replies)) < SUGGESTION_SHARE]
    summarised = np.flatnonzero(rng.random(n) < SUMMARY_SHARE)
    anchor = np.concatenate([suggested, first[summarised] + n_turns[summarised] - 1])
    is_summary = np.concatenate(
        [np.zeros(len(suggested), dtype=bool), np.ones(len(summarised), dtype=bool)]
    )
    order = np.argsort(anchor * 2 + is_summary, kind="stable")
    anchor, is_summary = anchor[order], is_summary[order]
    e_rows = rows[anchor]
    feature = np.where(
        is_summary,
        FEATURES.index("summary"),
        (rng.random(len(anchor)) < people.CARD_SHARE).astype(np.int64),
    )
    ps = people.people_schedule(s, plan.days)
    accept = agents.propensity[agent[e_rows]] * np.array(people.FEATURE_FACTORS)[feature]
    accept = np.clip(accept * people.uptake(agents, agent[e_rows], day, ps), 0, 0.97)
    u = rng.random(len(anchor))
    action = np.select(
        [u < 0.75 * accept, u < accept, u < accept + 0.85 * (1 - accept)],
        [ACTION["accepted"], ACTION["edited"], ACTION["dismissed"]],
        -1,  # ignored: only "shown" is logged
    )
    used = (action == ACTION["accepted"]) | (action == ACTION["edited"])
    ai_used = np.bincount(e_rows, weights=used, minlength=n) > 0

    tenure = agents.tenure[agent]
    minutes = np.array([j.agent_minutes for j in JOURNEYS])[journey]
    median = minutes * 60 * np.where(voice, 1.0, 1.25) * np.array(TENURE_HANDLE_FACTOR)[tenure]
    drawn = np.exp(rng.normal(np.log(median), 0.4))
    without_ai = np.round(np.clip(drawn, 60, 3600), 1)
    handle = np.round(
        np.clip(drawn * np.where(ai_used, people.ai_handle_factor(tenure), 1.0), 60, 3600), 1
    )
    # Turns spread over the first 85% of the conversation; wrap-up (and the summary) after.
    steps = rng.gamma(2.0, 1.0, len(rows))
    steps[pos == 0] = 0
    cum = np.cumsum(steps)
    offset = cum - cum[first][rows]
    span = np.maximum(offset[first + n_turns - 1], 1e-9)
    offset_s = offset / span[rows] * 0.85 * handle[rows]
    ts = start[rows] + (offset_s * US).astype(np.int64)
    # A suggestion appears after the customer's message and is acted on before the reply.
    before = np.where(is_summary, offset_s[anchor], offset_s[anchor - 1])
    after = np.where(is_summary, handle[e_rows], offset_s[anchor])
    shown_at = start[e_rows] + ((before + 0.3 * (after - before)) * US).astype(np.int64)
    acted_at = start[e_rows] + ((before + 0.8 * (after - before)) * US).astype(np.int64)
    per_event = 1 + (action >= 0)
    ev, ev_pos, _ = turn_layout(per_event)
    ev_action = np.where(ev_pos == 1, action[ev], ACTION["shown"])
    ev_ts = np.where(ev_pos == 1, acted_at[ev], shown_at[ev])

    text = np.zeros(len(rows), dtype=np.int64)
    user_idx = np.flatnonzero(~agent_turn)
    text[user_idx] = lex.utterance(rng, intent[rows[user_idx]])
    text[replies] = rng.choice(lex.agent_lines, len(replies))
    reply = ~is_summary & (feature == FEATURES.index("suggested_reply"))
    took = anchor[(action == ACTION["accepted"]) & reply]
    text[took] = lex.answer[journey[rows[took]]]  # the agent sent the suggested reply as is
    touched = anchor[(action == ACTION["edited"]) & reply]
    text[touched] = lex.edited[journey[rows[touched]]]
    # A dismissed suggested reply, typed in substance by the agent all the same.
    habit = np.where(
        agents.retyper[agent[e_rows]] & (ps is not None), people.RETYPE_SHARE, people.RETYPE_NOISE
    )
    again = anchor[(action == ACTION["dismissed"]) & reply & (rng.random(len(anchor)) < habit)]
    text[again] = lex.retyped[journey[rows[again]]]
    text[first] = np.where(voice, lex.phrase[AGENT_GREETINGS[0]], lex.phrase[AGENT_GREETINGS[1]])

    u = rng.random(n)
    outcome = np.select(
        [u < 0.9, u < 0.97],
        [OUTCOME["resolved_by_agent"], OUTCOME["transferred"]],
        OUTCOME["abandoned"],
    )
    respond = rng.random(n) < 0.2
    mean_csat = np.array([j.csat for j in JOURNEYS])[journey] - 0.3 + 0.25 * ai_used
    csat = np.where(respond, np.clip(np.round(rng.normal(mean_csat, 0.9)), 1, 5), np.nan)
    segments = segment_map(
        n,
        {
            "site": agents.site[agent],
            "team": agents.team[agent],
            "tenure": tenure,
            "cohort": np.where(agents.pilot[agent], 0, 1),
            "language": rng.choice(len(LANGUAGES), n, p=LANGUAGE_WEIGHTS),
        },
    )
    interactions = interactions_table(
        ASSIST,
        plan,
        day,
        start,
        ended=start + (handle * US).astype(np.int64),
        voice=voice,
        journey=journey,
        customer=draw_customers(rng, plan, n),
        agent=agent,
        segments=segments,
        outcome=outcome,
        csat=csat,
        handle=handle,
        cost=np.round(handle / 60 * AGENT_MINUTE_COST + ASSIST_FEE, 4),
        ai_used=ai_used,
        n_turns=n_turns,
        attributes=pa.nulls(n, pa.string()),
    )
    ids = interactions["interaction_id"]
    t = len(rows)
    turns = turns_table(
        ASSIST,
        ids,
        rows,
        pos,
        ts,
        role,
        text,
        intent=pa.nulls(t, pa.string()),
        confidence=pa.nulls(t, pa.float64()),
        fallback=pa.nulls(t, pa.bool_()),
        latency=pa.nulls(t, pa.float64()),
        error=pa.nulls(t, pa.string()),
        model=pa.nulls(t, pa.string()),
        tokens_in=pa.nulls(t, pa.int64()),
        tokens_out=pa.nulls(t, pa.int64()),
        cost=pa.nulls(t, pa.float64()),
    )
    latency = people.suggestion_latency(rng, agents, agent[e_rows], day, ps)
    a_rows = e_rows[ev]
    seq = (np.arange(len(a_rows)) - np.searchsorted(a_rows, a_rows)).astype(np.int32)
    m = len(a_rows)
    assist = pa.Table.from_arrays(
        [
            ids.take(pa.array(a_rows)),
            pa.repeat(pa.scalar(ASSIST), m),
            pa.array(seq),
            pa.array(ev_ts, type=TS),
            AGENT_IDS.take(pa.array(agent[a_rows])),
            FEATURE_VOCAB.take(pa.array(feature[ev])),
            ACTION_VOCAB.take(pa.array(ev_action)),
            _shown_attributes(ev_pos == 0, latency[ev], journey[a_rows], reply[ev]),
            pa.array(a_rows, type=pa.int64()),
            pa.array(seq),
        ],
        schema=with_locators(ASSIST_EVENTS, pos=True),
    )
    delivered = plan.delivered(day, start)
    saved_s = float((without_ai - handle)[delivered].sum())
    return keep_delivered(Batch(interactions, turns, assist), delivered), saved_s


def _shown_attributes(
    shown: np.ndarray, latency: np.ndarray, journey: np.ndarray, reply: np.ndarray
) -> pa.Array:
    """``{"latency_ms": .., "text": ..}`` on each ``shown`` event (the text on suggested
    replies only), null on the events that act on it; joined from codes, not row by row."""
    ends = pa.array(people.text_suffixes(), type=pa.string())
    end = ends.take(pa.array(np.where(reply, journey, len(ends) - 1)))
    ms = pc.cast(pa.array(latency.astype(np.int64)), pa.string())
    joined = pc.binary_join_element_wise('{"latency_ms": ', ms, end, "")
    out: pa.Array = pc.if_else(pa.array(shown), joined, pa.scalar(None, pa.string()))
    return out
