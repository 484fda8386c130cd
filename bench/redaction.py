"""Quality and speed of PII redaction (``daytwo.governance``).

    python -m bench.redaction            # writes bench/results/redaction.json

**Quality** is measured on two labelled sets of support-chat messages,
``tests/governance/data/pii_cases.jsonl`` and the separately written
``pii_cases_holdout.jsonl``, at the span level:

* a predicted span *matches* a gold span when both have the same kind and they overlap by at
  least half of the longer of the two (``overlap >= 0.5 * max(len(pred), len(gold))``), which an
  exact match always does; each span matches at most one other (greedy, largest overlap first);
* per kind, precision = matched predictions / predictions of that kind, recall = matched gold
  spans / gold spans of that kind; *overall* sums the counts over the kinds (micro average);
* *any kind* repeats the overall figures with the kind ignored (was it redacted at all?).

**Throughput** is messages per second through ``Redactor.redact_array`` with the default
policy, on one Arrow array of ``--messages`` short chat messages: a mix typical of support
chat (70 % plain text, 22 % with numbers that are not PII, 8 % with PII), and, as a worst case,
the labelled messages only (every one goes through the Python patterns). Median of
``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from bench.__main__ import RESULTS, _environment
from daytwo.governance import PiiKind, Redactor

DATA = Path(__file__).resolve().parent.parent / "tests" / "governance" / "data"
SETS = {"labelled": DATA / "pii_cases.jsonl", "holdout": DATA / "pii_cases_holdout.jsonl"}
KINDS = [kind.value for kind in PiiKind]
TARGETS = {"recall": {"card": 0.99, "email": 0.99, "overall": 0.95}, "precision": {"overall": 0.95}}

# Ordinary turns without digits or '@': most of what a support assistant sees.
PLAIN_TURNS = [
    "Hi, I can't log in to the app, it keeps spinning",
    "Why is my bill higher this month?",
    "I want to speak to a human please",
    "The delivery never came and nobody answered the door",
    "Thank you, that solved it!",
    "can i change my seat for free?",
    "How do I reset my voicemail PIN?",
    "The refund still hasn't arrived",
    "Is there a fee for paying by card?",
    "My internet drops every evening, can you check the line?",
    "I'd like to cancel my subscription",
    "Do you deliver on Sundays?",
    "ok thanks",
    "yes",
    "no that's not what I asked",
    "Can I pay with Apple Pay?",
    "Where can I find my invoices?",
    "The app says my session expired",
    "I was charged twice for the same order",
    "How long does a bank transfer take?",
    "My package was left at the wrong address",
    "Can I change the delivery date?",
    "The hotel room was not clean, I want a partial refund",
    "My flight was cancelled, what are my options?",
    "Sure, go ahead",
    "That's not my card, someone else used it",
    "Please close my account",
    "I need a receipt for my employer",
    "How do I add a second user?",
    "Why can't I roam in Switzerland?",
]


def load_cases(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def match_spans(
    predicted: Sequence[tuple[int, int, str]],
    gold: Sequence[tuple[int, int, str]],
    *,
    ignore_kind: bool = False,
) -> list[tuple[int, int]]:
    """Pairs ``(predicted index, gold index)`` that match (see the module docstring)."""
    pairs = []
    for i, p in enumerate(predicted):
        for j, g in enumerate(gold):
            if not ignore_kind and p[2] != g[2]:
                continue
            shared = _overlap((p[0], p[1]), (g[0], g[1]))
            if shared > 0 and shared >= 0.5 * max(p[1] - p[0], g[1] - g[0]):
                pairs.append((shared, i, j))
    pairs.sort(reverse=True)
    used_p: set[int] = set()
    used_g: set[int] = set()
    matched = []
    for _, i, j in pairs:
        if i not in used_p and j not in used_g:
            used_p.add(i)
            used_g.add(j)
            matched.append((i, j))
    return matched


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 1.0


def score(cases: Iterable[dict[str, Any]], redactor: Redactor) -> dict[str, Any]:
    """Precision and recall per kind, overall and kind-agnostic, on labelled cases."""
    predicted_n: Counter[str] = Counter()
    gold_n: Counter[str] = Counter()
    matched_n: Counter[str] = Counter()
    any_matched = 0
    messages = 0
    for case in cases:
        messages += 1
        predicted = [(s.start, s.end, s.kind) for s in redactor.find(case["text"])]
        gold = [(s["start"], s["end"], s["kind"]) for s in case["spans"]]
        predicted_n.update(p[2] for p in predicted)
        gold_n.update(g[2] for g in gold)
        matched_n.update(predicted[i][2] for i, _ in match_spans(predicted, gold))
        any_matched += len(match_spans(predicted, gold, ignore_kind=True))
    per_kind = {
        kind: {
            "gold": gold_n[kind],
            "predicted": predicted_n[kind],
            "matched": matched_n[kind],
            "precision": _ratio(matched_n[kind], predicted_n[kind]),
            "recall": _ratio(matched_n[kind], gold_n[kind]),
        }
        for kind in sorted(set(gold_n) | set(predicted_n) | set(KINDS))
    }
    total_p, total_g = sum(predicted_n.values()), sum(gold_n.values())
    total_m = sum(matched_n.values())
    return {
        "messages": messages,
        "per_kind": per_kind,
        "overall": {
            "gold": total_g,
            "predicted": total_p,
            "matched": total_m,
            "precision": _ratio(total_m, total_p),
            "recall": _ratio(total_m, total_g),
        },
        "any_kind": {
            "precision": _ratio(any_matched, total_p),
            "recall": _ratio(any_matched, total_g),
        },
    }


def missed_targets(result: dict[str, Any]) -> list[str]:
    """The quality targets a :func:`score` result misses, as readable lines."""
    misses = []
    for measure, targets in TARGETS.items():
        for kind, target in targets.items():
            got = result["overall" if kind == "overall" else "per_kind"]
            value = got[measure] if kind == "overall" else got[kind][measure]
            if value < target:
                misses.append(f"{measure} of {kind}: {value} < {target}")
    return misses


def typical_messages(count: int, seed: int = 7) -> list[str]:
    """Support chat as it mostly is: plain turns, turns with harmless numbers, a little PII."""
    rng = random.Random(seed)
    labelled = load_cases(SETS["labelled"])
    harmless = [
        c["text"] for c in labelled if not c["spans"] and any(ch.isdigit() for ch in c["text"])
    ]
    with_pii = [c["text"] for c in labelled if c["spans"]]
    messages = []
    for _ in range(count):
        draw = rng.random()
        pool = PLAIN_TURNS if draw < 0.70 else harmless if draw < 0.92 else with_pii
        messages.append(rng.choice(pool))
    return messages


def throughput(messages: list[str], repeat: int) -> dict[str, Any]:
    redactor = Redactor()
    array = pa.array(messages, type=pa.string())
    redactor.redact_array(array[:1000])  # warm-up
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        redactor.redact_array(array)
        seconds.append(time.perf_counter() - started)
    median = statistics.median(seconds)
    return {
        "messages": len(messages),
        "median_seconds": round(median, 4),
        "messages_per_second": round(len(messages) / median),
    }


def run(messages: int, repeat: int) -> dict[str, Any]:
    """Quality on both labelled sets and throughput; ``met`` when every quality target is met
    on both sets (throughput is reported, not a target: it depends on the machine)."""
    redactor = Redactor()
    quality = {name: score(load_cases(path), redactor) for name, path in SETS.items()}
    labelled = load_cases(SETS["labelled"])
    worst = [labelled[i % len(labelled)]["text"] for i in range(min(messages, 200_000))]
    speed = {
        "typical_mix": throughput(typical_messages(messages), repeat),
        "labelled_only": throughput(worst, repeat),
    }
    missed = {name: missed_targets(q) for name, q in quality.items()}
    return {
        "targets": TARGETS,
        "quality": quality,
        "throughput": speed,
        "missed_targets": missed,
        "met": not any(missed.values()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.redaction")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    result: dict[str, Any] = {"benchmark": "redaction", "environment": _environment()}
    result.update(run(args.messages, args.repeat))
    quality, speed = result["quality"], result["throughput"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "redaction.json").write_text(json.dumps(result, indent=2) + "\n")
    for name, q in quality.items():
        print(f"{name}: {q['messages']} messages")
        for kind, k in q["per_kind"].items():
            print(
                f"  {kind:<12} P {k['precision']:.3f}  R {k['recall']:.3f}"
                f"  (gold {k['gold']}, predicted {k['predicted']})"
            )
        o = q["overall"]
        print(f"  {'overall':<12} P {o['precision']:.3f}  R {o['recall']:.3f}")
    for name, s in speed.items():
        print(f"throughput {name}: {s['messages_per_second']:,} messages/s")
    for name, misses in result["missed_targets"].items():
        for miss in misses:
            print(f"missed on {name}: {miss}")
    return 0 if result["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
