"""The cells' summaries: every period of every cell in one pass equals one mask at a time."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from daytwo.detect.cells import (
    MONITORED_BY_ID,
    Cell,
    CellGroup,
    cell_groups,
    group_summaries,
    period_summaries,
    summarise,
)


def test_period_summaries_equal_summarising_each_cell_and_period_alone() -> None:
    rng = np.random.default_rng(3)
    n = 600
    table = pa.table(
        {
            "journey": pa.array(rng.choice(["billing", "card_lost", "address"], n)),
            "channel": pa.array(rng.choice(["chat", "voice"], n)),
            "segments": pa.array(
                [[("site", s)] for s in rng.choice(["leeds", "porto"], n)],
                pa.map_(pa.string(), pa.string()),
            ),
        }
    )
    # Four disjoint periods and rows in none; a journey missing from the last period.
    period = rng.integers(-1, 4, n)
    period[(period == 3) & (table["journey"].to_numpy(zero_copy_only=False) == "address")] = -1
    for metric in ("containment_rate", "latency_mean"):
        m = MONITORED_BY_ID[metric]
        values = rng.random(n).round(2) * (1000 if m.kind == "mean" else 1)
        weights = (rng.random(n) < 0.9).astype(np.float64)
        for group in cell_groups(table):
            at_once = period_summaries(m, values, weights, group, period, 4)
            assert len(at_once) == len(group.cells)
            for index, series in enumerate(at_once):
                alone = [
                    summarise(m, values, weights, group.mask(index) & (period == p))
                    for p in range(4)
                ]
                assert series == alone, (metric, group.cells[index])
                assert any(s.value is not None for s in series)


def test_one_mask_sums_as_a_one_cell_group() -> None:
    """A mask summarised alone gives, to the bit, what a one-cell group over it gives (the
    rows summed in the same order), for rates and means, empty masks included."""
    rng = np.random.default_rng(5)
    n = 2000
    for metric in ("containment_rate", "latency_mean"):
        m = MONITORED_BY_ID[metric]
        for share in (0.0, 0.01, 0.3, 1.0):
            values = rng.random(n) * (1000 if m.kind == "mean" else 1)
            weights = (rng.random(n) < 0.8) * rng.random(n) * 3
            mask = rng.random(n) < share
            one = CellGroup((Cell(None, None),), np.where(mask, 0, -1))
            assert (
                summarise(m, values, weights, mask)
                == group_summaries(m, values, weights, one, mask)[0]
            )
