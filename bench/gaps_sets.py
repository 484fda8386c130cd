"""The labelled sets the knowledge-gap benchmark runs on, and the deployed bot each one becomes.

Each set is a list of ``(text, intent)`` utterances (plus, for CLINC150, its out-of-scope
queries). A deployment is simulated the way a real one produces its log:

1. per seed, a share of the intents is hidden: the bot never learned them;
2. the bot (TF-IDF + logistic regression) is trained on the known intents' training part;
3. its fallback threshold is set on the known intents' validation part, so that about 5% of
   known traffic falls back (a bot tuned as its owner would tune it);
4. every traffic utterance (known, hidden and out-of-scope) goes through the bot: its intent,
   confidence and fallback are what the product sees. Hidden intents mostly fall back; the
   bot's low-confidence misses of known intents fall back too, and are the "retrain intent X"
   cases.

Sets (all in ``../shared/data``, each with its README):

- ``clinc150``: 150 intents in 10 domains, crowd-sourced short queries; its own train / val /
  test splits, plus 1,000 out-of-scope test queries in the traffic;
- ``hwu64``: 64 home-assistant intents (fold 1 of the authors' cross-validation set, which
  holds every utterance once); split per intent 50 / 10 / 40;
- ``dstc11``: the DSTC11 intent-induction development split (insurance customer service,
  22 intents, long conversational turns); split per intent 50 / 10 / 40.

And one that nothing was chosen on, the independent check:

- ``star``: STAR's task-oriented dialogues (Rasa), the customer's opening request labelled by
  the dialogue's task (24 tasks in 13 domains); split per task 50 / 10 / 40.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"
OOS = "oos"
HIDDEN_SHARE = 0.2
MIN_HIDDEN = 6
KNOWN_FALLBACK = 0.05
SPLIT = (0.5, 0.1)  # bot training, threshold validation; the rest is traffic


@dataclass(frozen=True, slots=True)
class LabelledSet:
    """Utterances by split: ``train`` / ``val`` / ``test`` lists of ``(text, intent)``."""

    name: str
    train: list[tuple[str, str]]
    val: list[tuple[str, str]]
    test: list[tuple[str, str]]
    oos: list[str] = field(default_factory=list)  # out-of-scope traffic (no intent)
    domains: dict[str, str] = field(default_factory=dict)  # intent -> journey

    @property
    def intents(self) -> list[str]:
        return sorted({i for _, i in self.train} | {i for _, i in self.test})


def _require(path: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: see the data README beside it")
    return path


def _split(rows: list[tuple[str, str]], seed: int) -> tuple[list[Any], list[Any], list[Any]]:
    """Split each intent's utterances 50 / 10 / 40 (fixed per set, not per bot seed)."""
    rng = np.random.default_rng(seed)
    by: dict[str, list[str]] = {}
    for text, intent in rows:
        by.setdefault(intent, []).append(text)
    train: list[tuple[str, str]] = []
    val: list[tuple[str, str]] = []
    test: list[tuple[str, str]] = []
    for intent in sorted(by):
        texts = [by[intent][int(k)] for k in rng.permutation(len(by[intent]))]
        a = round(SPLIT[0] * len(texts))
        b = a + max(1, round(SPLIT[1] * len(texts)))
        train += [(t, intent) for t in texts[:a]]
        val += [(t, intent) for t in texts[a:b]]
        test += [(t, intent) for t in texts[b:]]
    return train, val, test


def load_clinc() -> LabelledSet:
    folder = DATA / "clinc150"
    data = json.loads(_require(folder / "data_full.json").read_text())
    domains = {
        i: d
        for d, names in json.loads((folder / "domains.json").read_text()).items()
        for i in names
    }

    def rows(split: str) -> list[tuple[str, str]]:
        return [(str(t), str(i)) for t, i in data[split]]

    return LabelledSet(
        "clinc150",
        rows("train"),
        rows("val"),
        rows("test"),
        [str(t) for t, _ in data["oos_test"]],
        domains,
    )


def load_hwu() -> LabelledSet:
    folder = DATA / "hwu64"
    rows: list[tuple[str, str]] = []
    domains: dict[str, str] = {}
    for part in ("trainset", "testset"):
        for path in sorted(_require(folder / part).glob("*.csv")):
            with path.open(encoding="utf-8", newline="") as handle:
                for rec in csv.DictReader(handle, delimiter=";"):
                    text = (rec["answer_from_user"] or rec["answer_from_anno"] or "").strip()
                    text = text.strip("<>").strip()
                    if text:
                        intent = path.stem
                        rows.append((text, intent))
                        domains[intent] = str(rec["scenario"])
    train, val, test = _split(rows, 64)
    return LabelledSet("hwu64", train, val, test, [], domains)


