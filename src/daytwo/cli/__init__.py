"""The `daytwo` command line: one module per command group."""
