"""The demo loaded once per module into an in-memory DuckDB, as a store would keep it.

``deliveries`` holds every delivered interaction with the index of its batch; ``interactions``,
``turns`` and ``assist`` hold what a store keeps after deduplicating by (deployment,
interaction_id), the later copy winning.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from daytwo.demo.generator import DemoConfig, DemoDataset, generate
from daytwo.errors import RecordError
from daytwo.interactions.validate import validate_batch

# Small enough for a fast suite, large enough that every injected effect is many standard
# errors from zero.
CONFIG = DemoConfig(seed=11, days=60, interactions_per_day=1000, end=date(2026, 9, 30))


@dataclass
class Loaded:
    ds: DemoDataset
    db: duckdb.DuckDBPyConnection
    n_batches: int
    errors: list[tuple[int, RecordError]]
    record_clashes: int  # batches whose ``_record`` repeats within the batch

    def rows(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        table = self.db.sql(sql, params=params or []).to_arrow_table()
        rows: list[dict[str, Any]] = table.to_pylist()
        return rows

    def one(self, sql: str, params: list[Any] | None = None) -> Any:
        return self.db.sql(sql, params=params or []).to_arrow_table().column(0)[0].as_py()

    def problem(self, kind: str) -> dict[str, Any]:
        return next(p for p in self.ds.manifest["problems"] if p["kind"] == kind)


def load(config: DemoConfig) -> Loaded:
    ds = generate(config)
    parts: dict[str, list[pa.Table]] = {"interactions": [], "turns": [], "assist_events": []}
    errors: list[tuple[int, RecordError]] = []
    clashes = 0
    n = 0
    for n, batch in enumerate(ds.batches(), start=1):
        errors.extend((n, e) for e in validate_batch(batch))
        records = batch.interactions["_record"]
        clashes += int(len(records.unique()) != len(records))
        for name in parts:
            table: pa.Table = getattr(batch, name)
            parts[name].append(table.append_column("_batch", pa.repeat(pa.scalar(n), len(table))))
    db = duckdb.connect()
    for name, tables in parts.items():
        db.register(f"_{name}", pa.concat_tables(tables))
    db.sql("CREATE TABLE deliveries AS SELECT * FROM _interactions")
    db.sql(
        "CREATE TABLE interactions AS SELECT * FROM _interactions QUALIFY row_number() OVER "
        "(PARTITION BY deployment, interaction_id ORDER BY _batch DESC) = 1"
    )
    for name, source in (("turns", "_turns"), ("assist", "_assist_events")):
        db.sql(
            f"CREATE TABLE {name} AS SELECT s.* FROM {source} s "
            "JOIN interactions i USING (deployment, interaction_id, _batch)"
        )
    return Loaded(ds, db, n, errors, clashes)


@pytest.fixture(scope="session")
def demo() -> Iterator[Loaded]:
    loaded = load(CONFIG)
    yield loaded
    loaded.db.close()


@pytest.fixture(scope="session")
def calm() -> Iterator[Loaded]:
    """The same deployment with nothing injected."""
    loaded = load(
        DemoConfig(
            seed=CONFIG.seed,
            days=CONFIG.days,
            interactions_per_day=CONFIG.interactions_per_day,
            end=CONFIG.end,
            problems=False,
        )
    )
    yield loaded
    loaded.db.close()
