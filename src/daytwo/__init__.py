"""daytwo: operations for AI assistants after go-live."""

__version__ = "0.1.0"
