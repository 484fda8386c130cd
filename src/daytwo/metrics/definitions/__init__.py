"""The catalog's definitions, one module per group in the order of ``GROUPS``;
:mod:`daytwo.metrics.catalog` assembles them into the registry."""