def load_dstc11() -> LabelledSet:
    path = _require(DATA / "dstc11-development" / "test-utterances.jsonl")
    rows = [
        (str(r["utterance"]), str(r["intent"]))
        for r in (json.loads(line) for line in path.read_text().splitlines() if line.strip())
    ]
    train, val, test = _split(rows, 11)
    return LabelledSet("dstc11", train, val, test, [], {})


def load_star() -> LabelledSet:
    """STAR (Rasa): the opening request of each single-task dialogue, labelled by its task.

    The customer's first message of at least four words (a bare "hi" says nothing of the
    task); 24 tasks in 13 domains, written by crowd workers playing the customer. Nothing of
    the product was chosen on it: it is the independent check.
    """
    import gzip

    path = _require(DATA / "star" / "star_dialogues.jsonl.gz")
    rows: list[tuple[str, str]] = []
    domains: dict[str, str] = {}
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            dialogue = json.loads(line)
            if dialogue["multi_task"] or len(dialogue["tasks"]) != 1:
                continue
            task = str(dialogue["tasks"][0])
            first = next(
                (
                    str(t["text"]).strip()
                    for t in dialogue["turns"]
                    if t["speaker"] == "user" and t.get("text") and len(t["text"].split()) >= 4
                ),
                None,
            )
            if first:
                rows.append((first, task))
                domains[task] = str(dialogue["domains"][0])
    train, val, test = _split(rows, 24)
    return LabelledSet("star", train, val, test, [], domains)


LOADERS = {
    "clinc150": load_clinc,
    "hwu64": load_hwu,
    "dstc11": load_dstc11,
    "star": load_star,
}
DEVELOPMENT = ("clinc150", "hwu64", "dstc11")
INDEPENDENT = ("star",)


@dataclass(frozen=True, slots=True)
class Bot:
    """One simulated deployment's traffic and what its bot made of each utterance."""

    dataset: str
    seed: int
    hidden: frozenset[str]
    rows: list[tuple[str, str]]  # traffic: (text, true intent or "oos")
    guess: list[str]
    confidence: np.ndarray
    fallback: np.ndarray
    threshold: float
    domains: dict[str, str]

    @property
    def truth(self) -> list[str]:
        return [i for _, i in self.rows]

    @property
    def texts(self) -> list[str]:
        return [t for t, _ in self.rows]

    def rates(self) -> dict[str, float]:
        kinds = np.array(
            ["oos" if i == OOS else "hidden" if i in self.hidden else "known" for i in self.truth]
        )
        out = {"threshold": self.threshold, "fallback_utterances": float(self.fallback.sum())}
        for kind in ("known", "hidden", "oos"):
            mask = kinds == kind
            if mask.any():
                out[f"{kind}_fallback_rate"] = float(self.fallback[mask].mean())
        return out


def simulate_bot(data: LabelledSet, seed: int) -> Bot:
    """Hide intents, train the bot on the rest, answer every traffic utterance."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    intents = data.intents
    n_hidden = max(MIN_HIDDEN, round(HIDDEN_SHARE * len(intents)))
    hidden = frozenset(str(i) for i in rng.choice(intents, n_hidden, replace=False))
    train = [(t, i) for t, i in data.train if i not in hidden]
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    model = LogisticRegression(C=10, max_iter=1000)
    model.fit(vectorizer.fit_transform([t for t, _ in train]), [i for _, i in train])
    val = [t for t, i in data.val if i not in hidden]
    proba_val = model.predict_proba(vectorizer.transform(val)).max(1)
    threshold = float(np.quantile(proba_val, KNOWN_FALLBACK))
    rows = list(data.test) + [(t, OOS) for t in data.oos]
    proba = model.predict_proba(vectorizer.transform([t for t, _ in rows]))
    return Bot(
        dataset=data.name,
        seed=seed,
        hidden=hidden,
        rows=rows,
        guess=[str(g) for g in model.classes_[proba.argmax(1)]],
        confidence=proba.max(1),
        fallback=proba.max(1) < threshold,
        threshold=threshold,
        domains=data.domains,
    )
