"""Deployments: the AI assistants daytwo operates, with their targets and cost model."""
