"""Redaction of a whole ingest batch, each deployment under its own policy.

A :class:`RedactionPlan` holds one compiled :class:`Redactor` per deployment that has its own
policy and a default for every other deployment (the default redacts every built-in kind, so
a deployment nobody configured is still protected). :meth:`RedactionPlan.redact_batch` runs on
the Arrow columns of a batch before anything is stored: the turn ``text`` and ``error``, and
the ``attributes`` (unknown keys, kept as JSON) of interactions, turns and assist events.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from daytwo.governance.redact import RedactionPolicy, Redactor
from daytwo.interactions.columns import Batch

# Free-text columns of each table of a batch: what a person may have typed PII into.
REDACTED_COLUMNS: dict[str, tuple[str, ...]] = {
    "interactions": ("attributes",),
    "turns": ("text", "error", "attributes"),
    "assist_events": ("attributes",),
}


@dataclass(frozen=True, slots=True)
class RedactionPlan:
    """Which redactor each deployment's records go through."""

    default: Redactor = field(default_factory=Redactor)
    by_deployment: Mapping[str, Redactor] = field(default_factory=dict)
    # The key of pseudonymous customer references (deployments whose policy asks for them).
    pseudonym_key: bytes | None = None

    @classmethod
    def from_policies(
        cls,
        policies: Mapping[str, RedactionPolicy],
        default: RedactionPolicy | None = None,
        *,
        pseudonym_key: bytes | None = None,
    ) -> RedactionPlan:
        return cls(
            default=Redactor(default),
            by_deployment={name: Redactor(policy) for name, policy in policies.items()},
            pseudonym_key=pseudonym_key,
        )

    @property
    def pseudonymized(self) -> frozenset[str]:
        """Deployments whose customer references are stored as keyed hashes."""
        return frozenset(
            name for name, r in self.by_deployment.items() if r.policy.pseudonymize_customers
        )

    def pseudonym(self, customer_ref: str) -> str:
        """The stored reference of a customer: ``p_`` and 24 hex digits of HMAC-SHA256."""
        if self.pseudonym_key is None:
            raise ValueError("a deployment asks for pseudonyms but the plan has no key")
        digest = hmac.new(self.pseudonym_key, customer_ref.encode(), hashlib.sha256)
        return "p_" + digest.hexdigest()[:24]

    def redactor_for(self, deployment: str) -> Redactor:
        return self.by_deployment.get(deployment, self.default)

    def redact_batch(self, batch: Batch) -> tuple[Batch, dict[str, int]]:
        """The batch with every free-text column redacted, and counts per kind."""
        counts: Counter[str] = Counter()
        tables: dict[str, pa.Table] = {}
        if self._finds_nothing(batch):
            tables = {name: getattr(batch, name) for name in REDACTED_COLUMNS}
        for name, columns in REDACTED_COLUMNS.items():
            if name in tables:
                continue
            table: pa.Table = getattr(batch, name)
            for column in columns:
                if table.num_rows == 0 or column not in table.column_names:
                    continue
                values = table[column]
                if values.null_count == len(values):
                    continue
                redacted, column_counts = self._redact_column(values, table["deployment"])
                if column_counts:
                    counts.update(column_counts)
                    index = table.schema.get_field_index(column)
                    table = table.set_column(index, table.schema.field(index), redacted)
            tables[name] = table
        pseudonymized = self.pseudonymized
        if pseudonymized:
            for name, table in tables.items():
                if "customer_ref" in table.column_names and table.num_rows:
                    tables[name] = self._pseudonymize(table, pseudonymized)
            return Batch(**tables), dict(sorted(counts.items()))
        if not counts:
            return batch, {}
        return Batch(**tables), dict(sorted(counts.items()))

    def _finds_nothing(self, batch: Batch) -> bool:
        """Whether one look at every free-text column of ``batch`` together proves there is
        nothing to redact (where one redactor serves every deployment of the batch)."""
        tables = [
            (t, names)
            for name, names in REDACTED_COLUMNS.items()
            if (t := getattr(batch, name)).num_rows
        ]
        redactor = self.default
        if self.by_deployment:
            redactors = {
                id(r): r
                for t, _ in tables
                for r in map(self.redactor_for, pc.unique(t["deployment"]).to_pylist())
            }
            if len(redactors) != 1:
                return False
            (redactor,) = redactors.values()
        columns = [t[column] for t, names in tables for column in names if column in t.column_names]
        return redactor.finds_nothing(columns)

    def _pseudonymize(self, table: pa.Table, deployments: frozenset[str]) -> pa.Table:
        refs = table["customer_ref"].to_pylist()
        deps = table["deployment"].to_pylist()
        hashed = [
            self.pseudonym(r) if r is not None and d in deployments else r
            for r, d in zip(refs, deps, strict=True)
        ]
        index = table.schema.get_field_index("customer_ref")
        return table.set_column(
            index, table.schema.field(index), pa.array(hashed, type=pa.string())
        )

    def _redact_column(
        self, values: pa.ChunkedArray, deployments: pa.ChunkedArray
    ) -> tuple[pa.ChunkedArray, dict[str, int]]:
        if not self.by_deployment:
            redacted, counts = self.default.redact_array(values)
            return redacted, counts
        present = pc.unique(deployments).to_pylist()
        groups: dict[int, tuple[Redactor, list[str]]] = {}
        for name in present:
            redactor = self.redactor_for(name)
            groups.setdefault(id(redactor), (redactor, []))[1].append(name)
        if len(groups) == 1:
            (redactor, _), *_ = groups.values()
            redacted, counts = redactor.redact_array(values)
            return redacted, counts
        counts_all: Counter[str] = Counter()
        result = values.combine_chunks()
        for redactor, names in groups.values():
            mask = pc.is_in(deployments, value_set=pa.array(names, type=pa.string()))
            subset = pc.filter(values, mask)
            redacted, counts = redactor.redact_array(subset)
            if counts:
                counts_all.update(counts)
                result = pc.replace_with_mask(
                    result,
                    mask.combine_chunks(),
                    pa.concat_arrays(redacted.chunks)
                    if isinstance(redacted, pa.ChunkedArray)
                    else redacted,
                )
        return pa.chunked_array([result], type=values.type), dict(counts_all)


DEFAULT_PLAN = RedactionPlan()
