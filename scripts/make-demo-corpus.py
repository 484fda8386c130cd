"""Build the CLINC150 subset the demo ships (run once; the output is committed).

Usage: python scripts/make-demo-corpus.py PATH/TO/clinc150 src/daytwo/demo/data
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from pathlib import Path

# The bank's journeys and the CLINC150 intents customers use for them.
JOURNEYS = {
    "balance_and_transactions": ["balance", "transactions", "spending_history", "bill_balance"],
    "payments": ["pay_bill", "bill_due", "min_payment", "transfer", "routing"],
    "card_lost_or_damaged": ["report_lost_card", "damaged_card", "replacement_card_duration",
                             "new_card", "expiration_date"],
    "card_declined": ["card_declined", "account_blocked", "freeze_account"],
    "fraud": ["report_fraud"],
    "credit_limit": ["credit_limit", "credit_limit_change", "apr", "interest_rate",
                     "credit_score", "improve_credit_score"],
    "rewards": ["redeem_rewards", "rewards_balance"],
    "applications": ["application_status", "order_checks", "pin_change"],
    "travel_and_fees": ["international_fees", "travel_notification", "exchange_rate"],
}
# A topic the bot was never built for: pay and tax questions after a payroll product launch.
GAP = ["direct_deposit", "payday", "w2", "taxes", "income"]
SMALL_TALK = ["greeting", "thank_you", "goodbye"]


def main(source: Path, dest: Path) -> None:
    data = json.loads((source / "data_full.json").read_text())
    wanted = {i for v in JOURNEYS.values() for i in v} | set(GAP) | set(SMALL_TALK)
    by_intent: dict[str, list[str]] = {}
    for split in ("train", "val", "test"):
        for text, intent in data[split]:
            if intent in wanted:
                by_intent.setdefault(intent, []).append(text)
    oos = [t for s in ("oos_train", "oos_val", "oos_test") for t, _ in data[s]]
    doc = {"journeys": JOURNEYS, "gap": GAP, "small_talk": SMALL_TALK,
           "utterances": {k: by_intent[k] for k in sorted(by_intent)}, "out_of_scope": oos}
    dest.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(dest / "clinc150_subset.json.gz", "wb", mtime=0) as f:
        f.write(json.dumps(doc, sort_keys=True).encode())
    shutil.copy(source / "LICENSE.txt", dest / "CLINC150-LICENSE.txt")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
