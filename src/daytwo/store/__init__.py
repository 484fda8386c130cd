"""The two stores: events (analytical, append-only) and the ledger (transactional)."""
