"""The demo deployment: a seeded generator with a ground-truth manifest, and its loader."""
