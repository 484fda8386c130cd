"""Conversations: find them (filters, text search, drill-down from a metric) and read them."""
